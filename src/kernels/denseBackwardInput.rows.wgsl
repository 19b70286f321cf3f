// Dense layer backward with respect to its input, through the layer's own ReLU, for all N rows of dy at
// once:  g = dy through the ReLU by RELU_RULE (when RELU; y is the layer's post-ReLU output; reluRule.ts):
//   plain dy ⊙ [y > 0], guided dy ⊙ [y > 0] ⊙ [dy > 0], deconvnet dy ⊙ [dy > 0];  dx = g · Wᵀ.
//   dy: [N, M/4] as vec4   y: [N, M/4] (or [1, M/4] when SHARED_FORWARD) as vec4
//   w: [K, M/4] as vec4 (Keras layout)   dx: [N, K]
// 'vec4' runs one invocation per (row, k) and so reads W N times; here one invocation owns K_PER
// consecutive k for EVERY row: it reads each vec4 of those rows of W once and multiplies it into one
// vec4 accumulator per (row, k). Several Grad-CAM targets (one dy row per class) then read the fc
// weights once, not N times; the N gradient rows are small and stay in cache.
// ROWS = N (1..MAX_ROWS, a pipeline constant): the accumulators are named (a private array indexed by a
// row loop was about twice as slow on SwiftShader) and the rows past ROWS are skipped by conditions
// that are constant once ROWS is set. Each lane of an accumulator sums every fourth product; the 4 lanes are
// added at the end. K_PER = 2 halves the gradient loads per weight (1.7× faster on SwiftShader than 1).
// SHARED_FORWARD: y has one row, shared by every row of dy (the targets of one image): its mask is
// read once per vec4 of W. Needs M % 4 == 0.
// gid.x walks groups of K_PER k.

struct Params {
  n: u32,
  k: u32,
  m: u32,
}

// The most rows one invocation accumulates (the named accumulators below), and the k per invocation
// (a and b). The TS wrapper reads both from this file for supports() and its dispatch math.
const MAX_ROWS: u32 = 8u;
const K_PER: u32 = 2u;

override WORKGROUP_SIZE: u32 = 64u;
override RELU: bool = true;
override SHARED_FORWARD: bool = false;
// How g passes the ReLU: one of the three rules below (reluRule.ts RELU_RULE_CODES).
override RELU_RULE: u32 = 0u;
const RELU_PLAIN: u32 = 0u;
const RELU_GUIDED: u32 = 1u;
const RELU_DECONVNET: u32 = 2u;
// Rows of dy and dx: the uniform's n, fixed per pipeline. At most MAX_ROWS.
override ROWS: u32 = 1u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<vec4f>;
@group(0) @binding(2) var<storage, read> y: array<vec4f>;
@group(0) @binding(3) var<storage, read> w: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

// Row r of g at column group j: dy through the ReLU by RELU_RULE, with the shared row's mask or row r
// of y. Plain is select(0, dy, mask).
fn gradient(r: u32, j: u32, m4: u32, sharedMask: vec4<bool>) -> vec4f {
  let i = r * m4 + j;
  let d = dy[i];
  if (!RELU) {
    return d;
  }
  var keep = vec4<bool>(true);
  if (RELU_RULE != RELU_DECONVNET) {
    if (SHARED_FORWARD) {
      keep = sharedMask;
    } else {
      keep = y[i] > vec4f(0.0);
    }
  }
  if (RELU_RULE != RELU_PLAIN) {
    keep = keep & (d > vec4f(0.0));
  }
  return select(vec4f(0.0), d, keep);
}

// dx[r, k0] and dx[r, k0 + 1] (when in range): the 4 lanes of each accumulator, added pairwise.
fn store(r: u32, k0: u32, a: vec4f, b: vec4f) {
  dx[r * p.k + k0] = (a.x + a.y) + (a.z + a.w);
  if (k0 + 1u < p.k) {
    dx[r * p.k + k0 + 1u] = (b.x + b.y) + (b.z + b.w);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn denseBackwardInputRows(@builtin(global_invocation_id) gid: vec3u) {
  let k0 = gid.x * K_PER;
  if (k0 >= p.k) {
    return;
  }
  let m4 = p.m / 4u;
  // The second row of W is clamped to the last (a valid address) when K is odd; its sums are not stored.
  let wBase0 = k0 * m4;
  let wBase1 = min(k0 + 1u, p.k - 1u) * m4;
  var a0 = vec4f(0.0);
  var b0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var b1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var b2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  var b3 = vec4f(0.0);
  var a4 = vec4f(0.0);
  var b4 = vec4f(0.0);
  var a5 = vec4f(0.0);
  var b5 = vec4f(0.0);
  var a6 = vec4f(0.0);
  var b6 = vec4f(0.0);
  var a7 = vec4f(0.0);
  var b7 = vec4f(0.0);
  for (var j = 0u; j < m4; j++) {
    let w0 = w[wBase0 + j];
    let w1 = w[wBase1 + j];
    // The shared row's mask, once for all rows.
    var sharedMask = vec4<bool>(true);
    if (RELU && SHARED_FORWARD && RELU_RULE != RELU_DECONVNET) {
      sharedMask = y[j] > vec4f(0.0);
    }
    { let g = gradient(0u, j, m4, sharedMask); a0 += g * w0; b0 += g * w1; }
    if (ROWS > 1u) { let g = gradient(1u, j, m4, sharedMask); a1 += g * w0; b1 += g * w1; }
    if (ROWS > 2u) { let g = gradient(2u, j, m4, sharedMask); a2 += g * w0; b2 += g * w1; }
    if (ROWS > 3u) { let g = gradient(3u, j, m4, sharedMask); a3 += g * w0; b3 += g * w1; }
    if (ROWS > 4u) { let g = gradient(4u, j, m4, sharedMask); a4 += g * w0; b4 += g * w1; }
    if (ROWS > 5u) { let g = gradient(5u, j, m4, sharedMask); a5 += g * w0; b5 += g * w1; }
    if (ROWS > 6u) { let g = gradient(6u, j, m4, sharedMask); a6 += g * w0; b6 += g * w1; }
    if (ROWS > 7u) { let g = gradient(7u, j, m4, sharedMask); a7 += g * w0; b7 += g * w1; }
  }
  { store(0u, k0, a0, b0); }
  if (ROWS > 1u) { store(1u, k0, a1, b1); }
  if (ROWS > 2u) { store(2u, k0, a2, b2); }
  if (ROWS > 3u) { store(3u, k0, a3, b3); }
  if (ROWS > 4u) { store(4u, k0, a4, b4); }
  if (ROWS > 5u) { store(5u, k0, a5, b5); }
  if (ROWS > 6u) { store(6u, k0, a6, b6); }
  if (ROWS > 7u) { store(7u, k0, a7, b7); }
}
