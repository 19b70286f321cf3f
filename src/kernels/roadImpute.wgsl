// ROAD's noisy linear imputation (Rong et al. 2022; pytorch-grad-cam's NoisyLinearImputer), solved by
// Jacobi-preconditioned conjugate gradients, one workgroup per (mask m, channel c).
//   image: [H, W, C]   keep: u32 [S, H, W] (0 = impute, else known)   noise: [S, H, W, C]
//   out: [S, H, W, C]: image at known pixels, x + noise at imputed ones
//   state: f32 [S·C sections, index m·C + c] of 5 padded planes [x | r | q | p | s], each (H + 2)·(W + 2):
//          pixel (y, x) at (y + 1)·(W + 2) + x + 1, a zero border around it, so the stencil needs no
//          bounds checks and no index division
//   scalars: one Scalars per (m, c), index m·C + c
// The system (per mask and channel): neighbour weights 1/6 (4 axial), 1/12 (4 diagonal), neighbours
// outside the image dropped; for each imputed pixel i: s_i·x_i − Σ_{imputed n} w_n·x_n = Σ_{known n} w_n·v_n,
// s_i = Σ_{in-image n} w_n. A is symmetric positive definite when some pixel is known.
// The plane s holds s_i at imputed pixels and 0 at known pixels and on the border: s = 0 marks a
// non-variable, where p (and r, q) stay 0, so A·p needs no mask of the neighbours.
// mode MODE_START: x0 = the mean of the channel's known pixels (CG's slowest mode on this Laplacian-like
// matrix is the smoothest, and starting from the mean removes most of it; from 0 it is the whole image's
// offset), r0 = b − A·x0, p0 = z0 = r0 / s. A mask with no known pixel has no unique solution: it gets the
// image's channel mean (+ noise), status FILLED. If b = 0 the solution is x = 0, taken at once.
// Each dispatch then runs up to `iterations` CG steps, stopping early once r·r ≤ tol²·b·b, and leaves
// out = the current x (+ noise), so the host can stop after any block.
// One step: [q = A·p, Σ p·q] reduce → α; [x += α·p, r −= α·q, z = r/s, Σ r·z, Σ r·r] reduce → β;
// [p = z + β·p]; storageBarrier. Each invocation owns the padded indices lid, lid + WORKGROUP_SIZE, …:
// x, r, q and s are only touched by their owner; p is read by neighbours, hence the storage barriers.

struct Params {
  masks: u32,
  height: u32,
  width: u32,
  channels: u32,
  mode: u32,
  iterations: u32,
  tol2: f32,
}

struct Scalars {
  rz: f32,
  rr: f32,
  bb: f32,
  iterations: u32,
  known: u32,
  status: u32,
  mean: f32,
  pad: u32,
}

override WORKGROUP_SIZE: u32 = 256u;
const MODE_START: u32 = 0u;
const MODE_CONTINUE: u32 = 1u;
const STATUS_RUNNING: u32 = 0u;
const STATUS_CONVERGED: u32 = 1u;
const STATUS_FILLED: u32 = 2u;
const STATUS_BREAKDOWN: u32 = 3u;
const PLANES: u32 = 5u;
const AXIAL = 1.0 / 6.0;
const DIAGONAL = 1.0 / 12.0;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> image: array<f32>;
@group(0) @binding(2) var<storage, read> keep: array<u32>;
@group(0) @binding(3) var<storage, read> noise: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> state: array<f32>;
@group(0) @binding(6) var<storage, read_write> scalars: array<Scalars>;

var<workgroup> partial: array<vec4f, WORKGROUP_SIZE>;
var<workgroup> total: vec4f;
var<workgroup> loaded: Scalars;

// Sum of v over the workgroup, the same value (uniform) in every invocation.
fn reduce(lid: u32, v: vec4f) -> vec4f {
  partial[lid] = v;
  workgroupBarrier();
  if (lid == 0u) {
    var s = vec4f(0.0);
    for (var k = 0u; k < WORKGROUP_SIZE; k++) {
      s += partial[k];
    }
    total = s;
  }
  return workgroupUniformLoad(&total);
}

