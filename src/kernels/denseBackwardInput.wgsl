// Dense layer backward with respect to its input, through the layer's own ReLU:
//   g = dy ⊙ [y > 0] (when RELU; y is the layer's post-ReLU output), dx = g · Wᵀ.
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

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

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
    var g = dy[gBase + m];
    if (RELU) {
      g = select(0.0, g, y[fBase + m] > 0.0);
    }
    acc += g * w[wBase + m];
  }
  dx[row * p.k + k] = acc;
}
