// Eigen-CAM pass 2 of 7: the uncentred channel mean of each position, m[i] = mean over k of M[i, k].
// It is the start vector of the power iteration when the Gram matrix is over positions, and the
// direction the sign rule correlates the projection with (eigenSign.wgsl).
//   matrix: [positions, channels] row-major   rowMeans: [positions]
// Threads: one invocation per position.

struct Params {
  positions: u32,
  channels: u32,
  order: u32,
  splits: u32,
  chunk: u32,
  positionsGram: u32, // 1: G = X·Xᵀ over positions (positions ≤ channels); 0: G = Xᵀ·X
}

override WORKGROUP_SIZE: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> matrix: array<f32>;
@group(0) @binding(2) var<storage, read_write> rowMeans: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn eigenRowMeans(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= p.positions) {
    return;
  }
  let base = i * p.channels;
  var sum = 0.0;
  for (var k = 0u; k < p.channels; k++) {
    sum += matrix[base + k];
  }
  rowMeans[i] = sum / f32(p.channels);
}
