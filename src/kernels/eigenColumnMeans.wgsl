// Eigen-CAM pass 1 of 7: the column means μ[k] = mean over positions i of M[i, k] (what X = M − 1·μᵀ
// subtracts), computed as M[0, k] + mean over i of (M[i, k] − M[0, k]): a column whose values are all
// equal sums exact zeros and gets its value exactly (not a rounded sum / P), so a constant column centres
// to exact zeros and a constant M gives an exactly zero Gram matrix (and an all-zero projection).
//   matrix: [positions, channels] row-major   columnMeans: [channels]
// Threads: a workgroup is COLUMNS adjacent columns × LANES lanes; lane l sums rows l, l + LANES, …
// (consecutive invocations read consecutive floats of a row), then lane 0 adds the LANES partial sums.

struct Params {
  positions: u32,
  channels: u32,
  order: u32,
  splits: u32,
  chunk: u32,
  positionsGram: u32, // 1: G = X·Xᵀ over positions (positions ≤ channels); 0: G = Xᵀ·X
}

const COLUMNS: u32 = 8u;
const LANES: u32 = 32u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> matrix: array<f32>;
@group(0) @binding(2) var<storage, read_write> columnMeans: array<f32>;

// Σ (M[i, k] − M[0, k]) per lane.
var<workgroup> part: array<array<f32, COLUMNS>, LANES>;

@compute @workgroup_size(COLUMNS, LANES)
fn eigenColumnMeans(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let k = wg.x * COLUMNS + lid.x;
  var sum = 0.0;
  var first = 0.0;
  if (k < p.channels) {
    first = matrix[k];
    for (var i = lid.y; i < p.positions; i += LANES) {
      sum += matrix[i * p.channels + k] - first;
    }
  }
  part[lid.y][lid.x] = sum;
  workgroupBarrier();
  if (lid.y == 0u && k < p.channels) {
    var t = 0.0;
    for (var l = 0u; l < LANES; l++) {
      t += part[l][lid.x];
    }
    columnMeans[k] = first + t / f32(p.positions);
  }
}
