// Eigen-CAM pass 4 of 7 (only when splits > 1): G[e] = Σ over splits s of partials[s, e].
//   partials: [splits, n, n]   gram: [n, n]
// Threads: one invocation per element of G.

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
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> gram: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn eigenGramReduce(@builtin(global_invocation_id) gid: vec3<u32>) {
  let size = p.order * p.order;
  let e = gid.x;
  if (e >= size) {
    return;
  }
  var sum = 0.0;
  for (var s = 0u; s < p.splits; s++) {
    sum += partials[s * size + e];
  }
  gram[e] = sum;
}
