// Seeded standard normals from a counter-based hash: out[offset + i] = mean + std · z(seed, i), i < count.
//   out: [offset + count] (elements before offset and from offset + count on are not touched)
// z(seed, i) depends only on (seed, i), never on the dispatch shape or the offset: elements 2j and
// 2j + 1 are the Box–Muller pair of hash pcg3d(j, seed, SALT) (Jarzynski & Olano, "Hash Functions for
// GPU Rendering", JCGT 2020), whose first two words give two 24-bit uniforms:
//   u1 = (a + 1) / 2^24 ∈ (0, 1]   (a = word0 >> 8; u1 > 0, so the log is finite, |z| ≤ 5.77)
//   t  = (2b − 2^24) / 2^24 ∈ [−1, 1)   (b = word1 >> 8), θ = π·t ∈ [−π, π)
//   z(2j) = ρ·cos θ, z(2j + 1) = ρ·sin θ, ρ = sqrt(−2 ln u1).
// Both uniforms are exact in f32 (24-bit integers over 2^24), so the float64 reference starts from the
// very same numbers. ln, cos and sin are our own polynomials (below), not the builtins: WGSL bounds the
// builtin log near 1 only absolutely (2^-21, which sqrt turns into ~1e-3 in z near u1 = 1) and cos/sin
// by 2^-11 (with the builtins, SwiftShader gave z within only ~1e-4 relative); ours are float32-exact to
// a few ulp on every implementation.
// One invocation per pair; the grid is 2D (index = gid.y · gridX + gid.x) because a fill of VGG16's fc1
// (102,760,448 values) needs more than 65535 workgroups of pairs.

struct Params {
  count: u32,
  offset: u32,
  gridX: u32,
  seed: u32,
  mean: f32,
  stddev: f32,
}

override WORKGROUP_SIZE: u32 = 256u;
const SALT: u32 = 0x9e3779b9u;
const INV_2_24 = 5.9604644775390625e-8; // 2^-24
const PI = 3.14159265358979;
const LN2 = 0.693147180559945;
const SQRT2 = 1.41421356237310;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

fn pcg3d(seed: vec3u) -> vec3u {
  var v = seed * 1664525u + 1013904223u;
  v.x += v.y * v.z;
  v.y += v.z * v.x;
  v.z += v.x * v.y;
  v ^= v >> vec3u(16u);
  v.x += v.y * v.z;
  v.y += v.z * v.x;
  v.z += v.x * v.y;
  return v;
}

// ln u for a normal f32 u > 0: u = 2^e·m, m ∈ [√½, √2), ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172,
// by its series to s^9 (truncation < 3e-9 relative). m − 1 is exact, so ln u keeps its relative
// accuracy near u = 1, where the builtin log's error is only bounded absolutely.
fn lnPositive(u: f32) -> f32 {
  let bits = bitcast<u32>(u);
  var e = f32(i32(bits >> 23u) - 127);
  var m = bitcast<f32>((bits & 0x7fffffu) | 0x3f800000u);
  if (m > SQRT2) {
    m *= 0.5;
    e += 1.0;
  }
  let s = (m - 1.0) / (m + 1.0);
  let s2 = s * s;
  let atanh = s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0)))));
  return e * LN2 + 2.0 * atanh;
}

// (cos πt, sin πt) for t ∈ [−1, 1): t = k/2 + f exactly (k = round(2t), |f| ≤ 1/4), φ = π·f ∈ [−π/4, π/4]
// by Taylor series (truncation < 2e-9), then rotated by k quarter turns. Only + − × are used, so every
// implementation gives about the same result (WGSL bounds the builtin cos/sin only by 2^-11).
fn cosSinPi(t: f32) -> vec2f {
  let k = round(2.0 * t);
  let phi = PI * (t - 0.5 * k);
  let p2 = phi * phi;
  let c = 1.0 + p2 * (-1.0 / 2.0 + p2 * (1.0 / 24.0 + p2 * (-1.0 / 720.0 + p2 * (1.0 / 40320.0 + p2 * (-1.0 / 3628800.0)))));
  let s = phi * (1.0 + p2 * (-1.0 / 6.0 + p2 * (1.0 / 120.0 + p2 * (-1.0 / 5040.0 + p2 * (1.0 / 362880.0)))));
  switch (u32(i32(k) + 4) % 4u) {
    case 1u: {
      return vec2f(-s, c);
    }
    case 2u: {
      return vec2f(-c, -s);
    }
    case 3u: {
      return vec2f(s, -c);
    }
    default: {
      return vec2f(c, s);
    }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn seededNormal(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.y * p.gridX + gid.x;
  let i = 2u * j;
  if (j >= (p.count + 1u) / 2u) {
    return;
  }
  let h = pcg3d(vec3u(j, p.seed, SALT));
  let a = h.x >> 8u;
  let b = h.y >> 8u;
  let u1 = f32(a + 1u) * INV_2_24;
  let t = (f32(b) - 8388608.0) * (2.0 * INV_2_24);
  let rho = sqrt(-2.0 * lnPositive(u1));
  let cs = cosSinPi(t);
  out[p.offset + i] = p.mean + p.stddev * (rho * cs.x);
  if (i + 1u < p.count) {
    out[p.offset + i + 1u] = p.mean + p.stddev * (rho * cs.y);
  }
}
