// Dense layer (Keras Dense): y = act(x · W + b), act = ReLU or identity; a GEMV per row of x.
//   x: [N, K]   w: [K, M/4] as vec4 (Keras kernel layout: in × out)   b: [M/4] as vec4   y: [N, M/4] as vec4
// One invocation per 4 output units and row: it walks all of K, reading one vec4 of each weight row, so
// a workgroup reads WORKGROUP_SIZE·16 contiguous bytes of every row and each weight exactly once per
// row of x. Two accumulators (even and odd k) keep two independent loads in flight. On SwiftShader this
// runs at the copy bandwidth (fc1: 1.15 GB/s against 1.17 measured for a copy), where the scalar
// 'naive' version reaches 0.18. Few workgroups at batch 1 (fc1: 16): fine for a CPU's cores, too few
// for a GPU, which is what 'splitK' is for. Needs M % 4 == 0.
// gid.x walks groups of 4 output units, gid.z the rows of x.

struct Params {
  n: u32,
  k: u32,
  m: u32,
}

override WORKGROUP_SIZE: u32 = 64u;
override RELU: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn denseBiasActVec4(@builtin(global_invocation_id) gid: vec3u) {
  let m4 = p.m / 4u;
  let col = gid.x;
  let row = gid.z;
  if (col >= m4 || row >= p.n) {
    return;
  }
  let xBase = row * p.k;
  var even = vec4f(0.0);
  var odd = vec4f(0.0);
  var k = 0u;
  for (; k + 1u < p.k; k += 2u) {
    even += x[xBase + k] * w[k * m4 + col];
    odd += x[xBase + k + 1u] * w[(k + 1u) * m4 + col];
  }
  if (k < p.k) {
    even += x[xBase + k] * w[k * m4 + col];
  }
  var v = even + odd + b[col];
  if (RELU) {
    v = max(v, vec4f(0.0));
  }
  y[row * m4 + col] = v;
}
