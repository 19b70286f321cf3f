// Gradient of the Grad-CAM score with respect to the logits z, for one image.
//   p: [C] softmax probabilities   dz: [C]   stats: [2] u32 (chosen class, written by invocation 0)
// score 'prob' (the Keras recipe: the softmax output of class c): dz_j = p_c (δ_cj − p_j).
// score 'logit' (pre-softmax, as pytorch-grad-cam):                 dz_j = δ_cj.
// Class 0xffffffff means "the top-1 class", found here as the first maximum so that no readback is
// needed between the forward and backward passes. Every invocation finds it (C reads each, C = 1000).

struct Params {
  c: u32,
  classIndex: u32,
}

// The class index that asks for the top-1 class; the TS wrapper reads it from this file.
const TOP_CLASS: u32 = 0xffffffffu;

override WORKGROUP_SIZE: u32 = 64u;
override SCORE_PROB: bool = true;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> p: array<f32>;
@group(0) @binding(2) var<storage, read_write> dz: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<u32>;

fn chosenClass() -> u32 {
  if (params.classIndex != TOP_CLASS) {
    return params.classIndex;
  }
  var best = 0u;
  for (var j = 1u; j < params.c; j++) {
    if (p[j] > p[best]) {
      best = j;
    }
  }
  return best;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmaxScoreBackward(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= params.c) {
    return;
  }
  let c = chosenClass();
  if (j == 0u) {
    stats[0] = c;
  }
  let isC = select(0.0, 1.0, j == c);
  if (SCORE_PROB) {
    dz[j] = p[c] * (isC - p[j]);
  } else {
    dz[j] = isC;
  }
}
