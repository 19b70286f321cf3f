// Backward of the 'caffe' preprocessing (preprocessImage.wgsl after its resize: RGB → BGR, minus the
// ImageNet means): from the gradient w.r.t. the preprocessed input to the gradient w.r.t. the RGB image
// at the model's size, in 0..255 units. The means drop out and the channel flip is its own transpose:
//   out[p, c] = (ACCUMULATE ? out[p, c] : 0) + Σ_r rowWeights[r] · g[r, p, 2 − c]
//   g: [R, P, 3] in B, G, R order (P = H·W: the model input's pixels)   rowWeights: [R]
//   out: [P, 3] in R, G, B order
// The R rows are summed with their weights: a batch of SmoothGrad samples (1/N each) or of Integrated
// Gradients path points (the Riemann sum's weights; the product with the input minus the baseline is
// the caller's). ACCUMULATE adds to what out holds, so a batch split over several submissions sums
// into one gradient.
// One invocation per pixel (its 3 channels), the rows summed in order r = 0 .. R − 1, then added to out.

struct Params {
  pixels: u32,
  rows: u32,
}

override WORKGROUP_SIZE: u32 = 64u;
override ACCUMULATE: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> rowWeights: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn preprocessImageBackward(@builtin(global_invocation_id) gid: vec3u) {
  let px = gid.x;
  if (px >= p.pixels) {
    return;
  }
  // R, G, B of this pixel: channels 2, 1, 0 of each row of g.
  var rgb = vec3f(0.0);
  for (var r = 0u; r < p.rows; r++) {
    let i = 3u * (r * p.pixels + px);
    rgb += rowWeights[r] * vec3f(g[i + 2u], g[i + 1u], g[i]);
  }
  let o = 3u * px;
  if (ACCUMULATE) {
    rgb += vec3f(out[o], out[o + 1u], out[o + 2u]);
  }
  out[o] = rgb.x;
  out[o + 1u] = rgb.y;
  out[o + 2u] = rgb.z;
}
