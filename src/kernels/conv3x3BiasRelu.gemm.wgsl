// 3×3 convolution, stride 1, 'same' zero padding, + bias, + optional ReLU, as an implicit GEMM:
//   C[M, N] = A[M, K] · B[K, N]   M = n·h·w output pixels, N = cOut, K = 9·cIn
//   A[m, k] = x[img, oy + ky − 1, ox + kx − 1, ci] (0 outside), k = (ky·3 + kx)·cIn + ci: im2col, never stored
//   B = the HWIO weights as they are ([3, 3, cIn, cOut] is row-major [K, N]); C = y ([n, h, w, cOut])
//   x: [n, h, w, cIn/4] vec4   w: [K, cOut/4] vec4   b: [cOut/4] vec4   y: [n, h, w, cOut/4] vec4
// The layout of the GPU runtimes' convolutions (TF.js' conv2d_mm, ONNX Runtime Web): a workgroup owns a
// TILE_M × TILE_N block of C and walks K in steps of TILE_K, staging both operands' tiles in workgroup
// memory so each global value is read once per workgroup instead of once per output; each invocation
// keeps THREAD_M pixels × one vec4 of channels in registers, so one workgroup-memory read of B feeds
// THREAD_M vec4 FMAs. Tile sizes are pipeline constants (the tuner tries several, per device).
// Threads: x walks vec4s of channels (coalesced weight loads and output stores), y blocks of pixels.
// SPLIT_K: workgroup z sums only K range [z·kPerSplit, (z+1)·kPerSplit) and stores the raw partial sum in
// y[z] (a [splits, n, h, w, cOut/4] scratch buffer); conv3x3BiasRelu.splitKReduce.wgsl adds the splits in
// a fixed order, then bias and ReLU, so the result does not depend on scheduling. For the late layers,
// whose few tiles (block5: 112 of 32×32) cannot fill a GPU with a hundred or more multiprocessors.
// Needs cIn % 4 == 0 (a vec4 of A never straddles two taps) and cOut % 4 == 0.

struct Params {
  n: u32,
  h: u32,
  w: u32,
  cIn: u32,
  cOut: u32,
  // K elements per split (a multiple of TILE_K); 9·cIn without SPLIT_K.
  kPerSplit: u32,
}

override WG_M: u32 = 8u;
override WG_N: u32 = 8u;
// Pixels per invocation: 4 or 8 (read from A's tile as vec4s; at most MAX_THREAD_M, the accumulators).
override THREAD_M: u32 = 4u;
// A multiple of 4.
override TILE_K: u32 = 16u;
override RELU: bool = true;
override SPLIT_K: bool = false;

const MAX_THREAD_M: u32 = 8u;
override TILE_M4: u32 = WG_M * THREAD_M / 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

// [TILE_K][TILE_M/4]: transposed, so an invocation's pixels for one k are one or two vec4s.
var<workgroup> aTile: array<vec4f, TILE_K * TILE_M4>;
// [TILE_K][WG_N]
var<workgroup> bTile: array<vec4f, TILE_K * WG_N>;

@compute @workgroup_size(WG_N, WG_M)
fn conv3x3BiasReluGemm(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wid: vec3u,
) {
  let cIn4 = p.cIn / 4u;
  let cOut4 = p.cOut / 4u;
  let pixels = p.n * p.h * p.w;
  let tileM = 4u * TILE_M4;
  let m0 = wid.y * tileM;
  let c0 = wid.x * WG_N;
  let kBegin = wid.z * p.kPerSplit;
  let kEnd = min(9u * p.cIn, kBegin + p.kPerSplit);
  let threads = WG_M * WG_N;
  let kq4 = TILE_K / 4u;

  var acc: array<vec4f, MAX_THREAD_M>;
  for (var k0 = kBegin; k0 < kEnd; k0 += TILE_K) {
    // A's tile: TILE_M pixels × TILE_K/4 vec4s, consecutive invocations along k (one pixel's channels).
    for (var i = li; i < tileM * kq4; i += threads) {
      let mLocal = i / kq4;
      let kq = i % kq4;
      let k = k0 + 4u * kq;
      let m = m0 + mLocal;
      var v = vec4f(0.0);
      if (m < pixels && k < kEnd) {
        let tap = k / p.cIn;
        let ci4 = (k % p.cIn) / 4u;
        let ox = m % p.w;
        let rest = m / p.w;
        let oy = rest % p.h;
        let img = rest / p.h;
        // Input coordinates shifted by +1, kept unsigned.
        let iy = oy + tap / 3u;
        let ix = ox + tap % 3u;
        if (iy >= 1u && iy <= p.h && ix >= 1u && ix <= p.w) {
          v = x[((img * p.h + iy - 1u) * p.w + ix - 1u) * cIn4 + ci4];
        }
      }
      let a = 4u * kq * TILE_M4 + mLocal / 4u;
      let lane = mLocal % 4u;
      aTile[a][lane] = v.x;
      aTile[a + TILE_M4][lane] = v.y;
      aTile[a + 2u * TILE_M4][lane] = v.z;
      aTile[a + 3u * TILE_M4][lane] = v.w;
    }
    // B's tile: TILE_K rows × WG_N vec4s, consecutive invocations along the row.
    for (var i = li; i < TILE_K * WG_N; i += threads) {
      let k = k0 + i / WG_N;
      let c = c0 + i % WG_N;
      var v = vec4f(0.0);
      if (k < kEnd && c < cOut4) {
        v = w[k * cOut4 + c];
      }
      bTile[i] = v;
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
  if (c >= cOut4) {
    return;
  }
  let bias = select(b[c], vec4f(0.0), SPLIT_K);
  let out0 = select(0u, wid.z * pixels * cOut4, SPLIT_K);
  for (var t = 0u; t < THREAD_M; t++) {
    let m = m0 + lid.y * THREAD_M + t;
    if (m < pixels) {
      var v = acc[t] + bias;
      if (RELU && !SPLIT_K) {
        v = max(v, vec4f(0.0));
      }
      y[out0 + m * cOut4 + c] = v;
    }
  }
}
