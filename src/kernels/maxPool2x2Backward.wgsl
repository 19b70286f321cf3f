// 2×2 max-pool backward (stride 2, 'valid'): each window's gradient goes to its FIRST maximum in
// row-major order (top-left, top-right, bottom-left, bottom-right), as TensorFlow and PyTorch route it.
// Ties are common after ReLU (all-zero windows), so the rule changes heatmaps.
//   dy: [N, H/2, W/2, C]   x: [N, H, W, C] (the pool's input)   dx: [N, H, W, C]
// One invocation per input element (rows/columns dropped by 'valid' pooling get 0).
// SHARED_FORWARD: x is [1, H, W, C], one image whose argmax routes every row of dy (several Grad-CAM
// targets of one forward).

struct Params {
  n: u32,
  h: u32,
  w: u32,
  c: u32,
}

override WORKGROUP_SIZE: u32 = 64u;
override SHARED_FORWARD: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn maxPool2x2Backward(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  let ix = gid.y;
  let niy = gid.z;
  if (c >= p.c || ix >= p.w || niy >= p.n * p.h) {
    return;
  }
  let n = niy / p.h;
  let iy = niy % p.h;
  let oh = p.h / 2u;
  let ow = p.w / 2u;
  let oy = iy / 2u;
  let ox = ix / 2u;
  let out = (niy * p.w + ix) * p.c + c;
  if (oy >= oh || ox >= ow) {
    dx[out] = 0.0;
    return;
  }
  let rowStride = p.w * p.c;
  let nf = select(n, 0u, SHARED_FORWARD);
  let i00 = ((nf * p.h + 2u * oy) * p.w + 2u * ox) * p.c + c;
  var best = 0u;
  var m = x[i00];
  if (x[i00 + p.c] > m) { m = x[i00 + p.c]; best = 1u; }
  if (x[i00 + rowStride] > m) { m = x[i00 + rowStride]; best = 2u; }
  if (x[i00 + rowStride + p.c] > m) { best = 3u; }
  let mine = (iy % 2u) * 2u + (ix % 2u);
  dx[out] = select(0.0, dy[((n * oh + oy) * ow + ox) * p.c + c], mine == best);
}
