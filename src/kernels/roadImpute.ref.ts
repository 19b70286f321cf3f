// roadImpute's specification in float64: pytorch-grad-cam's NoisyLinearImputer (metrics/road.py) system,
// built per mask and solved DIRECTLY (dense Cholesky; the matrix is the same for every channel).
//   image: [H, W, C]   keep: [S, H, W] (0 = impute)   noise: [S, H, W, C] → out: [S, H, W, C]
// For each imputed pixel i: s_i·x_i − Σ_{imputed n} w_n·x_n = Σ_{known n} w_n·v_n, w = 1/6 (axial), 1/12
// (diagonal), over in-image neighbours only, s_i = Σ_{in-image n} w_n (road.py: A's diagonal is
// −sum_neighbors = −(1 − the weights of out-of-image neighbours), A's off-diagonal +w, b = −Σ w·v; the
// same system times −1). Known pixels keep their value; imputed ones get x + noise.
// A mask with no known pixel (A singular): every pixel gets the image's channel mean + noise, as the
// kernel does (road.py's spsolve has no answer there).
import type { RoadImputeShape } from './roadImpute.js';

export const ROAD_NEIGHBOURS: readonly (readonly [dy: number, dx: number, w: number])[] = [
  [1, 1, 1 / 12],
  [0, 1, 1 / 6],
  [-1, 1, 1 / 12],
  [1, -1, 1 / 12],
  [0, -1, 1 / 6],
  [-1, -1, 1 / 12],
  [1, 0, 1 / 6],
  [-1, 0, 1 / 6],
];

export interface RoadSystem {
  /** Flat pixel index of each unknown. */
  unknowns: number[];
  /** Dense n×n, row-major. */
  a: Float64Array;
  /** [n, C]: the right-hand side of each channel. */
  b: Float64Array;
}

/** The system of mask m (keep: this mask's H·W flags). */
export function roadSystem(shape: RoadImputeShape, image: ArrayLike<number>, keep: ArrayLike<number>): RoadSystem {
  const { height: H, width: W } = shape;
  const C = shape.channels ?? 3;
  const index = new Int32Array(H * W).fill(-1);
  const unknowns: number[] = [];
  for (let i = 0; i < H * W; i++) if (keep[i] === 0) index[i] = unknowns.push(i) - 1;
  const n = unknowns.length;
  const a = new Float64Array(n * n);
  const b = new Float64Array(n * C);
  unknowns.forEach((i, row) => {
    const y = Math.floor(i / W);
    const x = i % W;
    for (const [dy, dx, w] of ROAD_NEIGHBOURS) {
      const ny = y + dy;
      const nx = x + dx;
      if (ny < 0 || nx < 0 || ny >= H || nx >= W) continue;
      const nb = ny * W + nx;
      a[row * n + row] += w;
      if (index[nb] >= 0) a[row * n + index[nb]] -= w;
      else for (let c = 0; c < C; c++) b[row * C + c] += w * image[nb * C + c];
    }
  });
  return { unknowns, a, b };
}

/** Solves a·X = B in place of B (B: [n, k]) by Cholesky; a must be symmetric positive definite. */
export function choleskySolve(a: Float64Array, n: number, rhs: Float64Array, k: number): Float64Array {
  const l = Float64Array.from(a);
  for (let j = 0; j < n; j++) {
    let d = l[j * n + j];
    for (let t = 0; t < j; t++) d -= l[j * n + t] * l[j * n + t];
    if (!(d > 0)) throw new Error(`choleskySolve: the matrix is not positive definite (pivot ${j}: ${d})`);
    const djj = Math.sqrt(d);
    l[j * n + j] = djj;
    for (let i = j + 1; i < n; i++) {
      let s = l[i * n + j];
      for (let t = 0; t < j; t++) s -= l[i * n + t] * l[j * n + t];
      l[i * n + j] = s / djj;
    }
  }
  const x = Float64Array.from(rhs);
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < n; i++) {
      let s = x[i * k + c];
      for (let t = 0; t < i; t++) s -= l[i * n + t] * x[t * k + c];
      x[i * k + c] = s / l[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = x[i * k + c];
      for (let t = i + 1; t < n; t++) s -= l[t * n + i] * x[t * k + c];
      x[i * k + c] = s / l[i * n + i];
    }
  }
  return x;
}

/** out [S, H, W, C]: the imputed images, float64. */
export function roadImputeRef(shape: RoadImputeShape, image: ArrayLike<number>, keep: ArrayLike<number>, noise: ArrayLike<number>): Float64Array {
  const { masks: S, height: H, width: W } = shape;
  const C = shape.channels ?? 3;
  const N = H * W;
  const out = new Float64Array(S * N * C);
  for (let m = 0; m < S; m++) {
    const mask = Array.prototype.slice.call(keep, m * N, (m + 1) * N) as number[];
    const base = m * N * C;
    if (mask.every((k) => k === 0)) {
      for (let c = 0; c < C; c++) {
        let mean = 0;
        for (let i = 0; i < N; i++) mean += image[i * C + c];
        mean /= N;
        for (let i = 0; i < N; i++) out[base + i * C + c] = mean + noise[base + i * C + c];
      }
      continue;
    }
    for (let i = 0; i < N * C; i++) out[base + i] = image[i];
    const sys = roadSystem(shape, image, mask);
    const n = sys.unknowns.length;
    if (n === 0) continue;
    const x = choleskySolve(sys.a, n, sys.b, C);
    sys.unknowns.forEach((i, row) => {
      for (let c = 0; c < C; c++) out[base + i * C + c] = x[row * C + c] + noise[base + i * C + c];
    });
  }
  return out;
}

/** ‖b − A·x‖ / ‖b‖ per channel of mask m's system, x read from an imputed image [H, W, C] (noise-free). */
export function roadRelativeResidual(shape: RoadImputeShape, image: ArrayLike<number>, keep: ArrayLike<number>, imputed: ArrayLike<number>): number[] {
  const { height: H, width: W } = shape;
  const C = shape.channels ?? 3;
  const num = new Float64Array(C);
  const den = new Float64Array(C);
  for (let i = 0; i < H * W; i++) {
    if (keep[i] !== 0) continue;
    const y = Math.floor(i / W);
    const x = i % W;
    for (let c = 0; c < C; c++) {
      let ax = 0;
      let b = 0;
      for (const [dy, dx, w] of ROAD_NEIGHBOURS) {
        const ny = y + dy;
        const nx = x + dx;
        if (ny < 0 || nx < 0 || ny >= H || nx >= W) continue;
        const nb = ny * W + nx;
        ax += w * imputed[i * C + c];
        if (keep[nb] === 0) ax -= w * imputed[nb * C + c];
        else b += w * image[nb * C + c];
      }
      num[c] += (b - ax) ** 2;
      den[c] += b * b;
    }
  }
  return Array.from(num, (v, c) => (den[c] > 0 ? Math.sqrt(v / den[c]) : Math.sqrt(v)));
}
