// CPU float64 reference for the Eigen-CAM projection (pytorch-grad-cam's get_2d_projection), by an
// independent method: a one-sided (Hestenes) Jacobi SVD, not power iteration.
//   matrix M: [P, K] row-major (P positions, K channels)
//   X = M − 1·μᵀ, μ[k] = mean over i of M[i, k]
//   projection[i] = (X·v1)[i], v1 the first right singular vector of X (so projection = σ1·u1)
//   sign rule: Σ_i projection[i]·m[i] ≥ 0 with m[i] = mean over k of M[i, k]; since Σ_i projection[i] = 0
//   this is evaluated as Σ_i projection[i]·(m[i] − mean(m)); negated when negative; 0 stays as is.
// Jacobi works on the smaller side: the n = min(P, K) columns of A = X (P > K) or of A = Xᵀ (P ≤ K) are
// rotated pairwise until mutually orthogonal (A·J = B); then σ_j = ‖b_j‖ and
//   P > K:  X·J = B, so X·v1 = b_j* (j* the largest column);
//   P ≤ K:  Xᵀ·J = B, so X = J·Σ·Uᵀ, the left singular vectors of X are J's columns: X·v1 = σ1·J[:, j*].
import type { EigenShape } from './eigenProjection.js';

export interface EigenProjectionRef {
  projection: Float64Array;
  /** All min(P, K) singular values of X, descending. */
  singularValues: Float64Array;
}

/** X = M − column means, as float64 rows. */
export function centredRef(s: EigenShape, matrix: ArrayLike<number>): Float64Array[] {
  const { positions: P, channels: K } = s;
  const mean = new Float64Array(K);
  for (let i = 0; i < P; i++) for (let k = 0; k < K; k++) mean[k] += matrix[i * K + k];
  for (let k = 0; k < K; k++) mean[k] /= P;
  return Array.from({ length: P }, (_, i) => Float64Array.from({ length: K }, (_, k) => matrix[i * K + k] - mean[k]));
}

/** m[i] = mean over channels of M[i, k] (uncentred). */
export function channelMeansRef(s: EigenShape, matrix: ArrayLike<number>): Float64Array {
  const m = new Float64Array(s.positions);
  for (let i = 0; i < s.positions; i++) {
    let sum = 0;
    for (let k = 0; k < s.channels; k++) sum += matrix[i * s.channels + k];
    m[i] = sum / s.channels;
  }
  return m;
}

/** Σ_i projection[i]·(m[i] − mean(m)): the sign rule wants it ≥ 0. */
export function signCorrelation(projection: ArrayLike<number>, m: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < m.length; i++) mean += m[i];
  mean /= m.length;
  let sum = 0;
  for (let i = 0; i < m.length; i++) sum += projection[i] * (m[i] - mean);
  return sum;
}

/** Applies the sign rule in place. */
export function applySignRule(projection: Float64Array, m: ArrayLike<number>): Float64Array {
  if (signCorrelation(projection, m) < 0) for (let i = 0; i < projection.length; i++) projection[i] = -projection[i];
  return projection;
}

/**
 * One-sided Jacobi SVD of the columns `cols` (each of length m, modified in place into B = A·J).
 * Returns J as its n columns (J[j] is column j, length n). Sweeps until every pair is orthogonal to 1e-15 relative.
 */
function oneSidedJacobi(cols: Float64Array[]): Float64Array[] {
  const n = cols.length;
  const J = Array.from({ length: n }, (_, j) => {
    const e = new Float64Array(n);
    e[j] = 1;
    return e;
  });
  const dot = (a: Float64Array, b: Float64Array) => {
    let s = 0;
    for (let r = 0; r < a.length; r++) s += a[r] * b[r];
    return s;
  };
  const rotate = (a: Float64Array, b: Float64Array, c: number, sn: number) => {
    for (let r = 0; r < a.length; r++) {
      const x = a[r];
      const y = b[r];
      a[r] = c * x - sn * y;
      b[r] = sn * x + c * y;
    }
  };
  const EPS = 1e-15;
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const alpha = dot(cols[p], cols[p]);
        const beta = dot(cols[q], cols[q]);
        const gamma = dot(cols[p], cols[q]);
        if (alpha === 0 || beta === 0 || Math.abs(gamma) <= EPS * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        // The rotation that zeroes the (p, q) entry of the 2×2 Gram matrix [[α, γ], [γ, β]].
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const sn = c * t;
        rotate(cols[p], cols[q], c, sn);
        rotate(J[p], J[q], c, sn);
      }
    }
    if (!rotated) break;
  }
  return J;
}

export function eigenProjectionRef(s: EigenShape, matrix: ArrayLike<number>): EigenProjectionRef {
  const { positions: P, channels: K } = s;
  const X = centredRef(s, matrix);
  const positionsSide = P <= K;
  // Columns of A: the rows of X (A = Xᵀ) when P ≤ K, else X's columns.
  const cols = positionsSide ? X.map((row) => Float64Array.from(row)) : Array.from({ length: K }, (_, k) => Float64Array.from(X, (row) => row[k]));
  const J = oneSidedJacobi(cols);
  const norms = cols.map((c) => Math.sqrt(c.reduce((sum, v) => sum + v * v, 0)));
  const order = norms.map((_, j) => j).sort((a, b) => norms[b] - norms[a]);
  const singularValues = Float64Array.from(order, (j) => norms[j]);
  const top = order[0];
  const sigma1 = norms[top];
  const projection = new Float64Array(P);
  if (sigma1 > 0) {
    if (positionsSide) {
      for (let i = 0; i < P; i++) projection[i] = sigma1 * J[top][i];
    } else {
      projection.set(cols[top]);
    }
  }
  return { projection: applySignRule(projection, channelMeansRef(s, matrix)), singularValues };
}
