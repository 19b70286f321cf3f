// A CAM map per target row, and its normalisation:
//   raw[r, i]  = SCALE · Σ_k term(A[i, k], G[r, i, k], w[r, k])
//   heat[r, i] = max(raw, 0) / max_j max(raw[r, j], 0)    (0 everywhere when that max is 0:
//                                                          never NaN, the host warns instead)
// with term (TERM):  0 weighted   w·A          (Grad-CAM, Grad-CAM++, XGrad-CAM, Score-/Ablation-CAM)
//                    1 hirescam   G·A
//                    2 elementwise ReLU(G·A)  (gradcam-elementwise)
//                    3 layercam   ReLU(G)·A
// SCALE is 1/C for Grad-CAM (the recipe's mean over channels) and 1 for the others (pytorch-grad-cam sums).
//   a: [P, C]   g: [R, P, C]   w: [R, C]   raw, heat: [R, P]   stats: [R] the max per row
// One workgroup per row: the map has at most a few ten thousand positions, and keeping the max
// reduction in one workgroup avoids a second pass and a readback.

struct Params {
  positions: u32,
  channels: u32,
}

override WORKGROUP_SIZE: u32 = 256u;
override TERM: u32 = 0u;
override MEAN_OVER_CHANNELS: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> alpha: array<f32>;
@group(0) @binding(4) var<storage, read_write> raw: array<f32>;
@group(0) @binding(5) var<storage, read_write> heat: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;

var<workgroup> scratch: array<f32, WORKGROUP_SIZE>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn gradcamHeatmap(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let row = wid.y;
  let out = row * p.positions;
  let gRow = out * p.channels;
  let wRow = row * p.channels;
  var localMax = 0.0;
  for (var i = lid; i < p.positions; i += WORKGROUP_SIZE) {
    var sum = 0.0;
    let base = i * p.channels;
    for (var k = 0u; k < p.channels; k++) {
      let ak = a[base + k];
      if (TERM == 0u) {
        sum += ak * alpha[wRow + k];
      } else {
        let gk = g[gRow + base + k];
        if (TERM == 1u) {
          sum += gk * ak;
        } else if (TERM == 2u) {
          sum += max(gk * ak, 0.0);
        } else {
          sum += max(gk, 0.0) * ak;
        }
      }
    }
    var r = sum;
    if (MEAN_OVER_CHANNELS) {
      r = sum / f32(p.channels);
    }
    raw[out + i] = r;
    localMax = max(localMax, r);
  }
  scratch[lid] = localMax;
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) {
      scratch[lid] = max(scratch[lid], scratch[lid + stride]);
    }
  }
  let top = workgroupUniformLoad(&scratch[0]);
  if (lid == 0u) {
    stats[row] = top;
  }
  // Each invocation rereads only the raw values it wrote itself.
  for (var i = lid; i < p.positions; i += WORKGROUP_SIZE) {
    heat[out + i] = select(0.0, max(raw[out + i], 0.0) / top, top > 0.0);
  }
}
