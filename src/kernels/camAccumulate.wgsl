// Adds a scaled, bilinearly resized (and optionally mirrored back) map into an accumulator:
//   acc[r, y, x] (+)= scale · bilinear(src[r])(y, FLIP_X ? W − 1 − x : x)
// Several target layers' maps are averaged at the model's input size this way (as pytorch-grad-cam
// aggregates layers, after cv2.resize, whose half-pixel bilinear the table encodes), and aug-smooth's
// maps of a mirrored input are mirrored back before averaging. ACCUMULATE false starts the sum.
//   src: [R, srcH, srcW]   table: [W + H] × (i0, i1, w1 bits) as for preprocessImage (bilinear)
//   acc: [R, H, W]

struct Params {
  srcW: u32,
  srcH: u32,
  dstW: u32,
  dstH: u32,
  scaleBits: u32,
}

override WORKGROUP_X: u32 = 8u;
override WORKGROUP_Y: u32 = 8u;
override FLIP_X: bool = false;
override ACCUMULATE: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(WORKGROUP_X, WORKGROUP_Y)
fn camAccumulate(@builtin(global_invocation_id) gid: vec3u) {
  let x = gid.x;
  let y = gid.y;
  let row = gid.z;
  if (x >= p.dstW || y >= p.dstH) {
    return;
  }
  var sx = x;
  if (FLIP_X) {
    sx = p.dstW - 1u - x;
  }
  let tx = 3u * sx;
  let ty = 3u * (p.dstW + y);
  let x0 = table[tx];
  let x1 = table[tx + 1u];
  let fx = bitcast<f32>(table[tx + 2u]);
  let y0 = table[ty];
  let y1 = table[ty + 1u];
  let fy = bitcast<f32>(table[ty + 2u]);
  let base = row * p.srcW * p.srcH;
  let top = mix(src[base + y0 * p.srcW + x0], src[base + y0 * p.srcW + x1], fx);
  let bottom = mix(src[base + y1 * p.srcW + x0], src[base + y1 * p.srcW + x1], fx);
  let v = bitcast<f32>(p.scaleBits) * mix(top, bottom, fy);
  let o = (row * p.dstH + y) * p.dstW + x;
  if (ACCUMULATE) {
    acc[o] += v;
  } else {
    acc[o] = v;
  }
}
