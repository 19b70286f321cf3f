// Compute probe: each invocation runs 8 independent vec4 multiply–add chains for `iterations` steps
// (64 FLOPs per step), entirely in registers, and stores one value so nothing is optimised away.
//   y: [invocations] f32

struct Params {
  iterations: u32,
  invocations: u32,
}

// FLOPs per invocation and step: 8 chains × 4 lanes × (multiply + add). The TS wrapper reads it from
// this file for the FLOP count it reports.
const FLOPS_PER_STEP: u32 = 64u;

override WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn peakFma(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= p.invocations) {
    return;
  }
  let s = f32(gid.x) * 1e-9;
  var a0 = vec4f(s, s + 1.0, s + 2.0, s + 3.0);
  var a1 = a0 + 0.1;
  var a2 = a0 + 0.2;
  var a3 = a0 + 0.3;
  var a4 = a0 + 0.4;
  var a5 = a0 + 0.5;
  var a6 = a0 + 0.6;
  var a7 = a0 + 0.7;
  let m = vec4f(0.999999);
  let c = vec4f(1e-7);
  for (var i = 0u; i < p.iterations; i++) {
    a0 = a0 * m + c;
    a1 = a1 * m + c;
    a2 = a2 * m + c;
    a3 = a3 * m + c;
    a4 = a4 * m + c;
    a5 = a5 * m + c;
    a6 = a6 * m + c;
    a7 = a7 * m + c;
  }
  let t = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
  y[gid.x] = t.x + t.y + t.z + t.w;
}
