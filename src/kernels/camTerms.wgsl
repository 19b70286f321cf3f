// The per-channel terms whose channel sum is a CAM map, written out for eigen-smoothing (the map is
// then their first principal component instead of their sum, as pytorch-grad-cam's eigen_smooth):
//   m[r, i, k] = term(A[i, k], G[r, i, k], w[r, k]), TERM as in gradcamHeatmap.wgsl, plus
//   4 activations  A   (Eigen-CAM's matrix; Eigen-Grad-CAM's is TERM 1, G·A)
//   a: [P, C]   g: [R, P, C]   w: [R, C]   m: [R, P, C]
// One invocation per element.

struct Params {
  positions: u32,
  channels: u32,
  rows: u32,
}

override WORKGROUP_SIZE: u32 = 256u;
override TERM: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> alpha: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn camTerms(@builtin(global_invocation_id) gid: vec3u) {
  let idx = gid.x;
  let row = gid.y;
  let n = p.positions * p.channels;
  if (idx >= n || row >= p.rows) {
    return;
  }
  let k = idx % p.channels;
  let ak = a[idx];
  var t = ak;
  if (TERM == 0u) {
    t = alpha[row * p.channels + k] * ak;
  } else if (TERM != 4u) {
    let gk = g[row * n + idx];
    if (TERM == 1u) {
      t = gk * ak;
    } else if (TERM == 2u) {
      t = max(gk * ak, 0.0);
    } else {
      t = max(gk, 0.0) * ak;
    }
  }
  m[row * n + idx] = t;
}
