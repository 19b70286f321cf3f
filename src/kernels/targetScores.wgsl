// The target score of each row of a batched forward: s = Σ_c t_c · y[row, c], where y is the softmax
// output or the logits (whichever buffer is bound) and t the target's coefficients (sign on each
// target class, 0 elsewhere: s = sign · Σ_{c ∈ classes} score_c).
//   y: [B, C]   t: [C]   scores: [S] → scores[k0 + r] for r < valid (padding rows are not written)
// One invocation per row; the sum runs over c in order, in f32.

struct Params {
  rows: u32,
  classes: u32,
  k0: u32,
  valid: u32,
}

override WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> t: array<f32>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn targetScores(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  if (r >= min(p.rows, p.valid)) {
    return;
  }
  var s = 0.0;
  for (var c = 0u; c < p.classes; c++) {
    s += t[c] * y[r * p.classes + c];
  }
  scores[p.k0 + r] = s;
}
