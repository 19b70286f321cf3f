// aug-smooth's test-time augmentations of the preprocessed model input (as pytorch-grad-cam's ttach
// transforms: a horizontal flip and a multiplication of the input tensor):
//   y[r, c, ch] = factor · x[r, FLIP_X ? W − 1 − c : c, ch]      x, y: [H, W, C]
// One invocation per pixel; the C (3) channels in a loop.

struct Params {
  w: u32,
  h: u32,
  c: u32,
  factorBits: u32,
}

override WORKGROUP_X: u32 = 8u;
override WORKGROUP_Y: u32 = 8u;
override FLIP_X: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WORKGROUP_X, WORKGROUP_Y)
fn augmentInput(@builtin(global_invocation_id) gid: vec3u) {
  let col = gid.x;
  let row = gid.y;
  if (col >= p.w || row >= p.h) {
    return;
  }
  var sc = col;
  if (FLIP_X) {
    sc = p.w - 1u - col;
  }
  let factor = bitcast<f32>(p.factorBits);
  let dst = (row * p.w + col) * p.c;
  let src = (row * p.w + sc) * p.c;
  for (var ch = 0u; ch < p.c; ch++) {
    y[dst + ch] = factor * x[src + ch];
  }
}
