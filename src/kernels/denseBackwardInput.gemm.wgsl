// Dense layer backward with respect to its input, through the layer's own ReLU, for a batch of dy rows,
// shaped for GPUs:
//   g = dy through the ReLU by RELU_RULE (when RELU; y is the layer's post-ReLU output; reluRule.ts):
//   plain dy ⊙ [y > 0], guided dy ⊙ [y > 0] ⊙ [dy > 0], deconvnet dy ⊙ [dy > 0];  dx = g · Wᵀ.
//   dy: [N, M/4] as vec4   y: [N, M/4] (or [1, M/4] when SHARED_FORWARD) as vec4
//   w: [K, M/4] as vec4 (Keras layout)   dx: [N, K]
// A workgroup owns 4 consecutive k (4 rows of W: one vec4 of dot products) and BATCH rows of dy
// (BATCH = min(N, MAX_BATCH), a pipeline constant): the vec4s of W it loads serve all BATCH rows, so W
// is read once per BATCH rows, not once per row. Its THREADS invocations stride along m (THREADS·16
// contiguous bytes of each row of W per step); each keeps one vec4 accumulator per row of dy.
// The THREADS·BATCH partial sums meet in workgroup memory in one tree for all rows (log2(THREADS)
// barriers), its pairs spread over every invocation in a fixed order. Rows of W past K and rows of dy
// past N (the last blocks) are clamped to valid addresses and not stored.
// SHARED_FORWARD: y has one row, shared by every row of dy (the targets of one image): its mask is read
// once per vec4 for all rows. Needs M % 4 == 0; THREADS a power of two; for N > 1 (batch 1 is 'gemv').
// wg.x walks groups of 4 k, wg.z groups of BATCH rows of dy.

struct Params {
  n: u32,
  k: u32,
  m: u32,
}

// Rows of W per workgroup (the lanes of a vec4 accumulator), and the most rows of dy a workgroup
// takes (its accumulators). The TS wrapper reads both from this file for its dispatch math.
const ROWS: u32 = 4u;
const MAX_BATCH: u32 = 8u;

// Rows of dy per workgroup, 1..MAX_BATCH.
override BATCH: u32 = 8u;
override THREADS: u32 = 64u;
override RELU: bool = true;
override SHARED_FORWARD: bool = false;
// How g passes the ReLU: one of the three rules below (reluRule.ts RELU_RULE_CODES).
override RELU_RULE: u32 = 0u;
const RELU_PLAIN: u32 = 0u;
const RELU_GUIDED: u32 = 1u;
const RELU_DECONVNET: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<vec4f>;
@group(0) @binding(2) var<storage, read> y: array<vec4f>;
@group(0) @binding(3) var<storage, read> w: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

// [row of dy][invocation]
var<workgroup> partial: array<vec4f, BATCH * THREADS>;

// dy[i] through the ReLU by RELU_RULE, with the mask of y[f] (unless SHARED_FORWARD: sharedMask, the
// shared row's, read once for all rows). Plain is select(0, dy, y > 0).
fn gradient(i: u32, f: u32, sharedMask: vec4<bool>) -> vec4f {
  let d = dy[i];
  if (!RELU) {
    return d;
  }
  var keep = vec4<bool>(true);
  if (RELU_RULE != RELU_DECONVNET) {
    if (SHARED_FORWARD) {
      keep = sharedMask;
    } else {
      keep = y[f] > vec4f(0.0);
    }
  }
  if (RELU_RULE != RELU_PLAIN) {
    keep = keep & (d > vec4f(0.0));
  }
  return select(vec4f(0.0), d, keep);
}

@compute @workgroup_size(THREADS)
fn denseBackwardInputGemm(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let m4 = p.m / 4u;
  let k0 = wg.x * ROWS;
  let row0 = wg.z * BATCH;
  let lastK = p.k - 1u;
  let r0 = min(k0, lastK) * m4;
  let r1 = min(k0 + 1u, lastK) * m4;
  let r2 = min(k0 + 2u, lastK) * m4;
  let r3 = min(k0 + 3u, lastK) * m4;
  let lastRow = p.n - 1u;
  var acc: array<vec4f, MAX_BATCH>;
  for (var j = t; j < m4; j += THREADS) {
    let w0 = w[r0 + j];
    let w1 = w[r1 + j];
    let w2 = w[r2 + j];
    let w3 = w[r3 + j];
    var sharedMask = vec4<bool>(true);
    if (RELU && SHARED_FORWARD && RELU_RULE != RELU_DECONVNET) {
      sharedMask = y[j] > vec4f(0.0);
    }
    for (var b = 0u; b < BATCH; b++) {
      let i = min(row0 + b, lastRow) * m4 + j;
      let g = gradient(i, i, sharedMask);
      acc[b] += vec4f(dot(g, w0), dot(g, w1), dot(g, w2), dot(g, w3));
    }
  }
  for (var b = 0u; b < BATCH; b++) {
    partial[b * THREADS + t] = acc[b];
  }
  workgroupBarrier();
  for (var s = THREADS / 2u; s > 0u; s >>= 1u) {
    // The pairs (row of dy, invocation < s) of this step, shared by all invocations.
    for (var i = t; i < BATCH * s; i += THREADS) {
      let dst = (i / s) * THREADS + i % s;
      partial[dst] += partial[dst + s];
    }
    workgroupBarrier();
  }
  // One invocation per (row of dy, k): BATCH·ROWS of them.
  for (var i = t; i < BATCH * ROWS; i += THREADS) {
    let row = row0 + i / ROWS;
    let k = k0 + i % ROWS;
    if (row < p.n && k < p.k) {
      dx[row * p.k + k] = partial[(i / ROWS) * THREADS][i % ROWS];
    }
  }
}
