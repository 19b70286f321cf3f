// Dense layer (Keras Dense): y = act(x · W + b) with W stored as float16 read as f16 (the 'shader-f16'
// feature); 'gemv' with half the weight bytes.
//   x: [N, K]   w: [K, M/4] as vec4<f16> (packHalf's layout: 8 bytes, 4 output units)   b: [M/4] as vec4
//   y: [N, M/4] as vec4
// The tiles, slices and fixed-order tree of 'gemv' (see denseBiasAct.gemv.wgsl). The weights load as
// native halves, no unpacking, and widen to float32 exactly; products and sums stay float32, so results
// match 'vec4f16' (unpack2x16float, core WGSL) to float32 rounding. f16 products would round every term
// to 11 bits (errors near 5e-4 of the outputs' scale, against ~1e-6 for float32) to speed up arithmetic
// that a bandwidth-bound GEMV does not wait on.
// Needs M % 4 == 0; SLICES a power of two. wg.x walks groups of COLS·4 output units, wg.z the rows of x.

enable f16;

struct Params {
  n: u32,
  k: u32,
  m: u32,
}

override COLS: u32 = 2u;
override SLICES: u32 = 64u;
override RELU: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read> b: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

var<workgroup> partial: array<vec4f, COLS * SLICES>;

@compute @workgroup_size(COLS, SLICES)
fn denseBiasActGemvF16(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m4 = p.m / 4u;
  let col = wg.x * COLS + lid.x;
  let row = wg.z;
  var even = vec4f(0.0);
  var odd = vec4f(0.0);
  if (col < m4 && row < p.n) {
    let xBase = row * p.k;
    var k = lid.y;
    for (; k + 3u * SLICES < p.k; k += 4u * SLICES) {
      let w0 = vec4f(w[k * m4 + col]);
      let w1 = vec4f(w[(k + SLICES) * m4 + col]);
      let w2 = vec4f(w[(k + 2u * SLICES) * m4 + col]);
      let w3 = vec4f(w[(k + 3u * SLICES) * m4 + col]);
      even += x[xBase + k] * w0 + x[xBase + k + 2u * SLICES] * w2;
      odd += x[xBase + k + SLICES] * w1 + x[xBase + k + 3u * SLICES] * w3;
    }
    for (; k < p.k; k += SLICES) {
      even += x[xBase + k] * vec4f(w[k * m4 + col]);
    }
  }
  // Every invocation reaches the barriers (uniform control flow); out-of-range ones add zeros.
  let t = lid.y * COLS + lid.x;
  partial[t] = even + odd;
  workgroupBarrier();
  for (var s = SLICES / 2u; s > 0u; s >>= 1u) {
    if (lid.y < s) {
      partial[t] += partial[t + s * COLS];
    }
    workgroupBarrier();
  }
  if (lid.y == 0u && col < m4 && row < p.n) {
    var v = partial[lid.x] + b[col];
    if (RELU) {
      v = max(v, vec4f(0.0));
    }
    y[row * m4 + col] = v;
  }
}
