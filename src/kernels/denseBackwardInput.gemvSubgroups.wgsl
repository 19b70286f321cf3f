// Dense layer backward with respect to its input, through the layer's own ReLU, shaped for GPUs, with
// the partial sums reduced by subgroup operations (the 'subgroups' feature) instead of a tree:
//   g = dy through the ReLU by RELU_RULE (when RELU; y is the layer's post-ReLU output; reluRule.ts):
//   plain dy ⊙ [y > 0], guided dy ⊙ [y > 0] ⊙ [dy > 0], deconvnet dy ⊙ [dy > 0];  dx = g · Wᵀ.
//   dy: [N, M/4] as vec4   y: [N, M/4] as vec4   w: [K, M/4] as vec4 (Keras layout)   dx: [N, K]
// A workgroup owns ROWS consecutive k (ROWS rows of W) of one row of dy; its THREADS invocations stride
// along m, so at every step they read THREADS·16 contiguous bytes of each of the ROWS rows (coalesced)
// and one vec4 of g, which serves all ROWS rows (splitM: 4 rows; here ROWS, a pipeline constant, up to
// MAX_ROWS). Each invocation keeps one float32 dot product per row.
// Each subgroup adds its invocations' ROWS sums with subgroupAdd; its first invocation stores them in
// workgroup memory (zeros elsewhere), and after one barrier ROWS invocations each add their row's
// THREADS entries in index order. One barrier instead of log2(THREADS), and the order is fixed for a
// given device and pipeline (its subgroup size), so results do not depend on timing.
// Rows past K are clamped to the last one (a valid address) and not stored.
// Needs M % 4 == 0; THREADS a power of two.
// SHARED_FORWARD: y is [1, M/4], one row shared by every row of dy (several Grad-CAM targets).
// wg.x walks groups of ROWS k, wg.z the rows of dy.

enable subgroups;

struct Params {
  n: u32,
  k: u32,
  m: u32,
}

// The most rows of W a workgroup owns (its accumulators).
const MAX_ROWS: u32 = 8u;

// Rows of W per workgroup, 1..MAX_ROWS.
override ROWS: u32 = 8u;
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

// [row of W][invocation]
var<workgroup> partial: array<f32, ROWS * THREADS>;

// dy[i] through the ReLU of y[f] by RELU_RULE. Plain is select(0, dy, y > 0).
fn gradient(i: u32, f: u32) -> vec4f {
  let d = dy[i];
  if (!RELU) {
    return d;
  }
  var keep = vec4<bool>(true);
  if (RELU_RULE != RELU_DECONVNET) {
    keep = y[f] > vec4f(0.0);
  }
  if (RELU_RULE != RELU_PLAIN) {
    keep = keep & (d > vec4f(0.0));
  }
  return select(vec4f(0.0), d, keep);
}

@compute @workgroup_size(THREADS)
fn denseBackwardInputGemvSubgroups(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let m4 = p.m / 4u;
  let k0 = wg.x * ROWS;
  let row = wg.z;
  var wBase: array<u32, MAX_ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    wBase[r] = min(k0 + r, p.k - 1u) * m4;
  }
  let gBase = row * m4;
  let fBase = select(gBase, 0u, SHARED_FORWARD);
  var acc: array<f32, MAX_ROWS>;
  for (var j = t; j < m4; j += THREADS) {
    let g = gradient(gBase + j, fBase + j);
    for (var r = 0u; r < ROWS; r++) {
      acc[r] += dot(g, w[wBase[r] + j]);
    }
  }
  // All invocations are active here: the first of a subgroup is its lowest local index.
  let first = subgroupBroadcastFirst(t);
  for (var r = 0u; r < ROWS; r++) {
    let sum = subgroupAdd(acc[r]);
    partial[r * THREADS + t] = select(0.0, sum, t == first);
  }
  workgroupBarrier();
  if (t < ROWS && k0 + t < p.k) {
    var v = 0.0;
    for (var i = 0u; i < THREADS; i++) {
      v += partial[t * THREADS + i];
    }
    dx[row * p.k + k0 + t] = v;
  }
}
