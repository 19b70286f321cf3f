// Dense layer (Keras Dense): y = act(x · W + b) with W stored as float16 (see packHalf.wgsl):
//   x: [N, K]   w: [K, M/4] as vec2<u32> (4 halves)   b: [M/4] as vec4   y: [N, M/4] as vec4
// The 'vec4' version with half the weight bytes: each vec2<u32> unpacks (core builtin, no
// 'shader-f16' feature needed) to the 4 weights of one row and 4 output units; products and sums stay
// float32. At batch 1 the dense layers are bandwidth-bound, so half the bytes is the point.
// Needs M % 4 == 0. gid.x walks groups of 4 output units, gid.z the rows of x.

struct Params {
  n: u32,
  k: u32,
  m: u32,
}

override WORKGROUP_SIZE: u32 = 64u;
override RELU: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec2u>;
@group(0) @binding(3) var<storage, read> b: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

fn weights(i: u32) -> vec4f {
  let h = w[i];
  return vec4f(unpack2x16float(h.x), unpack2x16float(h.y));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn denseBiasActVec4F16(@builtin(global_invocation_id) gid: vec3u) {
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
    even += x[xBase + k] * weights(k * m4 + col);
    odd += x[xBase + k + 1u] * weights((k + 1u) * m4 + col);
  }
  if (k < p.k) {
    even += x[xBase + k] * weights(k * m4 + col);
  }
  var v = even + odd + b[col];
  if (RELU) {
    v = max(v, vec4f(0.0));
  }
  y[row * m4 + col] = v;
}
