// Eigen-CAM pass 3 of 7: partial Gram matrices of the centred matrix X = M − 1·μᵀ, over the smaller side.
//   positionsGram (positions ≤ channels): G = X·Xᵀ, order n = positions, summed over the channels;
//   otherwise:                              G = Xᵀ·X, order n = channels,  summed over the positions.
//   matrix: [positions, channels] row-major   columnMeans: [channels]
//   partials: [splits, n, n]; split s sums the summed indices [s·chunk, min((s+1)·chunk, summed)),
//   eigenGramReduce.wgsl adds the splits (when splits is 1, partials is the Gram matrix itself).
// Threads: a TILE×TILE workgroup computes one TILE×TILE tile of G for one split (workgroup z), each
// invocation one element, reading both vectors straight from the matrix (the tile's invocations share
// them through the caches; no workgroup memory or barriers, which software adapters run slowly). G is
// symmetric: only tiles on or above the diagonal (wg.y ≤ wg.x) compute, and write their mirror too.

struct Params {
  positions: u32,
  channels: u32,
  order: u32,
  splits: u32,
  chunk: u32,
  positionsGram: u32, // 1: G = X·Xᵀ over positions (positions ≤ channels); 0: G = Xᵀ·X
}

const TILE: u32 = 16u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> matrix: array<f32>;
@group(0) @binding(2) var<storage, read> columnMeans: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(TILE, TILE)
fn eigenGram(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  if (wg.y > wg.x) {
    return; // the mirror of tile (wg.x, wg.y), which writes it
  }
  let n = p.order;
  let i = wg.y * TILE + lid.y;
  let j = wg.x * TILE + lid.x;
  if (i >= n || j >= n) {
    return;
  }
  let overPositions = p.positionsGram != 0u;
  let summed = select(p.positions, p.channels, overPositions);
  let rStart = wg.z * p.chunk;
  let rEnd = min(rStart + p.chunk, summed);
  var acc = 0.0;
  if (overPositions) {
    // G[i, j] = Σ_k (M[i, k] − μ[k]) · (M[j, k] − μ[k])
    let rowI = i * p.channels;
    let rowJ = j * p.channels;
    for (var k = rStart; k < rEnd; k++) {
      let mu = columnMeans[k];
      acc += (matrix[rowI + k] - mu) * (matrix[rowJ + k] - mu);
    }
  } else {
    // G[i, j] = Σ_r (M[r, i] − μ[i]) · (M[r, j] − μ[j]); consecutive invocations read consecutive j.
    let muI = columnMeans[i];
    let muJ = columnMeans[j];
    for (var r = rStart; r < rEnd; r++) {
      let row = r * p.channels;
      acc += (matrix[row + i] - muI) * (matrix[row + j] - muJ);
    }
  }
  let base = wg.z * n * n;
  partials[base + i * n + j] = acc;
  if (wg.x != wg.y) {
    partials[base + j * n + i] = acc;
  }
}
