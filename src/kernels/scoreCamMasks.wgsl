// Score-CAM's batch: row r is the model input times the normalised, upsampled channel k = k0 + r of A.
//   a: [h, w, K] (the target layer's post-ReLU output, kept batch-1 forward)
//   input: [H, W, C] (the kept preprocessed model input)   x: [B, H, W, C]
// u = A[:, :, k] upsampled to H×W bilinearly with align_corners=True, as pytorch-grad-cam's
// torch.nn.UpsamplingBilinear2d (which is align_corners=True): output row y samples source row
// y·(h − 1)/(H − 1) (0 when H = 1), the two neighbours weighted as torch's upsample_bilinear2d does.
// m = (u − min u) / (max u − min u + 1e-8), min and max over the H×W image; x[r] = input · m, every
// channel. Rows past K (the padding rows of a short last chunk) are zeros.
// One workgroup per row: a strided pass finds min and max of u (tree reductions in workgroup memory),
// a second pass writes the masked input; u is computed in both (four reads and a few FMAs).

struct Params {
  rows: u32,
  k0: u32,
  channels: u32,
  srcH: u32,
  srcW: u32,
  dstH: u32,
  dstW: u32,
  inChannels: u32,
}

override WORKGROUP_SIZE: u32 = 256u;
const EPS = 1e-8;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> input: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

var<workgroup> lows: array<f32, WORKGROUP_SIZE>;
var<workgroup> highs: array<f32, WORKGROUP_SIZE>;

struct Tap {
  i0: u32,
  i1: u32,
  w1: f32,
}

// torch's area_pixel_compute_scale / compute_indices_weights_linear with align_corners=True, in f32.
fn tap(d: u32, inSize: u32, outSize: u32) -> Tap {
  let scale = select(0.0, f32(inSize - 1u) / f32(outSize - 1u), outSize > 1u);
  let src = scale * f32(d);
  let i0 = min(u32(src), inSize - 1u);
  let w1 = clamp(src - f32(i0), 0.0, 1.0);
  return Tap(i0, select(i0, i0 + 1u, i0 + 1u < inSize), w1);
}

fn upsampled(k: u32, pixel: u32) -> f32 {
  let ty = tap(pixel / p.dstW, p.srcH, p.dstH);
  let tx = tap(pixel % p.dstW, p.srcW, p.dstW);
  let r0 = ty.i0 * p.srcW;
  let r1 = ty.i1 * p.srcW;
  let top = (1.0 - tx.w1) * a[(r0 + tx.i0) * p.channels + k] + tx.w1 * a[(r0 + tx.i1) * p.channels + k];
  let bottom = (1.0 - tx.w1) * a[(r1 + tx.i0) * p.channels + k] + tx.w1 * a[(r1 + tx.i1) * p.channels + k];
  return (1.0 - ty.w1) * top + ty.w1 * bottom;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn scoreCamMasks(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The row (and so k) is uniform across the workgroup: every invocation reaches every barrier.
  let row = wg.x;
  let k = p.k0 + row;
  let pixels = p.dstH * p.dstW;
  let base = row * pixels * p.inChannels;
  if (row >= p.rows) {
    return;
  }
  if (k >= p.channels) {
    for (var i = lid; i < pixels * p.inChannels; i += WORKGROUP_SIZE) {
      x[base + i] = 0.0;
    }
    return;
  }
  var lo = 3.402823e38;
  var hi = -3.402823e38;
  for (var i = lid; i < pixels; i += WORKGROUP_SIZE) {
    let u = upsampled(k, i);
    lo = min(lo, u);
    hi = max(hi, u);
  }
  lows[lid] = lo;
  highs[lid] = hi;
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) {
      lows[lid] = min(lows[lid], lows[lid + stride]);
      highs[lid] = max(highs[lid], highs[lid + stride]);
    }
  }
  let low = workgroupUniformLoad(&lows[0]);
  let high = workgroupUniformLoad(&highs[0]);
  let range = high - low + EPS;
  for (var i = lid; i < pixels; i += WORKGROUP_SIZE) {
    let m = (upsampled(k, i) - low) / range;
    for (var c = 0u; c < p.inChannels; c++) {
      x[base + i * p.inChannels + c] = input[i * p.inChannels + c] * m;
    }
  }
}
