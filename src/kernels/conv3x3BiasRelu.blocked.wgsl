// 3×3 convolution, stride 1, 'same' zero padding, + bias, + optional ReLU (Keras Conv2D semantics).
//   x: [N, H, W, Cin/4] as vec4   w: [3, 3, Cin, Cout/4] as vec4   b: [Cout/4] as vec4   y: [N, H, W, Cout/4] as vec4
// Register-blocked along the row: each invocation owns 8 consecutive output pixels of one row × 8 output
// channels, in 16 named vec4 accumulators (named, not an array: SwiftShader spills arrays indexed in
// loops to memory). For each kernel row and 4 input channels it loads the 10 input pixels its
// outputs need once (its 8 columns plus one on each side) and uses each for all three kernel columns,
// with 24 weight vectors: 34 vec4 loads for 192 vec4 multiply–adds. Only those
// 10 loads carry the zero-padding mask. The 16-pixel version is the same code with another
// block width; tuning picks per layer (short rows waste less with 8, long rows reuse more with 16).
// Needs Cin % 4 == 0 and Cout % 8 == 0 (every VGG layer but block1_conv1, whose Cin is 3).
// gid.x walks groups of 8 output channels, gid.y blocks of 8 columns, gid.z the (image, row) pair.
// Out-of-image input columns are clamped to a valid address and their value multiplied by 0.

struct Params {
  n: u32,
  h: u32,
  w: u32,
  cIn: u32,
  cOut: u32,
}

