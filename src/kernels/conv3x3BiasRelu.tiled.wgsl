// 3×3 convolution, stride 1, 'same' zero padding, + bias, + optional ReLU (Keras Conv2D semantics).
//   x: [N, H, W, Cin]   w: [3, 3, Cin, Cout/4] as vec4   b: [Cout/4] as vec4   y: [N, H, W, Cout/4] as vec4
// Register-tiled version: each invocation owns PIXELS consecutive output pixels of one row times 4
// output channels, so one vec4 weight load feeds 4 pixels and one input load feeds 4 channels
// (16 multiply–adds per 1 vec4 + PIXELS scalar loads instead of 1 per 2). Needs Cout % 4 == 0, which
// holds for every VGG layer; the naive version covers the rest.
// gid.x walks groups of 4 output channels (coalesced weights), gid.y blocks of PIXELS columns,
// gid.z the (image, row) pair. Zero padding is applied by a 0/1 mask on clamped addresses so the
// inner loop has no branches.

struct Params {
  n: u32,
  h: u32,
  w: u32,
  cIn: u32,
  cOut: u32,
}

// Pixels per invocation. The TS wrapper reads this constant from this file for its dispatch math.
const PIXELS: u32 = 4u;

override WORKGROUP_X: u32 = 16u;
override WORKGROUP_Y: u32 = 4u;
override RELU: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

@compute @workgroup_size(WORKGROUP_X, WORKGROUP_Y)
fn conv3x3BiasReluTiled(@builtin(global_invocation_id) gid: vec3u) {
  let cOut4 = p.cOut / 4u;
  let co4 = gid.x;
  let ox0 = gid.y * PIXELS;
  let nh = gid.z;
  if (co4 >= cOut4 || ox0 >= p.w || nh >= p.n * p.h) {
    return;
  }
  let n = nh / p.h;
  let oy = nh % p.h;
  var acc: array<vec4f, PIXELS>;
  for (var ky = 0u; ky < 3u; ky++) {
    let iy = oy + ky;
    if (iy < 1u || iy > p.h) {
      continue;
    }
    let rowBase = (n * p.h + iy - 1u) * p.w;
    for (var kx = 0u; kx < 3u; kx++) {
      var xIndex: array<u32, PIXELS>;
      var mask: array<f32, PIXELS>;
      for (var i = 0u; i < PIXELS; i++) {
        // Input column ox0 + i + kx - 1, shifted by one to stay unsigned.
        let ixShifted = ox0 + i + kx;
        let inside = ixShifted >= 1u && ixShifted <= p.w;
        mask[i] = select(0.0, 1.0, inside);
        xIndex[i] = (rowBase + clamp(ixShifted, 1u, p.w) - 1u) * p.cIn;
      }
      let wBase = (ky * 3u + kx) * p.cIn * cOut4 + co4;
      for (var ci = 0u; ci < p.cIn; ci++) {
        let wv = w[wBase + ci * cOut4];
        for (var i = 0u; i < PIXELS; i++) {
          acc[i] += (x[xIndex[i] + ci] * mask[i]) * wv;
        }
      }
    }
  }
  let bias = b[co4];
  for (var i = 0u; i < PIXELS; i++) {
    if (ox0 + i < p.w) {
      var v = acc[i] + bias;
      if (RELU) {
        v = max(v, vec4f(0.0));
      }
      y[(nh * p.w + ox0 + i) * cOut4 + co4] = v;
    }
  }
}
