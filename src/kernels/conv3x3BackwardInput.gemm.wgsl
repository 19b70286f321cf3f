// 3×3 'same' convolution backward w.r.t. its input through the layer's ReLU (see the naive version for
// the formula), as the implicit GEMM of conv3x3BiasRelu.gemm.wgsl on the flipped, transposed weights:
//   C[M, N] = A[M, K] · B[K, N]   M = n·h·w input pixels, N = cIn, K = 9·cOut
//   A[m, k] = g[img, iy + 1 − ky, ix + 1 − kx, co] (0 outside), k = (ky·3 + kx)·cOut + co
//   B[k, ci] = w[ky, kx, ci, co]: the HWIO weights read transposed (ci, co swapped) while they are staged
//   in workgroup memory, so no second, transposed copy of the weights is kept on the GPU. The flip is
//   the sign of A's offset (1 − ky where the forward has ky − 1).
// g is dy through the layer's ReLU by RELU_RULE (when RELU): applied as A's tile is loaded, so the mask
// costs one read of y per element of A's tile, fused into the GEMM.
//   dy, y: [n, h, w, cOut/4] vec4   w: [3, 3, cIn, cOut/4] vec4   dx: [n, h, w, cIn/4] vec4
// Tiles as in the forward GEMM (pipeline constants): WG_M × WG_N invocations, THREAD_M pixels × one vec4
// of input channels each. Needs cIn % 4 == 0 and cOut % 4 == 0.
// SHARED_FORWARD: y is [1, h, w, cOut/4], one image's output masking every row of dy.

struct Params {
  n: u32,
  h: u32,
  w: u32,
  cIn: u32,
  cOut: u32,
}

override WG_M: u32 = 8u;
override WG_N: u32 = 8u;
// Pixels per invocation: 4 or 8 (read from A's tile as vec4s; at most MAX_THREAD_M, the accumulators).
override THREAD_M: u32 = 4u;
// A multiple of 4.
override TILE_K: u32 = 16u;
override RELU: bool = true;
override SHARED_FORWARD: bool = false;
// How g passes the ReLU: one of the three rules below (reluRule.ts RELU_RULE_CODES).
override RELU_RULE: u32 = 0u;
const RELU_PLAIN: u32 = 0u;
const RELU_GUIDED: u32 = 1u;
const RELU_DECONVNET: u32 = 2u;

const MAX_THREAD_M: u32 = 8u;
override TILE_M4: u32 = WG_M * THREAD_M / 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<vec4f>;
@group(0) @binding(2) var<storage, read> y: array<vec4f>;
@group(0) @binding(3) var<storage, read> w: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> dx: array<vec4f>;

// [TILE_K][TILE_M/4]: transposed, so an invocation's pixels for one k are one or two vec4s.
var<workgroup> aTile: array<vec4f, TILE_K * TILE_M4>;
// [TILE_K][WG_N] vec4s of input channels.
var<workgroup> bTile: array<vec4f, TILE_K * WG_N>;

// dy[index] through the ReLU of y[index − shift] by RELU_RULE. Plain: select(0, g, y > 0).
fn gradient(index: u32, shift: u32) -> vec4f {
  let g = dy[index];
  if (!RELU) {
    return g;
  }
  var keep = vec4<bool>(true);
  if (RELU_RULE != RELU_DECONVNET) {
    keep = y[index - shift] > vec4f(0.0);
  }
  if (RELU_RULE != RELU_PLAIN) {
    keep = keep & (g > vec4f(0.0));
  }
  return select(vec4f(0.0), g, keep);
}

@compute @workgroup_size(WG_N, WG_M)
fn conv3x3BackwardInputGemm(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wid: vec3u,
) {
  let cIn4 = p.cIn / 4u;
  let cOut4 = p.cOut / 4u;
  let pixels = p.n * p.h * p.w;
  let kTotal = 9u * p.cOut;
  let tileM = 4u * TILE_M4;
  let m0 = wid.y * tileM;
  let c0 = wid.x * WG_N;
  let threads = WG_M * WG_N;
  let kq4 = TILE_K / 4u;

  var acc: array<vec4f, MAX_THREAD_M>;
  for (var k0 = 0u; k0 < kTotal; k0 += TILE_K) {
    // A's tile: TILE_M pixels × TILE_K/4 vec4s of g (consecutive invocations along co).
    for (var i = li; i < tileM * kq4; i += threads) {
      let mLocal = i / kq4;
      let kq = i % kq4;
      let k = k0 + 4u * kq;
      let m = m0 + mLocal;
      var v = vec4f(0.0);
      if (m < pixels && k < kTotal) {
        let tap = k / p.cOut;
        let co4 = (k % p.cOut) / 4u;
        let ix = m % p.w;
        let rest = m / p.w;
        let iy = rest % p.h;
        let img = rest / p.h;
        // Output coordinates shifted by +1, kept unsigned.
        let oy = iy + 2u - tap / 3u;
        let ox = ix + 2u - tap % 3u;
        if (oy >= 1u && oy <= p.h && ox >= 1u && ox <= p.w) {
          let index = ((img * p.h + oy - 1u) * p.w + ox - 1u) * cOut4 + co4;
          v = gradient(index, select(0u, img * p.h * p.w * cOut4, SHARED_FORWARD));
        }
      }
      let a = 4u * kq * TILE_M4 + mLocal / 4u;
      let lane = mLocal % 4u;
      aTile[a][lane] = v.x;
      aTile[a + TILE_M4][lane] = v.y;
      aTile[a + 2u * TILE_M4][lane] = v.z;
      aTile[a + 3u * TILE_M4][lane] = v.w;
    }
    // B's tile, transposed on the way in: each invocation reads a vec4 along co (4 consecutive k) of one
    // input channel's weight row, consecutive invocations along co (coalesced).
    for (var i = li; i < 4u * WG_N * kq4; i += threads) {
      let ciLocal = i / kq4;
      let kq = i % kq4;
      let k = k0 + 4u * kq;
      let ci = 4u * c0 + ciLocal;
      var v = vec4f(0.0);
      if (k < kTotal && ci < p.cIn) {
        let tap = k / p.cOut;
        v = w[(tap * p.cIn + ci) * cOut4 + (k % p.cOut) / 4u];
      }
      let at = 4u * kq * WG_N + ciLocal / 4u;
      let lane = ciLocal % 4u;
      bTile[at][lane] = v.x;
      bTile[at + WG_N][lane] = v.y;
      bTile[at + 2u * WG_N][lane] = v.z;
      bTile[at + 3u * WG_N][lane] = v.w;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let bv = bTile[kk * WG_N + lid.x];
      let aRow = kk * TILE_M4 + lid.y * (THREAD_M / 4u);
      for (var t4 = 0u; t4 < THREAD_M / 4u; t4++) {
        let a = aTile[aRow + t4];
        acc[4u * t4] = fma(vec4f(a.x), bv, acc[4u * t4]);
        acc[4u * t4 + 1u] = fma(vec4f(a.y), bv, acc[4u * t4 + 1u]);
        acc[4u * t4 + 2u] = fma(vec4f(a.z), bv, acc[4u * t4 + 2u]);
        acc[4u * t4 + 3u] = fma(vec4f(a.w), bv, acc[4u * t4 + 3u]);
      }
    }
    workgroupBarrier();
  }

  let c = c0 + lid.x;
  if (c >= cIn4) {
    return;
  }
  for (var t = 0u; t < THREAD_M; t++) {
    let m = m0 + lid.y * THREAD_M + t;
    if (m < pixels) {
      dx[m * cIn4 + c] = acc[t];
    }
  }
}