// s_i: the weights of the in-image neighbours of pixel (y, x).
fn diagonal(y: u32, x: u32) -> f32 {
  let vy = f32(u32(y > 0u) + u32(y + 1u < p.height));
  let vx = f32(u32(x > 0u) + u32(x + 1u < p.width));
  return (vy + vx) * AXIAL + vy * vx * DIAGONAL;
}

// (A·p)_j: p's plane at pBase, padded index j, s_j.
fn applyA(pBase: u32, j: u32, s: f32) -> f32 {
  let mid = pBase + j;
  let up = mid - (p.width + 2u);
  let dn = mid + (p.width + 2u);
  let axial = state[up] + state[dn] + state[mid - 1u] + state[mid + 1u];
  let diag = state[up - 1u] + state[up + 1u] + state[dn - 1u] + state[dn + 1u];
  return s * state[mid] - AXIAL * axial - DIAGONAL * diag;
}

// For the start, at imputed pixel (y, x) of mask m, channel c, x0 = c0 at imputed pixels:
// (b_i = Σ_{known n} w·v_n, Σ_{in-image n} w·(v_n if known else c0)). Neighbours k = 0 … 8 of the 3×3
// block but its centre: (dy, dx) = (k / 3 − 1, k % 3 − 1), axial for odd k. (One loop, not eight
// inlined calls: SwiftShader takes about a minute to compile those.)
fn startTerms(m: u32, c: u32, y: u32, x: u32, c0: f32) -> vec2f {
  var terms = vec2f(0.0);
  for (var k = 0u; k < 9u; k++) {
    let ny = i32(y + k / 3u) - 1;
    let nx = i32(x + k % 3u) - 1;
    if (k == 4u || ny < 0 || nx < 0 || ny >= i32(p.height) || nx >= i32(p.width)) {
      continue;
    }
    let w = select(DIAGONAL, AXIAL, k % 2u == 1u);
    let n = u32(ny) * p.width + u32(nx);
    let v = image[n * p.channels + c];
    let known = keep[m * p.height * p.width + n] != 0u;
    terms += vec2f(select(0.0, w * v, known), w * select(c0, v, known));
  }
  return terms;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn roadImpute(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // (m, c) is uniform across the workgroup: every invocation reaches every barrier.
  let c = wg.x;
  let m = wg.y;
  if (c >= p.channels || m >= p.masks) {
    return;
  }
  let n = p.height * p.width;
  let pw = p.width + 2u;
  let padded = (p.height + 2u) * pw;
  let mc = m * p.channels + c;
  let xBase = PLANES * mc * padded;
  let rBase = xBase + padded;
  let qBase = rBase + padded;
  let pBase = qBase + padded;
  let sBase = pBase + padded;
  let keepBase = m * n;

  var st: Scalars;
  if (p.mode == MODE_START) {
    // Known pixels: count, sum; all pixels: sum (the fallback mean).
    var sums = vec4f(0.0);
    for (var i = lid; i < n; i += WORKGROUP_SIZE) {
      let v = image[i * p.channels + c];
      let known = f32(keep[keepBase + i] != 0u);
      sums += vec4f(known, known * v, v, 0.0);
    }
    let t = reduce(lid, sums);
    st.known = u32(t.x);
    let filled = t.x == 0.0;
    let c0 = select(t.y / t.x, t.z / f32(n), filled);
    st.mean = c0;
    // Every padded index by its owner: x0, r0, p0 = z0, s at imputed pixels; zeros elsewhere.
    var parts = vec4f(0.0);
    for (var j = lid; j < padded; j += WORKGROUP_SIZE) {
      let py = j / pw;
      let px = j - py * pw;
      var x0 = 0.0;
      var r = 0.0;
      var z = 0.0;
      var s = 0.0;
      if (py > 0u && px > 0u && py <= p.height && px <= p.width && !filled) {
        let y = py - 1u;
        let x = px - 1u;
        if (keep[keepBase + y * p.width + x] == 0u) {
          let terms = startTerms(m, c, y, x, c0);
          s = diagonal(y, x);
          x0 = c0;
          r = terms.y - s * c0;
          z = r / s;
          parts += vec4f(r * z, r * r, terms.x * terms.x, 0.0);
        }
      }
      state[xBase + j] = x0;
      state[rBase + j] = r;
      state[qBase + j] = 0.0;
      state[pBase + j] = z;
      state[sBase + j] = s;
    }
    let start = reduce(lid, parts);
    st.rz = start.x;
    st.rr = start.y;
    st.bb = start.z;
    st.iterations = 0u;
    st.status = STATUS_RUNNING;
    if (filled) {
      st.status = STATUS_FILLED;
      for (var i = lid; i < n; i += WORKGROUP_SIZE) {
        let o = (keepBase + i) * p.channels + c;
        out[o] = c0 + noise[o];
      }
      if (lid == 0u) {
        scalars[mc] = st;
      }
      return;
    }
    if (st.bb == 0.0) {
      // b = 0: the solution is x = 0 (the loop's barrier publishes p).
      for (var j = lid; j < padded; j += WORKGROUP_SIZE) {
        state[xBase + j] = 0.0;
        state[rBase + j] = 0.0;
        state[pBase + j] = 0.0;
      }
      st.rz = 0.0;
      st.rr = 0.0;
    }
  } else {
    // MODE_CONTINUE: where the last dispatch left off.
    if (lid == 0u) {
      loaded = scalars[mc];
    }
    st = workgroupUniformLoad(&loaded);
    if (st.status != STATUS_RUNNING) {
      return;
    }
  }

  var rz = st.rz;
  var rr = st.rr;
  for (var k = 0u; k < p.iterations; k++) {
    if (rr <= p.tol2 * st.bb) {
      break;
    }
    storageBarrier();
    var pq = 0.0;
    for (var j = lid; j < padded; j += WORKGROUP_SIZE) {
      let s = state[sBase + j];
      if (s != 0.0) {
        let q = applyA(pBase, j, s);
        state[qBase + j] = q;
        pq += state[pBase + j] * q;
      }
    }
    // p is rewritten below by its owners: every neighbour's read of it above must be done first.
    storageBarrier();
    let pqTotal = reduce(lid, vec4f(pq, 0.0, 0.0, 0.0)).x;
    if (!(pqTotal > 0.0)) {
      st.status = STATUS_BREAKDOWN;
      break;
    }
    let alpha = rz / pqTotal;
    var parts = vec4f(0.0);
    for (var j = lid; j < padded; j += WORKGROUP_SIZE) {
      let s = state[sBase + j];
      if (s != 0.0) {
        state[xBase + j] += alpha * state[pBase + j];
        let r = state[rBase + j] - alpha * state[qBase + j];
        state[rBase + j] = r;
        let z = r / s;
        parts += vec4f(r * z, r * r, 0.0, 0.0);
      }
    }
    let next = reduce(lid, parts);
    let beta = next.x / rz;
    rz = next.x;
    rr = next.y;
    for (var j = lid; j < padded; j += WORKGROUP_SIZE) {
      let s = state[sBase + j];
      if (s != 0.0) {
        state[pBase + j] = state[rBase + j] / s + beta * state[pBase + j];
      }
    }
    st.iterations += 1u;
  }
  if (st.status == STATUS_RUNNING && rr <= p.tol2 * st.bb) {
    st.status = STATUS_CONVERGED;
  }
  st.rz = rz;
  st.rr = rr;
  if (lid == 0u) {
    scalars[mc] = st;
  }
  // The output, by the owners of the padded indices (x is theirs).
  for (var j = lid; j < padded; j += WORKGROUP_SIZE) {
    let py = j / pw;
    let px = j - py * pw;
    if (py == 0u || px == 0u || py > p.height || px > p.width) {
      continue;
    }
    let i = (py - 1u) * p.width + px - 1u;
    let o = (keepBase + i) * p.channels + c;
    if (state[sBase + j] == 0.0) {
      out[o] = image[i * p.channels + c];
    } else {
      out[o] = state[xBase + j] + noise[o];
    }
  }
}
