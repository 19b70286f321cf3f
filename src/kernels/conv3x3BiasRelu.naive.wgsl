// 3×3 convolution, stride 1, 'same' zero padding, + bias, + optional ReLU: Keras Conv2D semantics
// (cross-correlation, no kernel flip).
//   x: [N, H, W, Cin]   w: [3, 3, Cin, Cout] (HWIO)   b: [Cout]   y: [N, H, W, Cout]
// Naive version, kept as the baseline: one invocation per output element. gid.x walks output
// channels, so neighbouring invocations read neighbouring weights and write neighbouring outputs.
// gid.y is the output column, gid.z the (image, row) pair.

struct Params {
  n: u32,
  h: u32,
  w: u32,
  cIn: u32,
  cOut: u32,
}

override WORKGROUP_SIZE: u32 = 64u;
override RELU: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn conv3x3BiasReluNaive(@builtin(global_invocation_id) gid: vec3u) {
  let co = gid.x;
  let ox = gid.y;
  let nh = gid.z;
  if (co >= p.cOut || ox >= p.w || nh >= p.n * p.h) {
    return;
  }
  let n = nh / p.h;
  let oy = nh % p.h;
  var acc = 0.0;
  for (var ky = 0u; ky < 3u; ky++) {
    // Row oy + ky - 1, written so that the u32 never wraps below zero.
    let iy = oy + ky;
    if (iy < 1u || iy > p.h) {
      continue;
    }
    for (var kx = 0u; kx < 3u; kx++) {
      let ix = ox + kx;
      if (ix < 1u || ix > p.w) {
        continue;
      }
      let xBase = ((n * p.h + iy - 1u) * p.w + ix - 1u) * p.cIn;
      let wBase = (ky * 3u + kx) * p.cIn * p.cOut + co;
      for (var ci = 0u; ci < p.cIn; ci++) {
        acc += x[xBase + ci] * w[wBase + ci * p.cOut];
      }
    }
  }
  var v = acc + b[co];
  if (RELU) {
    v = max(v, 0.0);
  }
  y[(nh * p.w + ox) * p.cOut + co] = v;
}
