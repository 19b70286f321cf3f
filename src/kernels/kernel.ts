// Shared plumbing for every kernel module: explicit bind-group layouts, a per-device pipeline cache,
// uniform packing and dispatch bookkeeping. Kernels never use `layout: 'auto'`, so the binding list
// written here is the single statement of what each shader expects.

export type BindingKind = 'uniform' | 'read-only-storage' | 'storage';

export interface KernelSource {
  /** Label used for the shader module, the pipeline and error messages. */
  label: string;
  code: string;
  entryPoint: string;
  /** One entry per `@binding(i)` of `@group(0)`, in order. */
  bindings: readonly BindingKind[];
}

export type PipelineConstants = Record<string, number | boolean>;

export interface CompiledKernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** One recorded dispatch: everything needed to encode it, created once and reused. */
export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: readonly [number, number, number];
  /** Its uniform block; rewrite it (queue.writeBuffer) to change per-call parameters. */
  params: GPUBuffer;
  /** Buffers this dispatch created (its uniform block); destroyed with the dispatch. */
  owned: GPUBuffer[];
  /** Dispatches that complete this one (a split-K reduction), encoded right after it in the same pass. */
  then?: Dispatch[];
}

// Keyed by source label, entry point and constants, which are finite for a model (tiles and flags from
// its layer shapes; row counts capped by each shader's own maximum), so the cache needs no eviction; it
// goes with the device.
const cache = new WeakMap<GPUDevice, Map<string, Promise<CompiledKernel>>>();

/** Compute pipelines compiled (or compiling) on `device` so far: what a soak checks stops growing. */
export function cachedPipelineCount(device: GPUDevice): number {
  return cache.get(device)?.size ?? 0;
}

function constantsKey(constants: PipelineConstants): string {
  return Object.keys(constants)
    .sort()
    .map((k) => `${k}=${Number(constants[k])}`)
    .join(',');
}

/**
 * Compiles (once per device, source and constants) a compute pipeline with an explicit layout.
 * Shader compilation errors are rethrown with the compiler's messages and the kernel's label.
 */
export function compileKernel(
  device: GPUDevice,
  source: KernelSource,
  constants: PipelineConstants = {},
): Promise<CompiledKernel> {
  let perDevice = cache.get(device);
  if (!perDevice) {
    perDevice = new Map();
    cache.set(device, perDevice);
  }
  const key = `${source.label}|${source.entryPoint}|${constantsKey(constants)}`;
  let compiled = perDevice.get(key);
  if (!compiled) {
    compiled = createPipeline(device, source, constants);
    perDevice.set(key, compiled);
    compiled.catch(() => perDevice!.delete(key));
  }
  return compiled;
}

async function createPipeline(
  device: GPUDevice,
  source: KernelSource,
  constants: PipelineConstants,
): Promise<CompiledKernel> {
  // A shader that does not compile is reported below with the compiler's messages; this scope (pushed and
  // popped without an await between, so concurrent compiles cannot share it) keeps its validation error
  // out of the scopes of the engine call compiling it (deviceErrors.ts), which would report it bare.
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: source.label, code: source.code });
  const layout = device.createBindGroupLayout({
    label: `${source.label} bind group layout`,
    entries: source.bindings.map((type, binding) => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type },
    })),
  });
  const pipelineLayout = device.createPipelineLayout({ label: source.label, bindGroupLayouts: [layout] });
  const setupError = device.popErrorScope().catch(() => null);
  const numericConstants: Record<string, number> = {};
  for (const [k, v] of Object.entries(constants)) numericConstants[k] = Number(v);
  try {
    const pipeline = await device.createComputePipelineAsync({
      label: source.label,
      layout: pipelineLayout,
      compute: { module, entryPoint: source.entryPoint, constants: numericConstants },
    });
    return { pipeline, layout };
  } catch (err) {
    const info = await module.getCompilationInfo();
    const messages = info.messages
      .map((m) => `  ${m.type} at ${source.label}:${m.lineNum}:${m.linePos}: ${m.message}`)
      .join('\n');
    const reason = err instanceof Error ? err.message : String(err);
    const setup = await setupError;
    throw new Error(`Could not build the compute pipeline '${source.label}': ${reason}${setup && !messages ? ` (${setup.message})` : ''}${messages ? `\n${messages}` : ''}`);
  }
}

/** The bits of a float32, for a f32 field in a u32-packed uniform block (read back with bitcast<f32>). */
export const f32Bits = (v: number): number => new Uint32Array(new Float32Array([v]).buffer)[0];

/** Packs u32 fields into a uniform block, padded to 16 bytes as WGSL's uniform layout requires. */
export function packU32Params(fields: readonly number[]): Uint32Array<ArrayBuffer> {
  for (const v of fields) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`uniform field ${v} is not a u32`);
  }
  const out = new Uint32Array(Math.ceil(fields.length / 4) * 4);
  out.set(fields);
  return out;
}

