// Dense layer (Keras Dense): y = act(x · W + b), act = ReLU or identity.
//   x: [N, K]   w: [K, M] (Keras kernel layout: in × out)   b: [M]   y: [N, M]
// Batch 1 is a matrix–vector product, batch > 1 a matrix–matrix product; both use this kernel.
// One invocation per output element; gid.x walks output units so that, for every k, a workgroup reads
// one contiguous run of a weight row (coalesced on GPUs, sequential on CPU rasterisers).

struct Params {
  n: u32,
  k: u32,
  m: u32,
}

override WORKGROUP_SIZE: u32 = 64u;
override RELU: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn denseBiasAct(@builtin(global_invocation_id) gid: vec3u) {
  let m = gid.x;
  let row = gid.y;
  if (m >= p.m || row >= p.n) {
    return;
  }
  let xBase = row * p.k;
  var acc = 0.0;
  for (var k = 0u; k < p.k; k++) {
    acc += x[xBase + k] * w[k * p.m + m];
  }
  var v = acc + b[m];
  if (RELU) {
    v = max(v, 0.0);
  }
  y[row * p.m + m] = v;
}
