// The second pass of conv3x3BiasRelu's split-K version: y = relu?(Σ_s partial[s] + b), the splits added
// in index order by one invocation per output vec4, so the sum is the same on every run and device
// schedule (float addition is not associative; atomics would make the order the scheduler's).
//   partial: [splits, n·h·w, cOut/4] vec4   b: [cOut/4] vec4   y: [n·h·w, cOut/4] vec4

struct Params {
  // Output vec4s: n·h·w·cOut/4.
  count: u32,
  cOut4: u32,
  splits: u32,
}

override WORKGROUP_SIZE: u32 = 256u;
override RELU: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partial: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4f>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn conv3x3SplitKReduce(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= p.count) {
    return;
  }
  var v = partial[i];
  for (var s = 1u; s < p.splits; s++) {
    v += partial[s * p.count + i];
  }
  v += b[i % p.cOut4];
  if (RELU) {
    v = max(v, vec4f(0.0));
  }
  y[i] = v;
}