export function createDispatch(
  device: GPUDevice,
  compiled: CompiledKernel,
  label: string,
  params: Uint32Array<ArrayBuffer>,
  buffers: readonly GPUBuffer[],
  workgroups: readonly [number, number, number],
): Dispatch {
  const uniform = device.createBuffer({
    label: `${label} params`,
    size: params.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(uniform, 0, params);
  const bindGroup = device.createBindGroup({
    label,
    layout: compiled.layout,
    entries: [uniform, ...buffers].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  return { label, pipeline: compiled.pipeline, bindGroup, workgroups, params: uniform, owned: [uniform] };
}

export function encodeDispatch(pass: GPUComputePassEncoder, d: Dispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  for (const next of d.then ?? []) encodeDispatch(pass, next);
}

export function destroyDispatch(d: Dispatch): void {
  for (const b of d.owned) b.destroy();
  d.owned.length = 0;
  for (const next of d.then ?? []) destroyDispatch(next);
}

/** WebGPU's default, and what every adapter we target supports. */
export const MAX_WORKGROUPS_PER_DIMENSION = 65535;

export function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}

/** Checks a workgroup count triple against the per-dimension limit, naming the kernel and axis. */
export function checkedWorkgroups(
  kernel: string,
  counts: readonly [number, number, number],
  limit = MAX_WORKGROUPS_PER_DIMENSION,
): [number, number, number] {
  counts.forEach((c, axis) => {
    if (c > limit) {
      throw new RangeError(
        `${kernel}: ${c} workgroups along ${'xyz'[axis]} exceeds the device limit of ${limit}; the input is too large for this kernel`,
      );
    }
  });
  return [counts[0], counts[1], counts[2]];
}

/**
 * Reads a `const NAME: u32 = 4u;` declaration (decimal or 0x hexadecimal) from WGSL, so dispatch math in
 * TS uses the shader's own number instead of a second copy that could drift.
 */
export function wgslConstU32(code: string, name: string): number {
  const m = new RegExp(`\\bconst\\s+${name}\\s*:\\s*u32\\s*=\\s*(0[xX][0-9a-fA-F]+|\\d+)u?\\s*;`).exec(code);
  if (!m) throw new Error(`WGSL source has no 'const ${name}: u32 = …;'`);
  return Number(m[1]);
}

/** One implementation of a kernel. Versions of the same kernel share shapes and buffers. */
export interface KernelVersion<Shape, Buffers> {
  name: string;
  /** Its shader, entry point and binding list (what test/kernel-sources.test.ts checks against the WGSL). */
  source: KernelSource;
  /** Other shaders it dispatches after its own (a split-K reduction). */
  also?: readonly KernelSource[];
  /** The straightforward version others are checked against; never picked by tuning. */
  reference: boolean;
  /** Device features its shader needs ('shader-f16', 'subgroups'); it is a candidate only on devices that have them. */
  features: readonly GPUFeatureName[];
  /**
   * Shaped for GPUs: operands staged in workgroup memory between barriers. A CPU rasteriser runs such
   * versions several times slower than register-blocked ones and compiles them for seconds, so the
   * tuner does not try them on a software adapter (the benchmark still times them).
   */
  workgroupTiled: boolean;
  supports(shape: Shape): boolean;
  workgroups(shape: Shape): [number, number, number];
  prepare(device: GPUDevice, shape: Shape, buffers: Buffers, label?: string): Promise<Dispatch>;
}

export interface VersionSpec<Shape, Buffers> {
  name: string;
  reference?: boolean;
  features?: readonly GPUFeatureName[];
  workgroupTiled?: boolean;
  source: KernelSource;
  supports(shape: Shape): boolean;
  workgroups(shape: Shape): [number, number, number];
  constants(shape: Shape): PipelineConstants;
  params(shape: Shape): Uint32Array<ArrayBuffer>;
  /** Storage buffers in binding order, after the uniform block at binding 0. */
  bind(buffers: Buffers): GPUBuffer[];
}

/** A kernel version from its parts: compile (cached), uniform block, bind group, workgroup counts. */
export function kernelVersion<Shape, Buffers>(spec: VersionSpec<Shape, Buffers>): KernelVersion<Shape, Buffers> {
  return {
    name: spec.name,
    source: spec.source,
    reference: spec.reference ?? false,
    features: spec.features ?? [],
    workgroupTiled: spec.workgroupTiled ?? false,
    supports: spec.supports,
    workgroups: spec.workgroups,
    async prepare(device, shape, buffers, label = spec.source.label) {
      const missing = (spec.features ?? []).filter((f) => !device.features.has(f));
      if (missing.length) throw new Error(`${spec.source.label} needs the device feature${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which this device was not created with`);
      const compiled = await compileKernel(device, spec.source, spec.constants(shape));
      return createDispatch(device, compiled, label, spec.params(shape), spec.bind(buffers), spec.workgroups(shape));
    },
  };
}

/** Whether a device has every feature a version needs. */
export function hasFeatures(features: ReadonlySet<string> | undefined, needed: readonly GPUFeatureName[]): boolean {
  return needed.every((f) => features?.has(f) === true);
}
