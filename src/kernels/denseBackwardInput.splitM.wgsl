// Dense layer backward with respect to its input, through the layer's own ReLU:
//   g = dy through the ReLU by RELU_RULE (when RELU; y is the layer's post-ReLU output; reluRule.ts):
//   plain dy ⊙ [y > 0], guided dy ⊙ [y > 0] ⊙ [dy > 0], deconvnet dy ⊙ [dy > 0];  dx = g · Wᵀ.
//   dy: [N, M/4] as vec4   y: [N, M/4] as vec4   w: [K, M/4] as vec4 (Keras layout)   dx: [N, K]
// A workgroup owns 4 consecutive k (4 rows of W); its THREADS invocations stride along m, so at every
// step they read THREADS·16 contiguous bytes of each row (coalesced on a GPU) and the 4 partial dot
// products meet in workgroup memory (a tree, log2(THREADS) barriers). On SwiftShader the barriers cost
// more than they save ('vec4' is faster there); this is the version for GPUs. Needs M % 4 == 0;
// THREADS a power of two.
// SHARED_FORWARD: y is [1, M/4], one row shared by every row of dy (several Grad-CAM targets).
// wg.x walks groups of 4 k, wg.z the rows of dy.

struct Params {
  n: u32,
  k: u32,
  m: u32,
}

// Rows of W per workgroup: the 4 lanes of its vec4 partial sums. The TS wrapper reads it from this file
// for its dispatch math.
const ROWS: u32 = 4u;

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

var<workgroup> partial: array<vec4f, THREADS>;

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
fn denseBackwardInputSplitM(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let m4 = p.m / 4u;
  let k0 = wg.x * ROWS;
  let row = wg.z;
  // Rows past K are clamped to the last one (valid addresses); their sums are never stored.
  let last = p.k - 1u;
  let r0 = min(k0, last) * m4;
  let r1 = min(k0 + 1u, last) * m4;
  let r2 = min(k0 + 2u, last) * m4;
  let r3 = min(k0 + 3u, last) * m4;
  let gBase = row * m4;
  let fBase = select(gBase, 0u, SHARED_FORWARD);
  var acc = vec4f(0.0);
  for (var j = t; j < m4; j += THREADS) {
    let g = gradient(gBase + j, fBase + j);
    acc += vec4f(dot(g, w[r0 + j]), dot(g, w[r1 + j]), dot(g, w[r2 + j]), dot(g, w[r3 + j]));
  }
  partial[t] = acc;
  workgroupBarrier();
  for (var s = THREADS / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      partial[t] += partial[t + s];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    let sums = partial[0];
    for (var i = 0u; i < ROWS; i++) {
      if (k0 + i < p.k) {
        dx[row * p.k + k0 + i] = sums[i];
      }
    }
  }
}
