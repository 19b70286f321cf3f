// ReLU and ÷max of maps computed elsewhere (an eigen projection, an average of several layers' or
// augmentations' maps), with gradcamHeatmap.wgsl's rule: heat = max(raw, 0) / max(max(raw), 0), all
// zero (never NaN) when the map has no positive value.
//   raw, heat: [R, P]   stats: [R] the max per row
// One workgroup per row.

struct Params {
  positions: u32,
}

override WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> raw: array<f32>;
@group(0) @binding(2) var<storage, read_write> heat: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;

var<workgroup> scratch: array<f32, WORKGROUP_SIZE>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn camNormalize(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let out = wid.y * p.positions;
  var localMax = 0.0;
  for (var i = lid; i < p.positions; i += WORKGROUP_SIZE) {
    localMax = max(localMax, raw[out + i]);
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
    stats[wid.y] = top;
  }
  for (var i = lid; i < p.positions; i += WORKGROUP_SIZE) {
    heat[out + i] = select(0.0, max(raw[out + i], 0.0) / top, top > 0.0);
  }
}
