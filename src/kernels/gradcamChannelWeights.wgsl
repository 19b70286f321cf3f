// Grad-CAM channel weights: α_k = mean over the H·W positions of the gradient G[·, k].
//   g: [P = H·W, C]   alpha: [C]
// One invocation per channel; neighbouring invocations read neighbouring channels of each position.

struct Params {
  positions: u32,
  channels: u32,
}

override WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> alpha: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn gradcamChannelWeights(@builtin(global_invocation_id) gid: vec3u) {
  let k = gid.x;
  if (k >= p.channels) {
    return;
  }
  var sum = 0.0;
  for (var i = 0u; i < p.positions; i++) {
    sum += g[i * p.channels + k];
  }
  alpha[k] = sum / f32(p.positions);
}
