// Eigen-CAM pass 5 of 7: the top eigenpair (λ1, u) of the symmetric positive semi-definite Gram matrix G
// (n = order ≤ MAX_ORDER) by power iteration, in a single workgroup.
//   gram: [n, n] (exactly symmetric, see eigenGram.wgsl)   rowMeans: [positions]
//   vector: [n] the unit eigenvector u (all zeros when G = 0)   stats: EigenStats
// Scaling: the iteration multiplies by G / trace(G). trace(G) = Σλ ≥ λ1 ≥ 0, so every intermediate stays
// within [0, 1] whatever the scale of the activations (no overflow of ‖Gu‖²), and trace(G) = 0 means G = 0
// (λ1 = 0: u = 0, no division, no NaN).
// Start vector u_0 (deterministic): the direction the sign rule correlates with — the centred channel
// means m − mean(m) when G is over positions, all ones when G is over channels (X·1 = channels ·
// (m − mean(m))) — normalised, plus PERTURBATION · (a fixed hash of the index in [−1, 1]) / √n so that it
// is never exactly orthogonal to u (e.g. when m is constant). Power iteration keeps the sign of u's start
// component, so the result usually satisfies the sign rule already; eigenSign.wgsl enforces it.
// Step t (t = 1, 2, …): w = G·u_{t−1} / trace, u_t = w / ‖w‖, Δ_t = max_i |u_t[i] − u_{t−1}[i]|.
// Each matrix–vector product also yields the Rayleigh quotient λ1 ≈ trace · u_{t−1}ᵀw and Δ_{t−1} in the
// same reduction, so the loop stops one product after the step that converged:
//   Δ_{t−1} < TOLERANCE: converged = 1, u = u_{t−1}, iterations = t − 1 (the steps taken);
//   t − 1 = MAX_ITERATIONS: converged = 0, u = the last iterate, change = its Δ.
// λ1 is then the Rayleigh quotient of the returned u.
// Threads: invocation l owns rows l, l + WORKGROUP_SIZE, … (at most ROWS of them); u lives in workgroup
// memory, w in each invocation's registers. G is read by columns (w[i] = Σ_j G[j, i]·u[j], G symmetric) so
// that consecutive invocations read consecutive floats. Sums over n done once (trace, start vector) are
// computed by every invocation alike from read-only storage (uniform, no barrier); the per-step sums are
// two-level (GROUPS partial sums of GROUPS values each, then one) and Δ is an atomic max of the floats'
// bits (non-negative floats order like their bits). Workgroup memory is kept small: software adapters
// (SwiftShader) take seconds to compile a shader per few KB of it.

struct Params {
  positions: u32,
  channels: u32,
  order: u32,
  splits: u32,
  chunk: u32,
  positionsGram: u32, // 1: G = X·Xᵀ over positions (positions ≤ channels); 0: G = Xᵀ·X
}

struct EigenStats {
  iterations: u32,
  change: f32,
  lambda: f32,
  converged: u32,
}

const MAX_ORDER: u32 = 512u;
const PERTURBATION: f32 = 0.001;
/** Δ_0: no previous iterate. */
const NO_CHANGE_YET: f32 = 1e30;
/** WORKGROUP_SIZE = GROUPS · GROUPS. */
const GROUPS: u32 = 16u;
/** Rows per invocation: MAX_ORDER / WORKGROUP_SIZE. */
const ROWS: u32 = 2u;

override WORKGROUP_SIZE: u32;
override MAX_ITERATIONS: u32;
override TOLERANCE: f32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gram: array<f32>;
@group(0) @binding(2) var<storage, read> rowMeans: array<f32>;
@group(0) @binding(3) var<storage, read_write> vector: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: EigenStats;

var<workgroup> u: array<f32, MAX_ORDER>;
/** (‖w‖², u·w) per invocation, then per group of GROUPS invocations. */
var<workgroup> partial: array<vec2<f32>, WORKGROUP_SIZE>;
var<workgroup> group: array<vec2<f32>, GROUPS>;
/** Δ of the step just taken, as f32 bits (atomicMax over invocations). */
var<workgroup> changeBits: atomic<u32>;
/** (‖w‖², u·w, Δ of the previous step) for everyone. */
var<workgroup> total: vec3<f32>;

