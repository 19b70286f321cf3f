// Dense layer (Keras Dense): y = act(x · W + b), act = ReLU or identity; a GEMV per row of x, shaped
// for GPUs at batch 1.
//   x: [N, K]   w: [K, M/4] as vec4 (Keras kernel layout: in × out)   b: [M/4] as vec4   y: [N, M/4] as vec4
// A workgroup owns COLS groups of 4 output units of one row of x; its SLICES rows of invocations take
// interleaved k (k ≡ slice mod SLICES), so at every step it reads SLICES consecutive weight rows, COLS·16
// contiguous bytes of each (whole 32-byte sectors from COLS = 2 on), and each weight once per row of x.
// Unlike 'splitK' (64 columns × 4 slices, fc1: 16 workgroups) the tile is chosen per shape (TS: GEMV,
// denseTile): COLS as small as keeps the workgroup count at a GPU's scale (fc1, fc2: 2 columns × 64
// slices, 512 workgroups), so at batch 1 every multiprocessor streams weights. Four loads per step
// (k, k + S, k + 2S, k + 3S) into two accumulators keep independent loads in flight.
// The SLICES partial sums of each column meet in workgroup memory: a tree (log2(SLICES) barriers) in a
// fixed order, so results do not depend on timing. Needs M % 4 == 0; SLICES a power of two.
// wg.x walks groups of COLS·4 output units, wg.z the rows of x.

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
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

var<workgroup> partial: array<vec4f, COLS * SLICES>;

@compute @workgroup_size(COLS, SLICES)
fn denseBiasActGemv(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m4 = p.m / 4u;
  let col = wg.x * COLS + lid.x;
  let row = wg.z;
  var even = vec4f(0.0);
  var odd = vec4f(0.0);
  if (col < m4 && row < p.n) {
    let xBase = row * p.k;
    var k = lid.y;
    for (; k + 3u * SLICES < p.k; k += 4u * SLICES) {
      let w0 = w[k * m4 + col];
      let w1 = w[(k + SLICES) * m4 + col];
      let w2 = w[(k + 2u * SLICES) * m4 + col];
      let w3 = w[(k + 3u * SLICES) * m4 + col];
      even += x[xBase + k] * w0 + x[xBase + k + 2u * SLICES] * w2;
      odd += x[xBase + k + SLICES] * w1 + x[xBase + k + 3u * SLICES] * w3;
    }
    for (; k < p.k; k += SLICES) {
      even += x[xBase + k] * w[k * m4 + col];
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
