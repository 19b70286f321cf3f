// Channel weights of the perturbation CAMs from the K perturbed target scores s_k.
//   scores: [K + 1] (scores[K] = s, the unperturbed score; AblationCAM only)   w: [K]
//   stats: [2] u32 = (bits of s, flags); flags bit 0: s is 0 or not finite (AblationCAM), bit 1: some s_k
//   is not finite.
// ABLATION (AblationCAM, pytorch-grad-cam's (original − ablated) / original): w_k = (s − s_k) / s; the
//   ratio does not depend on the score's sign. When s is 0 (or not finite) the ratio is undefined:
//   w = 0 and flags bit 0 is set.
// otherwise (Score-CAM): w = softmax over k of s_k (max subtracted first).
// One workgroup; invocations stride over k, max and sum are tree reductions in workgroup memory.

struct Params {
  channels: u32,
}

override WORKGROUP_SIZE: u32 = 256u;
override ABLATION: bool = false;

const S_UNUSABLE: u32 = 1u;
const SCORE_NOT_FINITE: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<u32>;

var<workgroup> scratch: array<f32, WORKGROUP_SIZE>;
var<workgroup> bad: atomic<u32>;

fn finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

fn reduce(lid: u32, isMax: bool) -> f32 {
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) {
      scratch[lid] = select(scratch[lid] + scratch[lid + stride], max(scratch[lid], scratch[lid + stride]), isMax);
    }
  }
  return workgroupUniformLoad(&scratch[0]);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn channelScoreWeights(@builtin(local_invocation_index) lid: u32) {
  let n = p.channels;
  if (lid == 0u) {
    atomicStore(&bad, 0u);
  }
  workgroupBarrier();
  for (var k = lid; k < n; k += WORKGROUP_SIZE) {
    if (!finite(scores[k])) {
      atomicOr(&bad, SCORE_NOT_FINITE);
    }
  }
  if (ABLATION) {
    let s = scores[n];
    let usable = s != 0.0 && finite(s);
    for (var k = lid; k < n; k += WORKGROUP_SIZE) {
      w[k] = select(0.0, (s - scores[k]) / s, usable);
    }
    workgroupBarrier();
    if (lid == 0u) {
      stats[0] = bitcast<u32>(s);
      stats[1] = atomicLoad(&bad) | select(S_UNUSABLE, 0u, usable);
    }
    return;
  }
  var localMax = -3.402823e38;
  for (var k = lid; k < n; k += WORKGROUP_SIZE) {
    localMax = max(localMax, scores[k]);
  }
  scratch[lid] = localMax;
  let top = reduce(lid, true);
  var localSum = 0.0;
  for (var k = lid; k < n; k += WORKGROUP_SIZE) {
    localSum += exp(scores[k] - top);
  }
  workgroupBarrier();
  scratch[lid] = localSum;
  let total = reduce(lid, false);
  for (var k = lid; k < n; k += WORKGROUP_SIZE) {
    w[k] = exp(scores[k] - top) / total;
  }
  workgroupBarrier();
  if (lid == 0u) {
    stats[0] = 0u;
    stats[1] = atomicLoad(&bad);
  }
}
