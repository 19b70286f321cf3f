// 3×3 'same' convolution backward with respect to its input (a transposed convolution), through the
// layer's own ReLU by RELU_RULE (when RELU; y is the layer's post-ReLU output; reluRule.ts):
//   plain g = dy ⊙ [y > 0], guided g = dy ⊙ [y > 0] ⊙ [dy > 0], deconvnet g = dy ⊙ [dy > 0]; g = dy without RELU.
//   dx[n, iy, ix, ci] = Σ_{ky, kx, co} g[n, iy + 1 − ky, ix + 1 − kx, co] · w[ky, kx, ci, co]
//   dy, y: [N, H, W, Cout]   w: [3, 3, Cin, Cout] (HWIO)   dx: [N, H, W, Cin]
// Naive version: one invocation per input element; gid.x walks input channels, so each invocation
// reads its own contiguous run of Cout weights while the workgroup shares the g reads.
// SHARED_FORWARD: y is [1, H, W, Cout], one image's output masking every row of dy (several Grad-CAM
// targets of one forward).

struct Params {
  n: u32,
  h: u32,
  w: u32,
  cIn: u32,
  cOut: u32,
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
fn conv3x3BackwardInput(@builtin(global_invocation_id) gid: vec3u) {
  let ci = gid.x;
  let ix = gid.y;
  let niy = gid.z;
  if (ci >= p.cIn || ix >= p.w || niy >= p.n * p.h) {
    return;
  }
  let n = niy / p.h;
  let iy = niy % p.h;
  // y's image: this row's own, or the one shared image.
  let nf = select(n, 0u, SHARED_FORWARD);
  var acc = 0.0;
  for (var ky = 0u; ky < 3u; ky++) {
    // Output row iy + 1 - ky, kept unsigned: oyShifted = oy + 1.
    let oyShifted = iy + 2u - ky;
    if (oyShifted < 1u || oyShifted > p.h) {
      continue;
    }
    for (var kx = 0u; kx < 3u; kx++) {
      let oxShifted = ix + 2u - kx;
      if (oxShifted < 1u || oxShifted > p.w) {
        continue;
      }
      let gBase = ((n * p.h + oyShifted - 1u) * p.w + oxShifted - 1u) * p.cOut;
      let fBase = ((nf * p.h + oyShifted - 1u) * p.w + oxShifted - 1u) * p.cOut;
      let wBase = ((ky * 3u + kx) * p.cIn + ci) * p.cOut;
      for (var co = 0u; co < p.cOut; co++) {
        acc += reluBackward(dy[gBase + co], fBase + co) * w[wBase + co];
      }
    }
  }
  dx[(niy * p.w + ix) * p.cIn + ci] = acc;
}
