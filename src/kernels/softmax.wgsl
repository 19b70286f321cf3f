// Numerically stable softmax over the last axis: y = exp(x - max(x)) / sum(exp(x - max(x))).
//   x: [N, C]   y: [N, C]
// One workgroup per row; invocations stride over the row, then reduce max and sum in workgroup memory
// (a tree reduction, so the sum's rounding error grows with log2(WORKGROUP_SIZE), not with C).

struct Params {
  n: u32,
  c: u32,
}

override WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> scratch: array<f32, WORKGROUP_SIZE>;

fn reduceMax(lid: u32) -> f32 {
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) {
      scratch[lid] = max(scratch[lid], scratch[lid + stride]);
    }
  }
  return workgroupUniformLoad(&scratch[0]);
}

fn reduceSum(lid: u32) -> f32 {
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) {
      scratch[lid] += scratch[lid + stride];
    }
  }
  return workgroupUniformLoad(&scratch[0]);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The row index is uniform across the workgroup, so every invocation reaches every barrier.
  let row = min(wid.x, p.n - 1u);
  let base = row * p.c;
  var localMax = -3.402823e38;
  for (var i = lid; i < p.c; i += WORKGROUP_SIZE) {
    localMax = max(localMax, x[base + i]);
  }
  scratch[lid] = localMax;
  let rowMax = reduceMax(lid);

  var localSum = 0.0;
  for (var i = lid; i < p.c; i += WORKGROUP_SIZE) {
    localSum += exp(x[base + i] - rowMax);
  }
  workgroupBarrier();
  scratch[lid] = localSum;
  let total = reduceSum(lid);

  for (var i = lid; i < p.c; i += WORKGROUP_SIZE) {
    y[base + i] = exp(x[base + i] - rowMax) / total;
  }
}
