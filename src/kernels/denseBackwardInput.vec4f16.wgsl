// Dense layer backward with respect to its input, through the layer's own ReLU, with W stored as
// float16 (see packHalf.wgsl):  g = dy ⊙ [y > 0] (when RELU), dx = g · Wᵀ.
//   dy: [N, M/4] as vec4   y: [N, M/4] as vec4   w: [K, M/4] as vec2<u32> (4 halves)   dx: [N, K]
// The 'vec4' version with half the weight bytes; products and sums stay float32. Needs M % 4 == 0.
// gid.x walks k, gid.z the rows of dy.

struct Params {
  n: u32,
  k: u32,
  m: u32,
}

override WORKGROUP_SIZE: u32 = 64u;
override RELU: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<vec4f>;
@group(0) @binding(2) var<storage, read> y: array<vec4f>;
@group(0) @binding(3) var<storage, read> w: array<vec2u>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

fn gradient(i: u32) -> vec4f {
  if (RELU) {
    return select(vec4f(0.0), dy[i], y[i] > vec4f(0.0));
  }
  return dy[i];
}

fn weights(i: u32) -> vec4f {
  let h = w[i];
  return vec4f(unpack2x16float(h.x), unpack2x16float(h.y));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn denseBackwardInputVec4F16(@builtin(global_invocation_id) gid: vec3u) {
  let k = gid.x;
  let row = gid.z;
  if (k >= p.k || row >= p.n) {
    return;
  }
  let m4 = p.m / 4u;
  let gBase = row * m4;
  let wBase = k * m4;
  var even = 0.0;
  var odd = 0.0;
  var j = 0u;
  for (; j + 1u < m4; j += 2u) {
    even += dot(gradient(gBase + j), weights(wBase + j));
    odd += dot(gradient(gBase + j + 1u), weights(wBase + j + 1u));
  }
  if (j < m4) {
    even += dot(gradient(gBase + j), weights(wBase + j));
  }
  dx[row * p.k + k] = even + odd;
}
