// Dense layer (Keras Dense) for a batch: y = act(x · W + b), act = ReLU or identity, shaped for GPUs.
//   x: [N, K/4] as vec4   w: [K, M/4] as vec4 (Keras kernel layout: in × out)   b: [M/4] as vec4
//   y: [N, M/4] as vec4
// The per-row versions read all of W once per row of x; here a workgroup applies each weight it loads
// to ROWS rows of x (ROWS = min(N, MAX_ROWS), a pipeline constant): W is read once per ROWS rows, and a
// batch's dense layers stop being N weight streams. A workgroup owns COLS groups of 4 output units and
// ROWS rows; its SLICES rows of invocations take interleaved groups of 4 k (group q ≡ slice mod SLICES),
// so each step reads 4·SLICES consecutive weight rows, COLS·16 contiguous bytes of each. An invocation
// holds its 4×4 block of W in registers and applies it to one vec4 of x per row (4 k at once: a load
// of x per 4 of W) into one vec4 accumulator per row; its COLS neighbours load the same x (broadcast,
// cache-resident: a row of x is K·4 bytes). COLS is chosen per shape (TS: GEMM, denseTile) to keep the
// workgroup count at a GPU's scale (fc1, fc2 at 2..8 rows: 2 columns × 32 slices, 512 workgroups).
// The SLICES partial sums of every (row, column) meet in workgroup memory (ROWS·COLS·SLICES vec4, at
// most 8 KiB) in one tree for all rows: log2(SLICES) barriers, every invocation adding pairs, in a fixed
// order. Rows past N (the last block) read row N − 1, a valid address, and are not stored.
// Needs K % 4 == 0 and M % 4 == 0; SLICES a power of two; for N > 1 (batch 1 is 'gemv').
// wg.x walks groups of COLS·4 output units, wg.z groups of ROWS rows of x.

struct Params {
  n: u32,
  k: u32,
  m: u32,
}

// The most rows a workgroup applies its weights to (its accumulators). The TS wrapper reads it from
// this file for ROWS and its dispatch math.
const MAX_ROWS: u32 = 8u;

override COLS: u32 = 2u;
override SLICES: u32 = 32u;
// Rows of x per workgroup, 1..MAX_ROWS.
override ROWS: u32 = 8u;
override RELU: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

// [row][slice][column]
var<workgroup> partial: array<vec4f, ROWS * SLICES * COLS>;

@compute @workgroup_size(COLS, SLICES)
fn denseBiasActGemm(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) t: u32,
) {
  let m4 = p.m / 4u;
  let col = wg.x * COLS + lid.x;
  let row0 = wg.z * ROWS;
  let k4 = p.k / 4u;
  let lastRow = p.n - 1u;
  var acc: array<vec4f, MAX_ROWS>;
  if (col < m4) {
    for (var q = lid.y; q < k4; q += SLICES) {
      let w0 = w[4u * q * m4 + col];
      let w1 = w[(4u * q + 1u) * m4 + col];
      let w2 = w[(4u * q + 2u) * m4 + col];
      let w3 = w[(4u * q + 3u) * m4 + col];
      for (var r = 0u; r < ROWS; r++) {
        let xq = x[min(row0 + r, lastRow) * k4 + q];
        acc[r] += xq.x * w0 + xq.y * w1 + xq.z * w2 + xq.w * w3;
      }
    }
  }
  // Every invocation reaches the barriers (uniform control flow); out-of-range columns add zeros.
  let plane = SLICES * COLS;
  for (var r = 0u; r < ROWS; r++) {
    partial[r * plane + t] = acc[r];
  }
  workgroupBarrier();
  for (var s = SLICES / 2u; s > 0u; s >>= 1u) {
    // The pairs (row, slice < s, column) of this step, shared by all invocations.
    let span = s * COLS;
    for (var i = t; i < ROWS * span; i += plane) {
      let dst = (i / span) * plane + i % span;
      partial[dst] += partial[dst + span];
    }
    workgroupBarrier();
  }
  for (var i = t; i < ROWS * COLS; i += plane) {
    let c = wg.x * COLS + i % COLS;
    let row = row0 + i / COLS;
    if (c < m4 && row < p.n) {
      var v = partial[(i / COLS) * plane + i % COLS] + b[c];
      if (RELU) {
        v = max(v, vec4f(0.0));
      }
      y[row * m4 + c] = v;
    }
  }
}
