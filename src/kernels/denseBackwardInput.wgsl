// Dense layer backward with respect to its input, through the layer's own ReLU:
//   g = dy through the ReLU by RELU_RULE (when RELU; y is the layer's post-ReLU output; reluRule.ts):
//   plain dy ⊙ [y > 0], guided dy ⊙ [y > 0] ⊙ [dy > 0], deconvnet dy ⊙ [dy > 0];  dx = g · Wᵀ.
//   dy: [N, M]   y: [N, M]   w: [K, M] (Keras kernel layout)   dx: [N, K]
// One invocation per input element k: it reads row k of W, contiguous, and all of g.
// SHARED_FORWARD: y is [1, M], one row shared by every row of dy (several Grad-CAM targets of one image).

struct Params {
  n: u32,
  k: u32,
  m: u32,
}

override WORKGROUP_SIZE: u32 = 64u;
override RELU: bool = true;
override SHARED_FORWARD: bool = false;
// How g passes the ReLU: one of the three rules below (reluRule.ts RELU_RULE_CODES).
override RELU_RULE: u32 = 0u;
const RELU_PLAIN: u32 = 0u;
const RELU_GUIDED: u32 = 1u;
const RELU_DECONVNET: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

// g for the gradient d at dy's element whose forward output is y[f]. Plain is select(0, d, y > 0).
fn reluBackward(d: f32, f: u32) -> f32 {
  if (!RELU) {
    return d;
  }
  var keep = true;
  if (RELU_RULE != RELU_DECONVNET) {
    keep = y[f] > 0.0;
  }
  if (RELU_RULE != RELU_PLAIN) {
    keep = keep && d > 0.0;
  }
  return select(0.0, d, keep);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn denseBackwardInput(@builtin(global_invocation_id) gid: vec3u) {
  let k = gid.x;
  let row = gid.y;
  if (k >= p.k || row >= p.n) {
    return;
  }
  let gBase = row * p.m;
  let fBase = select(gBase, 0u, SHARED_FORWARD);
  let wBase = k * p.m;
  var acc = 0.0;
  for (var m = 0u; m < p.m; m++) {
    acc += reluBackward(dy[gBase + m], fBase + m) * w[wBase + m];
  }
  dx[row * p.k + k] = acc;
}
