// CAM channel weights w[r, k] from the gradient G (one row per target) and the activations A:
//   METHOD 0 gradcam:   w = mean_i G[i, k]                                   (the Keras recipe)
//   METHOD 1 gradcam++: a_i = G² / (2G² + S_k·G³ + 1e-6) where G ≠ 0 (else 0), S_k = Σ_i A[i, k];
//                       w = Σ_i ReLU(G)·a_i                                   (pytorch-grad-cam's eq. 19 and 7)
//   METHOD 2 xgradcam:  w = Σ_i G·A / (S_k + 1e-7)
//   The ε are pytorch-grad-cam's (1e-6 for Grad-CAM++, 1e-7 for XGrad-CAM).
//   g: [R, P = H·W, C]   a: [P, C] (post-ReLU, shared by the rows)   w: [R, C]
// One invocation per (channel, row); neighbouring invocations read neighbouring channels of each position.

struct Params {
  positions: u32,
  channels: u32,
}

override WORKGROUP_SIZE: u32 = 64u;
override METHOD: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> alpha: array<f32>;

fn channelSum(k: u32) -> f32 {
  var s = 0.0;
  for (var i = 0u; i < p.positions; i++) {
    s += a[i * p.channels + k];
  }
  return s;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn gradcamChannelWeights(@builtin(global_invocation_id) gid: vec3u) {
  let k = gid.x;
  let row = gid.y;
  if (k >= p.channels) {
    return;
  }
  let gBase = row * p.positions * p.channels;
  var sum = 0.0;
  if (METHOD == 0u) {
    for (var i = 0u; i < p.positions; i++) {
      sum += g[gBase + i * p.channels + k];
    }
    sum /= f32(p.positions);
  } else if (METHOD == 1u) {
    let s = channelSum(k);
    for (var i = 0u; i < p.positions; i++) {
      let gi = g[gBase + i * p.channels + k];
      let g2 = gi * gi;
      let aij = select(0.0, g2 / (2.0 * g2 + s * g2 * gi + 1e-6), gi != 0.0);
      sum += max(gi, 0.0) * aij;
    }
  } else {
    let s = channelSum(k);
    for (var i = 0u; i < p.positions; i++) {
      let idx = i * p.channels + k;
      sum += g[gBase + idx] * a[idx];
    }
    sum /= s + 1e-7;
  }
  alpha[row * p.channels + k] = sum;
}
