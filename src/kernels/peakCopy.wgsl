// Bandwidth probe: y = x, vec4 per invocation, a grid-stride loop so any size fits the dispatch.
//   x, y: [N] vec4

struct Params {
  count: u32,
  stride: u32,
}

override WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4f>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn peakCopy(@builtin(global_invocation_id) gid: vec3u) {
  for (var i = gid.x; i < p.count; i += p.stride) {
    y[i] = x[i];
  }
}
