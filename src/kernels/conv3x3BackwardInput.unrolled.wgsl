// 3×3 'same' convolution backward w.r.t. its input through the layer's ReLU (see the naive version
// for the formula):  dx[n, iy, ix, ci] = Σ_{ky, kx, co} g[n, iy + 1 − ky, ix + 1 − kx, co] · w[ky, kx, ci, co],
// g: dy through the layer's ReLU by RELU_RULE (when RELU; see the naive version).
//   dy, y: [N, H, W, Cout/4] vec4   w: [3, 3, Cin, Cout/4] vec4   dx: [N, H, W, Cin/4] vec4
// Register-tiled: each invocation owns 4 consecutive input pixels of a row × 4 input channels, in four
// named vec4 accumulators. Per group of 4 output channels it loads 4 gradients, 4 outputs (for the ReLU
// mask) and 4 weight vectors, and does 64 multiply–adds as dot products. Needs Cin % 4 == 0 and
// Cout % 4 == 0 (every VGG layer but block1_conv1, whose input gradient Grad-CAM never needs).
// Out-of-image output positions are clamped to a valid address and multiplied by 0.
// SHARED_FORWARD: y is [1, H, W, Cout/4], one image's output masking every row of dy (several Grad-CAM
// targets of one forward).

struct Params {
  n: u32,
  h: u32,
  w: u32,
  cIn: u32,
  cOut: u32,
}

// Input pixels per invocation: the named accumulators a0…a3 below (each a vec4 of input channels).
// The TS wrapper reads it from this file for its dispatch math.
const PIXELS: u32 = 4u;

override WORKGROUP_X: u32 = 8u;
override WORKGROUP_Y: u32 = 8u;
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
@group(0) @binding(4) var<storage, read_write> dx: array<vec4f>;

// dy[index] × mask, through the ReLU of y[index − shift] by RELU_RULE (shift: 0, or the start of this
// row's image when SHARED_FORWARD, so the index lands in y's one image). Plain: select(0, g, y > 0).
fn gradient(index: u32, shift: u32, mask: f32) -> vec4f {
  let g = dy[index] * mask;
  if (!RELU) {
    return g;
  }
  var keep = vec4<bool>(true);
  if (RELU_RULE != RELU_DECONVNET) {
    keep = y[index - shift] > vec4f(0.0);
  }
  if (RELU_RULE != RELU_PLAIN) {
    keep = keep & (g > vec4f(0.0));
  }
  return select(vec4f(0.0), g, keep);
}

@compute @workgroup_size(WORKGROUP_X, WORKGROUP_Y)
fn conv3x3BackwardInputUnrolled(@builtin(global_invocation_id) gid: vec3u) {
  let cIn4 = p.cIn / 4u;
  let cOut4 = p.cOut / 4u;
  let width = p.w;
  let ci4 = gid.x;
  let ix0 = gid.y * PIXELS;
  let niy = gid.z;
  if (ci4 >= cIn4 || ix0 >= width || niy >= p.n * p.h) {
    return;
  }
  let n = niy / p.h;
  let iy = niy % p.h;
  let shift = select(0u, n * p.h * width * cOut4, SHARED_FORWARD);
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  for (var ky = 0u; ky < 3u; ky++) {
    // Output row iy + 1 - ky, shifted by one to stay unsigned.
    let oyShifted = iy + 2u - ky;
    if (oyShifted < 1u || oyShifted > p.h) {
      continue;
    }
    let rowBase = (n * p.h + oyShifted - 1u) * width;
    for (var kx = 0u; kx < 3u; kx++) {
      // Output columns ix0 + i + 1 - kx for i = 0..3, shifted by one: s0 + i.
      let s0 = ix0 + 2u - kx;
      let m0 = select(0.0, 1.0, s0 >= 1u && s0 <= width);
      let m1 = select(0.0, 1.0, s0 + 1u <= width);
      let m2 = select(0.0, 1.0, s0 + 2u <= width);
      let m3 = select(0.0, 1.0, s0 + 3u <= width);
      let g0 = (rowBase + clamp(s0, 1u, width) - 1u) * cOut4;
      let g1 = (rowBase + min(s0 + 1u, width) - 1u) * cOut4;
      let g2 = (rowBase + min(s0 + 2u, width) - 1u) * cOut4;
      let g3 = (rowBase + min(s0 + 3u, width) - 1u) * cOut4;
      let wBase = ((ky * 3u + kx) * p.cIn + 4u * ci4) * cOut4;
      for (var co4 = 0u; co4 < cOut4; co4++) {
        let w0 = w[wBase + co4];
        let w1 = w[wBase + cOut4 + co4];
        let w2 = w[wBase + 2u * cOut4 + co4];
        let w3 = w[wBase + 3u * cOut4 + co4];
        let d0 = gradient(g0 + co4, shift, m0);
        let d1 = gradient(g1 + co4, shift, m1);
        let d2 = gradient(g2 + co4, shift, m2);
        let d3 = gradient(g3 + co4, shift, m3);
        a0 += vec4f(dot(d0, w0), dot(d0, w1), dot(d0, w2), dot(d0, w3));
        a1 += vec4f(dot(d1, w0), dot(d1, w1), dot(d1, w2), dot(d1, w3));
        a2 += vec4f(dot(d2, w0), dot(d2, w1), dot(d2, w2), dot(d2, w3));
        a3 += vec4f(dot(d3, w0), dot(d3, w1), dot(d3, w2), dot(d3, w3));
      }
    }
  }
  let out = (niy * width + ix0) * cIn4 + ci4;
  dx[out] = a0;
  if (ix0 + 1u < width) { dx[out + cIn4] = a1; }
  if (ix0 + 2u < width) { dx[out + 2u * cIn4] = a2; }
  if (ix0 + 3u < width) { dx[out + 3u * cIn4] = a3; }
}
