// Eigen-CAM pass 7 of 7: the sign rule. A singular vector's sign is arbitrary; we fix it so that the
// projection correlates non-negatively with the channel mean of each position:
//   Σ_i projection[i] · m[i] ≥ 0,  m[i] = mean over k of M[i, k] (rowMeans, uncentred).
// The projection sums to 0 over positions, so this equals Σ_i projection[i] · (m[i] − m[0]), which is what
// is computed: the shift by m[0] keeps the rounding of Σ projection from being amplified by a large mean(m).
// When the sum is negative every value is negated in place; an exact 0 (e.g. an all-zero projection)
// leaves it as is.
//   rowMeans: [positions]   projection: [positions], read and rewritten
// Threads: one workgroup; invocation l owns positions l, l + WORKGROUP_SIZE, …

struct Params {
  positions: u32,
  channels: u32,
  order: u32,
  splits: u32,
  chunk: u32,
  positionsGram: u32, // 1: G = X·Xᵀ over positions (positions ≤ channels); 0: G = Xᵀ·X
}

override WORKGROUP_SIZE: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rowMeans: array<f32>;
@group(0) @binding(2) var<storage, read_write> projection: array<f32>;

/** WORKGROUP_SIZE = GROUPS · GROUPS: the sum is two-level (GROUPS partial sums of GROUPS values each). */
const GROUPS: u32 = 16u;

var<workgroup> partial: array<f32, WORKGROUP_SIZE>;
var<workgroup> group: array<f32, GROUPS>;
var<workgroup> total: f32;

@compute @workgroup_size(WORKGROUP_SIZE)
fn eigenSign(@builtin(local_invocation_index) lid: u32) {
  let shift = rowMeans[0];
  var acc = 0.0;
  for (var i = lid; i < p.positions; i += WORKGROUP_SIZE) {
    acc += projection[i] * (rowMeans[i] - shift);
  }
  partial[lid] = acc;
  workgroupBarrier();
  if (lid < GROUPS) {
    var g = 0.0;
    for (var k = 0u; k < GROUPS; k++) {
      g += partial[lid * GROUPS + k];
    }
    group[lid] = g;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var t = 0.0;
    for (var k = 0u; k < GROUPS; k++) {
      t += group[k];
    }
    total = t;
  }
  let correlation = workgroupUniformLoad(&total);
  if (correlation < 0.0) {
    // Each invocation rewrites only the positions it read.
    for (var i = lid; i < p.positions; i += WORKGROUP_SIZE) {
      projection[i] = -projection[i];
    }
  }
}