override WORKGROUP_X: u32 = 8u;
override WORKGROUP_Y: u32 = 8u;
override RELU: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
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
fn conv3x3BiasReluBlocked(@builtin(global_invocation_id) gid: vec3u) {
  let cIn4 = p.cIn / 4u;
  let width = p.w;
  let cOut4 = p.cOut / 4u;
  let co4 = gid.x * 2u;
  let ox0 = gid.y * 8u;
  let nh = gid.z;
  if (co4 >= cOut4 || ox0 >= width || nh >= p.n * p.h) {
    return;
  }
  let n = nh / p.h;
  let oy = nh % p.h;
  // Weights of one kernel column (kx) are cIn·Cout/4 vec4 apart.
  let kxStride = p.cIn * cOut4;
  // Output channels co4·4 .. +3 (a) and +4 .. +7 (c) of pixel ox0 + i.
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  var a4 = vec4f(0.0);
  var a5 = vec4f(0.0);
  var a6 = vec4f(0.0);
  var a7 = vec4f(0.0);
  var c0 = vec4f(0.0);
  var c1 = vec4f(0.0);
  var c2 = vec4f(0.0);
  var c3 = vec4f(0.0);
  var c4 = vec4f(0.0);
  var c5 = vec4f(0.0);
  var c6 = vec4f(0.0);
  var c7 = vec4f(0.0);
  for (var ky = 0u; ky < 3u; ky++) {
    let iy = oy + ky;
    if (iy < 1u || iy > p.h) {
      continue;
    }
    let rowBase = (n * p.h + iy - 1u) * width;
    // Input column ox0 + j - 1 for j = 0..9, shifted by one to stay unsigned: ox0 + j.
    let m0 = select(0.0, 1.0, ox0 >= 1u);
    let x0 = (rowBase + max(ox0, 1u) - 1u) * cIn4;
    let m1 = select(0.0, 1.0, ox0 + 1u <= width);
    let x1 = (rowBase + min(ox0 + 1u, width) - 1u) * cIn4;
    let m2 = select(0.0, 1.0, ox0 + 2u <= width);
    let x2 = (rowBase + min(ox0 + 2u, width) - 1u) * cIn4;
    let m3 = select(0.0, 1.0, ox0 + 3u <= width);
    let x3 = (rowBase + min(ox0 + 3u, width) - 1u) * cIn4;
    let m4 = select(0.0, 1.0, ox0 + 4u <= width);
    let x4 = (rowBase + min(ox0 + 4u, width) - 1u) * cIn4;
    let m5 = select(0.0, 1.0, ox0 + 5u <= width);
    let x5 = (rowBase + min(ox0 + 5u, width) - 1u) * cIn4;
    let m6 = select(0.0, 1.0, ox0 + 6u <= width);
    let x6 = (rowBase + min(ox0 + 6u, width) - 1u) * cIn4;
    let m7 = select(0.0, 1.0, ox0 + 7u <= width);
    let x7 = (rowBase + min(ox0 + 7u, width) - 1u) * cIn4;
    let m8 = select(0.0, 1.0, ox0 + 8u <= width);
    let x8 = (rowBase + min(ox0 + 8u, width) - 1u) * cIn4;
    let m9 = select(0.0, 1.0, ox0 + 9u <= width);
    let x9 = (rowBase + min(ox0 + 9u, width) - 1u) * cIn4;
    var wi = ky * 3u * kxStride + co4;
    for (var ci = 0u; ci < cIn4; ci++) {
      let v0 = x[x0 + ci] * m0;
      let v1 = x[x1 + ci] * m1;
      let v2 = x[x2 + ci] * m2;
      let v3 = x[x3 + ci] * m3;
      let v4 = x[x4 + ci] * m4;
      let v5 = x[x5 + ci] * m5;
      let v6 = x[x6 + ci] * m6;
      let v7 = x[x7 + ci] * m7;
      let v8 = x[x8 + ci] * m8;
      let v9 = x[x9 + ci] * m9;
      // input channel 4·ci + 0: weights of kernel columns 0, 1, 2
      let lo0x = w[wi];
      let hi0x = w[wi + 1u];
      let lo1x = w[wi + 1u * kxStride];
      let hi1x = w[wi + 1u * kxStride + 1u];
      let lo2x = w[wi + 2u * kxStride];
      let hi2x = w[wi + 2u * kxStride + 1u];
      a0 += v0.x * lo0x;
      c0 += v0.x * hi0x;
      a0 += v1.x * lo1x;
      c0 += v1.x * hi1x;
      a0 += v2.x * lo2x;
      c0 += v2.x * hi2x;
      a1 += v1.x * lo0x;
      c1 += v1.x * hi0x;
      a1 += v2.x * lo1x;
      c1 += v2.x * hi1x;
      a1 += v3.x * lo2x;
      c1 += v3.x * hi2x;
      a2 += v2.x * lo0x;
      c2 += v2.x * hi0x;
      a2 += v3.x * lo1x;
      c2 += v3.x * hi1x;
      a2 += v4.x * lo2x;
      c2 += v4.x * hi2x;
      a3 += v3.x * lo0x;
      c3 += v3.x * hi0x;
      a3 += v4.x * lo1x;
      c3 += v4.x * hi1x;
      a3 += v5.x * lo2x;
      c3 += v5.x * hi2x;
      a4 += v4.x * lo0x;
      c4 += v4.x * hi0x;
      a4 += v5.x * lo1x;
      c4 += v5.x * hi1x;
      a4 += v6.x * lo2x;
      c4 += v6.x * hi2x;
      a5 += v5.x * lo0x;
      c5 += v5.x * hi0x;
      a5 += v6.x * lo1x;
      c5 += v6.x * hi1x;
      a5 += v7.x * lo2x;
      c5 += v7.x * hi2x;
      a6 += v6.x * lo0x;
      c6 += v6.x * hi0x;
      a6 += v7.x * lo1x;
      c6 += v7.x * hi1x;
      a6 += v8.x * lo2x;
      c6 += v8.x * hi2x;
      a7 += v7.x * lo0x;
      c7 += v7.x * hi0x;
      a7 += v8.x * lo1x;
      c7 += v8.x * hi1x;
      a7 += v9.x * lo2x;
      c7 += v9.x * hi2x;
      wi += cOut4;
      // input channel 4·ci + 1: weights of kernel columns 0, 1, 2
      let lo0y = w[wi];
      let hi0y = w[wi + 1u];
      let lo1y = w[wi + 1u * kxStride];
      let hi1y = w[wi + 1u * kxStride + 1u];
      let lo2y = w[wi + 2u * kxStride];
      let hi2y = w[wi + 2u * kxStride + 1u];
      a0 += v0.y * lo0y;
      c0 += v0.y * hi0y;
      a0 += v1.y * lo1y;
      c0 += v1.y * hi1y;
      a0 += v2.y * lo2y;
      c0 += v2.y * hi2y;
      a1 += v1.y * lo0y;
      c1 += v1.y * hi0y;
      a1 += v2.y * lo1y;
      c1 += v2.y * hi1y;
      a1 += v3.y * lo2y;
      c1 += v3.y * hi2y;
      a2 += v2.y * lo0y;
      c2 += v2.y * hi0y;
      a2 += v3.y * lo1y;
      c2 += v3.y * hi1y;
      a2 += v4.y * lo2y;
      c2 += v4.y * hi2y;
      a3 += v3.y * lo0y;
      c3 += v3.y * hi0y;
      a3 += v4.y * lo1y;
      c3 += v4.y * hi1y;
      a3 += v5.y * lo2y;
      c3 += v5.y * hi2y;
      a4 += v4.y * lo0y;
      c4 += v4.y * hi0y;
      a4 += v5.y * lo1y;
      c4 += v5.y * hi1y;
      a4 += v6.y * lo2y;
      c4 += v6.y * hi2y;
      a5 += v5.y * lo0y;
      c5 += v5.y * hi0y;
      a5 += v6.y * lo1y;
      c5 += v6.y * hi1y;
      a5 += v7.y * lo2y;
      c5 += v7.y * hi2y;
      a6 += v6.y * lo0y;
      c6 += v6.y * hi0y;
      a6 += v7.y * lo1y;
      c6 += v7.y * hi1y;
      a6 += v8.y * lo2y;
      c6 += v8.y * hi2y;
      a7 += v7.y * lo0y;
      c7 += v7.y * hi0y;
      a7 += v8.y * lo1y;
      c7 += v8.y * hi1y;
      a7 += v9.y * lo2y;
      c7 += v9.y * hi2y;
      wi += cOut4;
      // input channel 4·ci + 2: weights of kernel columns 0, 1, 2
      let lo0z = w[wi];
      let hi0z = w[wi + 1u];
      let lo1z = w[wi + 1u * kxStride];
      let hi1z = w[wi + 1u * kxStride + 1u];
      let lo2z = w[wi + 2u * kxStride];
      let hi2z = w[wi + 2u * kxStride + 1u];
      a0 += v0.z * lo0z;
      c0 += v0.z * hi0z;
      a0 += v1.z * lo1z;
      c0 += v1.z * hi1z;
      a0 += v2.z * lo2z;
      c0 += v2.z * hi2z;
      a1 += v1.z * lo0z;
      c1 += v1.z * hi0z;
      a1 += v2.z * lo1z;
      c1 += v2.z * hi1z;
      a1 += v3.z * lo2z;
      c1 += v3.z * hi2z;
      a2 += v2.z * lo0z;
      c2 += v2.z * hi0z;
      a2 += v3.z * lo1z;
      c2 += v3.z * hi1z;
      a2 += v4.z * lo2z;
      c2 += v4.z * hi2z;
      a3 += v3.z * lo0z;
      c3 += v3.z * hi0z;
      a3 += v4.z * lo1z;
      c3 += v4.z * hi1z;
      a3 += v5.z * lo2z;
      c3 += v5.z * hi2z;
      a4 += v4.z * lo0z;
      c4 += v4.z * hi0z;
      a4 += v5.z * lo1z;
      c4 += v5.z * hi1z;
      a4 += v6.z * lo2z;
      c4 += v6.z * hi2z;
      a5 += v5.z * lo0z;
      c5 += v5.z * hi0z;
      a5 += v6.z * lo1z;
      c5 += v6.z * hi1z;
      a5 += v7.z * lo2z;
      c5 += v7.z * hi2z;
      a6 += v6.z * lo0z;
      c6 += v6.z * hi0z;
      a6 += v7.z * lo1z;
      c6 += v7.z * hi1z;
      a6 += v8.z * lo2z;
      c6 += v8.z * hi2z;
      a7 += v7.z * lo0z;
      c7 += v7.z * hi0z;
      a7 += v8.z * lo1z;
      c7 += v8.z * hi1z;
      a7 += v9.z * lo2z;
      c7 += v9.z * hi2z;
      wi += cOut4;
      // input channel 4·ci + 3: weights of kernel columns 0, 1, 2
      let lo0w = w[wi];
      let hi0w = w[wi + 1u];
      let lo1w = w[wi + 1u * kxStride];
      let hi1w = w[wi + 1u * kxStride + 1u];
      let lo2w = w[wi + 2u * kxStride];
      let hi2w = w[wi + 2u * kxStride + 1u];
      a0 += v0.w * lo0w;
      c0 += v0.w * hi0w;
      a0 += v1.w * lo1w;
      c0 += v1.w * hi1w;
      a0 += v2.w * lo2w;
      c0 += v2.w * hi2w;
      a1 += v1.w * lo0w;
      c1 += v1.w * hi0w;
      a1 += v2.w * lo1w;
      c1 += v2.w * hi1w;
      a1 += v3.w * lo2w;
      c1 += v3.w * hi2w;
      a2 += v2.w * lo0w;
      c2 += v2.w * hi0w;
      a2 += v3.w * lo1w;
      c2 += v3.w * hi1w;
      a2 += v4.w * lo2w;
      c2 += v4.w * hi2w;
      a3 += v3.w * lo0w;
      c3 += v3.w * hi0w;
      a3 += v4.w * lo1w;
      c3 += v4.w * hi1w;
      a3 += v5.w * lo2w;
      c3 += v5.w * hi2w;
      a4 += v4.w * lo0w;
      c4 += v4.w * hi0w;
      a4 += v5.w * lo1w;
      c4 += v5.w * hi1w;
      a4 += v6.w * lo2w;
      c4 += v6.w * hi2w;
      a5 += v5.w * lo0w;
      c5 += v5.w * hi0w;
      a5 += v6.w * lo1w;
      c5 += v6.w * hi1w;
      a5 += v7.w * lo2w;
      c5 += v7.w * hi2w;
      a6 += v6.w * lo0w;
      c6 += v6.w * hi0w;
      a6 += v7.w * lo1w;
      c6 += v7.w * hi1w;
      a6 += v8.w * lo2w;
      c6 += v8.w * hi2w;
      a7 += v7.w * lo0w;
      c7 += v7.w * hi0w;
      a7 += v8.w * lo1w;
      c7 += v8.w * hi1w;
      a7 += v9.w * lo2w;
      c7 += v9.w * hi2w;
      wi += cOut4;
    }
  }
  store(nh, ox0, cOut4, co4, a0, c0);
  store(nh, ox0 + 1u, cOut4, co4, a1, c1);
  store(nh, ox0 + 2u, cOut4, co4, a2, c2);
  store(nh, ox0 + 3u, cOut4, co4, a3, c3);
  store(nh, ox0 + 4u, cOut4, co4, a4, c4);
  store(nh, ox0 + 5u, cOut4, co4, a5, c5);
  store(nh, ox0 + 6u, cOut4, co4, a6, c6);
  store(nh, ox0 + 7u, cOut4, co4, a7, c7);
}
