// 2×2 max pooling, stride 2, 'valid' (Keras MaxPooling2D defaults): odd trailing rows/columns are dropped.
//   x: [N, H, W, C]   y: [N, H/2, W/2, C] (floor division)
// One invocation per output element; gid.x walks channels so reads and writes are contiguous.

struct Params {
  n: u32,
  h: u32,
  w: u32,
  c: u32,
}

override WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn maxPool2x2(@builtin(global_invocation_id) gid: vec3u) {
  let oh = p.h / 2u;
  let ow = p.w / 2u;
  let c = gid.x;
  let ox = gid.y;
  let noy = gid.z;
  if (c >= p.c || ox >= ow || noy >= p.n * oh) {
    return;
  }
  let n = noy / oh;
  let oy = noy % oh;
  let rowStride = p.w * p.c;
  let i00 = ((n * p.h + 2u * oy) * p.w + 2u * ox) * p.c + c;
  let m = max(max(x[i00], x[i00 + p.c]), max(x[i00 + rowStride], x[i00 + rowStride + p.c]));
  y[(noy * ow + ox) * p.c + c] = m;
}
