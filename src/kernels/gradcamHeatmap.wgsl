// Grad-CAM map, as the Keras recipe computes it:
//   raw[i]  = mean over channels k of A[i, k] · α_k            (the unnormalised map)
//   heat[i] = max(raw[i], 0) / max_j max(raw[j], 0)            (0 everywhere when that max is 0:
//                                                               never NaN, the host warns instead)
//   a: [P, C] (the target layer's post-ReLU output)   alpha: [C]   raw, heat: [P]   stats: [1] the max
// One workgroup does it all: the map has at most a few ten thousand positions, and keeping the max
// reduction in one workgroup avoids a second pass and a readback.

struct Params {
  positions: u32,
  channels: u32,
}

override WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> alpha: array<f32>;
@group(0) @binding(3) var<storage, read_write> raw: array<f32>;
@group(0) @binding(4) var<storage, read_write> heat: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;

var<workgroup> scratch: array<f32, WORKGROUP_SIZE>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn gradcamHeatmap(@builtin(local_invocation_index) lid: u32) {
  var localMax = 0.0;
  for (var i = lid; i < p.positions; i += WORKGROUP_SIZE) {
    var sum = 0.0;
    let base = i * p.channels;
    for (var k = 0u; k < p.channels; k++) {
      sum += a[base + k] * alpha[k];
    }
    let r = sum / f32(p.channels);
    raw[i] = r;
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
    stats[0] = top;
  }
  // Each invocation rereads only the raw values it wrote itself.
  for (var i = lid; i < p.positions; i += WORKGROUP_SIZE) {
    heat[i] = select(0.0, max(raw[i], 0.0) / top, top > 0.0);
  }
}
