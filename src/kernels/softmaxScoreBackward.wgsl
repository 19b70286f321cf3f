// Gradient of the CAM target score with respect to the logits z, for R target rows over one image, or
// over one forward each (PER_ROW_FORWARD: a batch of inputs, as SmoothGrad's noisy copies or Integrated
// Gradients' path points, each with its own probabilities).
//   p: [C] softmax probabilities ([R, C] when PER_ROW_FORWARD)   coef: [R, C] target coefficients t   ranks: [R] u32
//   dz: [R, C]   chosen: [R] u32 (the class a ranked row resolved to; NOT_RANKED for the others)
// A row's score is S = Σ_c t_c · score_c: a class (t = e_c), several classes (t = 1 on each: the sum of
// their scores), a counterfactual (t = −e_c: what lowers the class, as in the Grad-CAM paper).
// score 'prob' (the Keras recipe: score_c = p_c):   dz_j = Σ_c t_c p_c (δ_cj − p_j) = t_j p_j − p_j Σ_c t_c p_c.
// score 'logit' (pre-softmax, as pytorch-grad-cam): dz_j = t_j.
// A row with ranks[r] = k ≠ NOT_RANKED targets the k-th most probable class (0: the top-1), found here
// (first maximum on ties, as argmax) so that no readback is needed between forward and backward; its
// coefficients are ignored. Every invocation of the row finds it: (k + 1)·C reads, C = 1000, k < 8.
// With PER_ROW_FORWARD every row reads its own row of p, ranks included (its own top-k).

struct Params {
  c: u32,
  rows: u32,
}

// The rank value meaning "use the coefficients"; the TS wrapper reads it from this file.
const NOT_RANKED: u32 = 0xffffffffu;

override WORKGROUP_SIZE: u32 = 64u;
override SCORE_PROB: bool = true;
override PER_ROW_FORWARD: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> p: array<f32>;
@group(0) @binding(2) var<storage, read> coef: array<f32>;
@group(0) @binding(3) var<storage, read> ranks: array<u32>;
@group(0) @binding(4) var<storage, read_write> dz: array<f32>;
@group(0) @binding(5) var<storage, read_write> chosen: array<u32>;

// True when class a comes before class b in descending probability (lower index first on ties), in
// the row of p that starts at pBase.
fn before(pBase: u32, a: u32, b: u32) -> bool {
  let pa = p[pBase + a];
  let pb = p[pBase + b];
  return pa > pb || (pa == pb && a < b);
}

// The class of the given rank: repeated argmax over the classes after the previous one in that order.
fn rankedClass(pBase: u32, rank: u32) -> u32 {
  var prev = NOT_RANKED;
  for (var r = 0u; r <= rank; r++) {
    var best = NOT_RANKED;
    for (var j = 0u; j < params.c; j++) {
      if (prev != NOT_RANKED && !before(pBase, prev, j)) {
        continue;
      }
      if (best == NOT_RANKED || before(pBase, j, best)) {
        best = j;
      }
    }
    prev = best;
  }
  return prev;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmaxScoreBackward(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  let row = gid.y;
  if (j >= params.c || row >= params.rows) {
    return;
  }
  let base = row * params.c;
  // This row's probabilities: its own forward's, or the one shared row.
  let pBase = select(0u, base, PER_ROW_FORWARD);
  let rank = ranks[row];
  var cls = NOT_RANKED;
  if (rank != NOT_RANKED) {
    cls = rankedClass(pBase, rank);
  }
  if (j == 0u) {
    chosen[row] = cls;
  }
  var tj = coef[base + j];
  if (cls != NOT_RANKED) {
    tj = select(0.0, 1.0, j == cls);
  }
  if (SCORE_PROB) {
    var s = 0.0;
    if (cls != NOT_RANKED) {
      s = p[pBase + cls];
    } else {
      for (var c = 0u; c < params.c; c++) {
        s += coef[base + c] * p[pBase + c];
      }
    }
    let pj = p[pBase + j];
    dz[base + j] = tj * pj - pj * s;
  } else {
    dz[base + j] = tj;
  }
}
