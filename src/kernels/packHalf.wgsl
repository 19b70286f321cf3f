// float32 → float16 storage: y[i] packs x[2i] (low half) and x[2i + 1] (high half) with the core
// builtin pack2x16float, so no 'shader-f16' feature is needed to store weights in half the memory;
// the kernels that read them unpack to float32 and accumulate in float32. An odd count's last half
// is 0. Values beyond the float16 range are clamped to ±65504 (WGSL makes pack2x16float of such a
// value indeterminate; VGG's weights are far inside it). In range, WGSL leaves the rounding direction
// to the implementation: one of the two nearest halves.
// The grid is 2D (gid.y · GRID_X + gid.x) because fc1's 51 M words need more than 65535 workgroups.

struct Params {
  count: u32,
  gridX: u32,
}

override WORKGROUP_SIZE: u32 = 256u;
const HALF_MAX = 65504.0;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn packHalf(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.y * p.gridX + gid.x;
  let words = (p.count + 1u) / 2u;
  if (i >= words) {
    return;
  }
  let hi = select(0.0, x[min(2u * i + 1u, p.count - 1u)], 2u * i + 1u < p.count);
  y[i] = pack2x16float(clamp(vec2f(x[2u * i], hi), vec2f(-HALF_MAX), vec2f(HALF_MAX)));
}
