// Eigen-CAM pass 6 of 7: the projection on the first principal direction, before the sign rule.
//   positionsGram (G = X·Xᵀ, vector = u, the top left singular vector of X):
//       projection[i] = σ1 · u[i], σ1 = √λ1 (stats.lambda; 0 when G = 0, so the projection is 0).
//   otherwise (G = Xᵀ·X, vector = v1, the top right singular vector of X):
//       projection[i] = (X·v1)[i] = Σ_k (M[i, k] − μ[k]) · v1[k].
//   matrix: [positions, channels] row-major   columnMeans: [channels]   vector: [order]
//   stats: EigenStats (eigenPowerIteration.wgsl)   projection: [positions]
// Threads: one invocation per position.

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

override WORKGROUP_SIZE: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> matrix: array<f32>;
@group(0) @binding(2) var<storage, read> columnMeans: array<f32>;
@group(0) @binding(3) var<storage, read> vector: array<f32>;
@group(0) @binding(4) var<storage, read> stats: EigenStats;
@group(0) @binding(5) var<storage, read_write> projection: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn eigenProject(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= p.positions) {
    return;
  }
  if (p.positionsGram != 0u) {
    projection[i] = sqrt(max(stats.lambda, 0.0)) * vector[i];
    return;
  }
  let base = i * p.channels;
  var sum = 0.0;
  for (var k = 0u; k < p.channels; k++) {
    sum += (matrix[base + k] - columnMeans[k]) * vector[k];
  }
  projection[i] = sum;
}
