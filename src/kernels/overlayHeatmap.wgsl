// The Keras recipe's overlay, as OpenCV computes it:
//   h   = cv2.resize(heatmap, (W, H))        bilinear, half-pixel centres, float32
//   u   = uint8(255 · h)                     truncation, as numpy's astype
//   jet = applyColorMap(u, COLORMAP_JET)     (or another 256-entry colormap in `lut`)
//   out = saturate(round(jet · α + img))     blend 0, the recipe's: cv2.imwrite rounds half to even
//   out = uint8((1 − α) · img + α · jet)     blend 1, normalised as pytorch-grad-cam's show_cam_on_image
//                                            (without its final division by the image's max)
//   heat: [h, w] f32   table: [W + H] × (i0, i1, w1 bits) as for preprocessImage (bilinear)
//   lut: [256] u32 (R | G << 8 | B << 16)   img, out: [H, W] RGBA8 as u32 (alpha copied from img)
// One invocation per output pixel. α and the blend are uniforms, so a slider moves without a new pipeline.

struct Params {
  dstW: u32,
  dstH: u32,
  srcW: u32,
  alphaBits: u32,
  blend: u32,
}

override WORKGROUP_X: u32 = 8u;
override WORKGROUP_Y: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> heat: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read> lut: array<u32>;
@group(0) @binding(4) var<storage, read> img: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<u32>;

fn channel(v: u32, shift: u32) -> f32 {
  return f32((v >> shift) & 0xffu);
}

@compute @workgroup_size(WORKGROUP_X, WORKGROUP_Y)
fn overlayHeatmap(@builtin(global_invocation_id) gid: vec3u) {
  let x = gid.x;
  let y = gid.y;
  if (x >= p.dstW || y >= p.dstH) {
    return;
  }
  let tx = 3u * x;
  let ty = 3u * (p.dstW + y);
  let x0 = table[tx];
  let x1 = table[tx + 1u];
  let fx = bitcast<f32>(table[tx + 2u]);
  let y0 = table[ty];
  let y1 = table[ty + 1u];
  let fy = bitcast<f32>(table[ty + 2u]);
  // OpenCV order: each source row horizontally, then the two rows vertically.
  let row0 = heat[y0 * p.srcW + x0] * (1.0 - fx) + heat[y0 * p.srcW + x1] * fx;
  let row1 = heat[y1 * p.srcW + x0] * (1.0 - fx) + heat[y1 * p.srcW + x1] * fx;
  let h = row0 * (1.0 - fy) + row1 * fy;
  let u = u32(clamp(255.0 * h, 0.0, 255.0));
  let jet = lut[u];
  let pixel = img[y * p.dstW + x];
  let alpha = bitcast<f32>(p.alphaBits);
  let colour = vec3f(channel(jet, 0u), channel(jet, 8u), channel(jet, 16u));
  let image = vec3f(channel(pixel, 0u), channel(pixel, 8u), channel(pixel, 16u));
  var rgb: vec3f;
  if (p.blend == 0u) {
    rgb = clamp(round(colour * alpha + image), vec3f(0.0), vec3f(255.0));
  } else {
    rgb = clamp(floor((1.0 - alpha) * image + alpha * colour), vec3f(0.0), vec3f(255.0));
  }
  let v = vec3u(rgb);
  out[y * p.dstW + x] = v.x | (v.y << 8u) | (v.z << 16u) | (pixel & 0xff000000u);
}
