// AblationCAM's batch: row r is the target layer's activations A with channel k0 + r set to zero.
//   a: [P, K] (P = H·W; the kept batch-1 forward's post-ReLU output)   x: [B, P, K]
// Rows whose channel k0 + r is K or more (the padding rows of a short last chunk) are plain copies of A.
// gid.x walks the P·K elements of a row (neighbouring invocations, neighbouring channels), the
// workgroup's y is the row.

struct Params {
  rows: u32,
  positions: u32,
  channels: u32,
  k0: u32,
}

override WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn ablateChannels(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let i = gid.x;
  let r = wg.y;
  let perRow = p.positions * p.channels;
  if (i >= perRow || r >= p.rows) {
    return;
  }
  let ablated = p.k0 + r;
  x[r * perRow + i] = select(a[i], 0.0, i % p.channels == ablated);
}
