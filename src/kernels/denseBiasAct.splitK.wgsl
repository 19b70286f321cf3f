// Dense layer (Keras Dense): y = act(x · W + b), act = ReLU or identity; a GEMV per row of x.
//   x: [N, K]   w: [K, M/4] as vec4 (Keras kernel layout: in × out)   b: [M/4] as vec4   y: [N, M/4] as vec4
// Split-K inside a workgroup: a workgroup owns COLS groups of 4 output units; its SLICES rows of
// invocations take interleaved k (k ≡ slice mod SLICES), so at every step the workgroup reads SLICES
// consecutive weight rows, COLS·16 contiguous bytes each, and every weight once per row of x. The
// SLICES partial sums meet in workgroup memory (a tree, log2(SLICES) barriers). Unlike 'vec4' this has
// M/(4·COLS) × SLICES·COLS invocations in flight instead of M/4: enough to fill a GPU at batch 1.
// Four k per step keep four independent loads in flight. Needs M % 4 == 0; SLICES a power of two.
// wg.x walks groups of COLS·4 output units, wg.z the rows of x.

struct Params {
  n: u32,
  k: u32,
  m: u32,
}

override COLS: u32 = 64u;
override SLICES: u32 = 4u;
override RELU: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

var<workgroup> partial: array<vec4f, COLS * SLICES>;

@compute @workgroup_size(COLS, SLICES)
fn denseBiasActSplitK(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m4 = p.m / 4u;
  let col = wg.x * COLS + lid.x;
  let row = wg.z;
  var acc = vec4f(0.0);
  if (col < m4 && row < p.n) {
    let xBase = row * p.k;
    var k = lid.y;
    for (; k + 3u * SLICES < p.k; k += 4u * SLICES) {
      acc += x[xBase + k] * w[k * m4 + col];
      acc += x[xBase + k + SLICES] * w[(k + SLICES) * m4 + col];
      acc += x[xBase + k + 2u * SLICES] * w[(k + 2u * SLICES) * m4 + col];
      acc += x[xBase + k + 3u * SLICES] * w[(k + 3u * SLICES) * m4 + col];
    }
    for (; k < p.k; k += SLICES) {
      acc += x[xBase + k] * w[k * m4 + col];
    }
  }
  // Every invocation reaches the barriers (uniform control flow); out-of-range ones add zeros.
  partial[lid.y * COLS + lid.x] = acc;
  workgroupBarrier();
  for (var s = SLICES / 2u; s > 0u; s >>= 1u) {
    if (lid.y < s) {
      partial[lid.y * COLS + lid.x] += partial[(lid.y + s) * COLS + lid.x];
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