/** A fixed pseudo-random number in [−1, 1] for index i (PCG hash). */
fn hashUnit(i: u32) -> f32 {
  var x = i * 747796405u + 2891336453u;
  x = ((x >> ((x >> 28u) + 4u)) ^ x) * 277803737u;
  x = (x >> 22u) ^ x;
  return f32(x) * (2.0 / 4294967296.0) - 1.0;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn eigenPowerIteration(@builtin(local_invocation_index) lid: u32) {
  let n = p.order;
  let overPositions = p.positionsGram != 0u;

  // trace(G) and the start direction's mean and norm, by every invocation alike.
  var trace = 0.0;
  var meanOfMeans = 0.0;
  for (var j = 0u; j < n; j++) {
    trace += gram[j * n + j];
    if (overPositions) {
      meanOfMeans += rowMeans[j];
    }
  }
  meanOfMeans /= f32(n);
  var startNorm2 = f32(n);
  if (overPositions) {
    startNorm2 = 0.0;
    for (var j = 0u; j < n; j++) {
      let s = rowMeans[j] - meanOfMeans;
      startNorm2 += s * s;
    }
  }
  let startScale = select(0.0, inverseSqrt(startNorm2), startNorm2 > 0.0);
  let perturbation = PERTURBATION * inverseSqrt(f32(n));
  for (var i = lid; i < n; i += WORKGROUP_SIZE) {
    let s = select(1.0, rowMeans[i] - meanOfMeans, overPositions);
    u[i] = s * startScale + perturbation * hashUnit(i);
  }

  var steps = 0u;
  var change = 0.0;
  var lambdaScaled = 0.0;
  var converged = false;
  var zero = !(trace > 0.0);
  if (!zero) {
    let invTrace = 1.0 / trace;
    if (lid == 0u) {
      atomicStore(&changeBits, bitcast<u32>(NO_CHANGE_YET));
    }
    var w: array<f32, ROWS>;
    loop {
      workgroupBarrier(); // every u[j] and Δ of the previous step is written
      var acc = vec2<f32>(0.0);
      for (var row = 0u; row < ROWS; row++) {
        let i = lid + row * WORKGROUP_SIZE;
        if (i < n) {
          var s = 0.0;
          for (var j = 0u; j < n; j++) {
            s += gram[j * n + i] * u[j];
          }
          let wi = s * invTrace;
          w[row] = wi;
          acc += vec2<f32>(wi * wi, wi * u[i]);
        }
      }
      partial[lid] = acc;
      workgroupBarrier();
      if (lid < GROUPS) {
        var g = vec2<f32>(0.0);
        for (var k = 0u; k < GROUPS; k++) {
          g += partial[lid * GROUPS + k];
        }
        group[lid] = g;
      }
      workgroupBarrier();
      if (lid == 0u) {
        var t = vec2<f32>(0.0);
        for (var k = 0u; k < GROUPS; k++) {
          t += group[k];
        }
        total = vec3<f32>(t, bitcast<f32>(atomicLoad(&changeBits)));
        atomicStore(&changeBits, 0u);
      }
      let r = workgroupUniformLoad(&total);
      change = r.z;
      lambdaScaled = r.y;
      if (!(r.x > 0.0)) {
        // G·u = 0 with G ≠ 0 would need u in G's null space; treated as λ1 = 0.
        zero = true;
        break;
      }
      if (change < TOLERANCE) {
        converged = true;
        break;
      }
      if (steps >= MAX_ITERATIONS) {
        break;
      }
      steps += 1u;
      let scale = inverseSqrt(r.x);
      var localChange = 0.0;
      for (var row = 0u; row < ROWS; row++) {
        let i = lid + row * WORKGROUP_SIZE;
        if (i < n) {
          let next = w[row] * scale;
          localChange = max(localChange, abs(next - u[i]));
          u[i] = next;
        }
      }
      atomicMax(&changeBits, bitcast<u32>(localChange));
    }
  }

  for (var i = lid; i < n; i += WORKGROUP_SIZE) {
    vector[i] = select(u[i], 0.0, zero);
  }
  if (lid == 0u) {
    stats.iterations = steps;
    stats.change = select(change, 0.0, zero);
    stats.lambda = select(max(lambdaScaled, 0.0) * trace, 0.0, zero);
    stats.converged = select(u32(converged), 1u, zero);
  }
}
