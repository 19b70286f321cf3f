// Image → VGG input, as Keras does it: resize (nearest like PIL, or bilinear), RGB → BGR, subtract the
// ImageNet channel means (Keras `preprocess_input`, 'caffe' mode). Output float32 NHWC, N = 1.
//   src:   [srcH, srcW] RGBA8, one u32 per pixel, byte 0 = R (ImageData / PNG decoder layout)
//   table: [dstW + dstH] × (i0, i1, w1 as f32 bits): for each output column, then each output row, the
//          two source indices and the weight of the second. The host computes it in float64, exactly as
//          PIL accumulates its sampling positions, so the nearest path picks PIL's pixels bit for bit.
//   y:     [dstH, dstW, 3] in B, G, R order
// With nearest tables w1 = 0 and i0 = i1, so the blend below returns the source byte exactly and the
// subtraction is the same single f32 rounding numpy does on a float32 array.

struct Params {
  srcW: u32,
  srcH: u32,
  dstW: u32,
  dstH: u32,
}

override WORKGROUP_X: u32 = 8u;
override WORKGROUP_Y: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

const MEAN_BGR = vec3f(103.939, 116.779, 123.68);

fn rgb(x: u32, yy: u32) -> vec3f {
  let v = src[yy * p.srcW + x];
  return vec3f(f32(v & 0xffu), f32((v >> 8u) & 0xffu), f32((v >> 16u) & 0xffu));
}

@compute @workgroup_size(WORKGROUP_X, WORKGROUP_Y)
fn preprocessImage(@builtin(global_invocation_id) gid: vec3u) {
  let ox = gid.x;
  let oy = gid.y;
  if (ox >= p.dstW || oy >= p.dstH) {
    return;
  }
  let tx = 3u * ox;
  let ty = 3u * (p.dstW + oy);
  let x0 = table[tx];
  let x1 = table[tx + 1u];
  let wx = bitcast<f32>(table[tx + 2u]);
  let y0 = table[ty];
  let y1 = table[ty + 1u];
  let wy = bitcast<f32>(table[ty + 2u]);
  let top = (1.0 - wx) * rgb(x0, y0) + wx * rgb(x1, y0);
  let bottom = (1.0 - wx) * rgb(x0, y1) + wx * rgb(x1, y1);
  let c = (1.0 - wy) * top + wy * bottom;
  let o = 3u * (oy * p.dstW + ox);
  y[o] = c.b - MEAN_BGR.x;
  y[o + 1u] = c.g - MEAN_BGR.y;
  y[o + 2u] = c.r - MEAN_BGR.z;
}
