// 3×3 convolution, stride 1, 'same' zero padding, + bias, + optional ReLU (Keras Conv2D semantics).
//   x: [N, H, W, Cin]   w: [3, 3, Cin, Cout/4] as vec4   b: [Cout/4] as vec4   y: [N, H, W, Cout/4] as vec4
// Register-tiled and hand-unrolled: each invocation owns 4 consecutive output pixels of one row × 8
// output channels, held in eight named vec4 accumulators. Per input channel it loads 2 vec4 weights and
// 4 scalars and does 32 multiply–adds. Unlike the 'tiled' version there are no private arrays indexed in
// loops: CPU rasterisers such as SwiftShader keep named variables in registers but spill such arrays to
// memory. Needs Cout % 8 == 0 (every VGG layer).
// gid.x walks groups of 8 output channels, gid.y blocks of 4 columns, gid.z the (image, row) pair.
// Zero padding: out-of-image columns are clamped to a valid address and their value multiplied by 0.

struct Params {
  n: u32,
  h: u32,
  w: u32,
  cIn: u32,
  cOut: u32,
}

// Output pixels × output channels per invocation: the named accumulators a0…a3 (channels 0..3) and
// c0…c3 (channels 4..7) below. The TS wrapper reads both from this file for its dispatch math.
const PIXELS: u32 = 4u;
const CHANNELS: u32 = 8u;

override WORKGROUP_X: u32 = 8u;
override WORKGROUP_Y: u32 = 8u;
override RELU: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

fn store(row: u32, col: u32, cOut4: u32, co4: u32, lo: vec4f, hi: vec4f) {
  if (col < p.w) {
    var a = lo + b[co4];
    var c = hi + b[co4 + 1u];
    if (RELU) {
      a = max(a, vec4f(0.0));
      c = max(c, vec4f(0.0));
    }
    let o = (row * p.w + col) * cOut4 + co4;
    y[o] = a;
    y[o + 1u] = c;
  }
}

@compute @workgroup_size(WORKGROUP_X, WORKGROUP_Y)
fn conv3x3BiasReluUnrolled(@builtin(global_invocation_id) gid: vec3u) {
  let cIn = p.cIn;
  let width = p.w;
  let cOut4 = p.cOut / 4u;
  let co4 = gid.x * (CHANNELS / 4u);
  let ox0 = gid.y * PIXELS;
  let nh = gid.z;
  if (co4 >= cOut4 || ox0 >= width || nh >= p.n * p.h) {
    return;
  }
  let n = nh / p.h;
  let oy = nh % p.h;
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  var c0 = vec4f(0.0);
  var c1 = vec4f(0.0);
  var c2 = vec4f(0.0);
  var c3 = vec4f(0.0);
  for (var ky = 0u; ky < 3u; ky++) {
    let iy = oy + ky;
    if (iy < 1u || iy > p.h) {
      continue;
    }
    let rowBase = (n * p.h + iy - 1u) * width;
    for (var kx = 0u; kx < 3u; kx++) {
      // Input columns ox0 + i + kx - 1 for i = 0..3, shifted by one to stay unsigned.
      let s0 = ox0 + kx;
      let m0 = select(0.0, 1.0, s0 >= 1u && s0 <= width);
      let m1 = select(0.0, 1.0, s0 + 1u <= width);
      let m2 = select(0.0, 1.0, s0 + 2u <= width);
      let m3 = select(0.0, 1.0, s0 + 3u <= width);
      let x0 = (rowBase + clamp(s0, 1u, width) - 1u) * cIn;
      let x1 = (rowBase + min(s0 + 1u, width) - 1u) * cIn;
      let x2 = (rowBase + min(s0 + 2u, width) - 1u) * cIn;
      let x3 = (rowBase + min(s0 + 3u, width) - 1u) * cIn;
      var wi = (ky * 3u + kx) * cIn * cOut4 + co4;
      for (var ci = 0u; ci < cIn; ci++) {
        let wLo = w[wi];
        let wHi = w[wi + 1u];
        wi += cOut4;
        let v0 = x[x0 + ci] * m0;
        let v1 = x[x1 + ci] * m1;
        let v2 = x[x2 + ci] * m2;
        let v3 = x[x3 + ci] * m3;
        a0 += v0 * wLo;
        c0 += v0 * wHi;
        a1 += v1 * wLo;
        c1 += v1 * wHi;
        a2 += v2 * wLo;
        c2 += v2 * wHi;
        a3 += v3 * wLo;
        c3 += v3 * wHi;
      }
    }
  }
  store(nh, ox0, cOut4, co4, a0, c0);
  store(nh, ox0 + 1u, cOut4, co4, a1, c1);
  store(nh, ox0 + 2u, cOut4, co4, a2, c2);
  store(nh, ox0 + 3u, cOut4, co4, a3, c3);
}
