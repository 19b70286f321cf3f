import code from './roadImpute.wgsl?raw';
import { checkedWorkgroups, destroyDispatch, encodeDispatch, f32Bits, kernelVersion, packU32Params, wgslConstU32, type Dispatch, type KernelSource } from './kernel.js';

/**
 * ROAD's noisy linear imputation of S masks of one image (see roadImpute.wgsl):
 * image [H, W, C], keep u32 [S, H, W] (0 = impute) and noise [S, H, W, C] → out [S, H, W, C].
 */
export interface RoadImputeShape {
  masks: number;
  height: number;
  width: number;
  /** Default 3. */
  channels?: number;
}

export interface RoadImputeBuffers {
  /** f32 [H, W, C]; read-only STORAGE. */
  image: GPUBuffer;
  /** u32 [S, H, W], 0 = impute, anything else = known; read-only STORAGE. */
  keep: GPUBuffer;
  /** f32 [S, H, W, C], added to imputed pixels only (zeros for none); read-only STORAGE. */
  noise: GPUBuffer;
  /** f32 [S, H, W, C]; STORAGE. */
  out: GPUBuffer;
  /** The solver's vectors, roadStateBytes(shape); STORAGE. */
  state: GPUBuffer;
  /** One ROAD_SCALARS_WORDS-word record per (mask, channel), roadScalarsBytes(shape); STORAGE | COPY_SRC. */
  scalars: GPUBuffer;
}

export const ROAD_MODE_START = wgslConstU32(code, 'MODE_START');
export const ROAD_MODE_CONTINUE = wgslConstU32(code, 'MODE_CONTINUE');
/** The `status` word of a (mask, channel) record. */
export const ROAD_STATUS = {
  running: wgslConstU32(code, 'STATUS_RUNNING'),
  converged: wgslConstU32(code, 'STATUS_CONVERGED'),
  /** No known pixel in the mask: filled with the image's channel mean (+ noise). */
  filled: wgslConstU32(code, 'STATUS_FILLED'),
  /** p·Ap ≤ 0 or not finite (float32 exhausted): stopped where it was. */
  breakdown: wgslConstU32(code, 'STATUS_BREAKDOWN'),
} as const;
/** Words of the WGSL Scalars record: rz, rr, bb (f32), iterations, known, status (u32), mean (f32), pad. */
export const ROAD_SCALARS_WORDS = 8;

const channelsOf = (s: RoadImputeShape) => s.channels ?? 3;
const pixelsOf = (s: RoadImputeShape) => s.height * s.width;

/** Planes of the solver state per (mask, channel): x, r, q, p, s, each (H + 2)·(W + 2) floats. */
export const ROAD_STATE_PLANES = wgslConstU32(code, 'PLANES');
/** f32 elements of the solver state. */
export const roadStateFloats = (s: RoadImputeShape) => s.masks * channelsOf(s) * ROAD_STATE_PLANES * (s.height + 2) * (s.width + 2);
export const roadStateBytes = (s: RoadImputeShape) => 4 * roadStateFloats(s);
export const roadScalarsBytes = (s: RoadImputeShape) => 4 * ROAD_SCALARS_WORDS * s.masks * channelsOf(s);

export interface RoadBlockParams {
  /** ROAD_MODE_START to start from x0, ROAD_MODE_CONTINUE to go on. */
  mode: number;
  /** CG steps at most in this dispatch. */
  iterations: number;
  /** Stop once ‖r‖ ≤ tolerance·‖b‖. */
  tolerance: number;
}

/** The uniform block: masks, height, width, channels, mode, iterations, tolerance² (f32). */
export function packRoadParams(s: RoadImputeShape, b: RoadBlockParams): Uint32Array<ArrayBuffer> {
  if (!(b.tolerance >= 0 && Number.isFinite(b.tolerance))) throw new RangeError(`roadImpute: tolerance ${b.tolerance} must be finite and ≥ 0`);
  return packU32Params([s.masks, s.height, s.width, channelsOf(s), b.mode, b.iterations, f32Bits(b.tolerance * b.tolerance)]);
}

const WORKGROUP = 256;
const source: KernelSource = {
  label: 'roadImpute',
  code,
  entryPoint: 'roadImpute',
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage', 'storage', 'storage'],
};

const supports = (s: RoadImputeShape) =>
  [s.masks, s.height, s.width, channelsOf(s)].every((v) => Number.isInteger(v) && v >= 1) && roadStateFloats(s) < 2 ** 32 && s.masks * pixelsOf(s) * channelsOf(s) < 2 ** 32;

export const roadImputeVersions = [
  kernelVersion<RoadImputeShape, RoadImputeBuffers>({
    name: 'jacobiCg',
    source,
    supports,
    workgroups: (s) => checkedWorkgroups('roadImpute', [channelsOf(s), s.masks, 1]),
    constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
    params: (s) => packRoadParams(s, { mode: ROAD_MODE_START, iterations: 0, tolerance: 0 }),
    bind: (b) => [b.image, b.keep, b.noise, b.out, b.state, b.scalars],
  }),
] as const;

/** A roadImpute dispatch with the solver state it owns; `destroy()` frees what it made. */
export interface PreparedRoadImpute {
  shape: RoadImputeShape;
  dispatch: Dispatch;
  state: GPUBuffer;
  scalars: GPUBuffer;
  /** MAP_READ copy of `scalars`, read after each block. */
  readback: GPUBuffer;
  destroy(): void;
}

/**
 * Prepares the solver for `shape` on the caller's buffers (image, keep, out; noise optional: zeros if
 * left out). It makes the state (roadStateBytes), the per-(mask, channel) records and their readback
 * buffer; reuse it for any number of imputeRoad calls on new contents of the same buffers.
 */
export async function prepareRoadImpute(
  device: GPUDevice,
  shape: RoadImputeShape,
  buffers: { image: GPUBuffer; keep: GPUBuffer; out: GPUBuffer; noise?: GPUBuffer },
  label = 'roadImpute',
): Promise<PreparedRoadImpute> {
  const version = roadImputeVersions[0];
  if (!version.supports(shape)) throw new RangeError(`roadImpute: unsupported shape ${JSON.stringify(shape)}`);
  const stateBytes = roadStateBytes(shape);
  const bindable = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  if (stateBytes > bindable) {
    throw new RangeError(
      `roadImpute: the solver state for ${shape.masks} masks of ${shape.height}×${shape.width}×${channelsOf(shape)} is ${stateBytes} bytes, ` +
        `over this device's maxStorageBufferBindingSize/maxBufferSize (${bindable}); impute fewer masks at once`,
    );
  }
  const made: GPUBuffer[] = [];
  const make = (what: string, size: number, usage: number) => {
    const b = device.createBuffer({ label: `${label} ${what}`, size: Math.max(16, size), usage });
    made.push(b);
    return b;
  };
  const state = make('state', stateBytes, GPUBufferUsage.STORAGE);
  const scalars = make('scalars', roadScalarsBytes(shape), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
  const readback = make('readback', roadScalarsBytes(shape), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  // Zero-filled at creation, as WebGPU buffers are.
  const noise = buffers.noise ?? make('zero noise', 4 * shape.masks * pixelsOf(shape) * channelsOf(shape), GPUBufferUsage.STORAGE);
  try {
    const dispatch = await version.prepare(device, shape, { ...buffers, noise, state, scalars }, label);
    return {
      shape,
      dispatch,
      state,
      scalars,
      readback,
      destroy() {
        destroyDispatch(dispatch);
        for (const b of made) b.destroy();
        made.length = 0;
      },
    };
  } catch (err) {
    for (const b of made) b.destroy();
    throw err;
  }
}

export interface RoadSolveOptions {
  /** Stop when every (mask, channel) has ‖r‖ ≤ tolerance·‖b‖ (r the recurrence's residual). */
  tolerance: number;
  /** CG steps at most. */
  maxIterations: number;
  /** CG steps per dispatch between readbacks (default 64). */
  blockIterations?: number;
}

export interface RoadSolveResult {
  /** CG steps run (the most of any mask and channel). */
  iterations: number;
  /** The largest ‖r‖/‖b‖ at the end (0 where b = 0 or nothing is imputed). */
  relativeResidual: number;
  /** Every (mask, channel) met the tolerance (or had nothing to solve). */
  converged: boolean;
  /** Dispatches (blocks) submitted. */
  blocks: number;
  /** Masks with no known pixel: no unique solution; filled with the image's channel means (+ noise). */
  filledMasks: number[];
  /** Per (mask, channel), index m·C + c: the final ‖r‖/‖b‖, steps and status (see ROAD_STATUS). */
  perChannel: { relativeResidual: number; iterations: number; status: number }[];
}

/**
 * Solves every (mask, channel) system from its start and writes `out`. Blocks of CG steps run until every
 * (mask, channel) meets the tolerance, stops (filled, breakdown) or maxIterations steps have run; after
 * each block the host reads back the per-(mask, channel) records (8 words each). Work submitted earlier
 * on the device's queue (e.g. the noise fill) runs first. One call at a time per prepared solver.
 */
export async function imputeRoad(device: GPUDevice, prepared: PreparedRoadImpute, options: RoadSolveOptions): Promise<RoadSolveResult> {
  const { shape, dispatch, scalars, readback } = prepared;
  const { tolerance, maxIterations } = options;
  const block = options.blockIterations ?? 64;
  if (!(Number.isInteger(maxIterations) && maxIterations >= 0)) throw new RangeError(`roadImpute: maxIterations ${maxIterations} must be an integer ≥ 0`);
  if (!(Number.isInteger(block) && block >= 1)) throw new RangeError(`roadImpute: blockIterations ${block} must be an integer ≥ 1`);
  let done = 0;
  let blocks = 0;
  device.pushErrorScope('validation');
  let records: { rz: number; rr: number; bb: number; iterations: number; status: number }[] = [];
  try {
    for (;;) {
      const iterations = Math.min(block, maxIterations - done);
      device.queue.writeBuffer(dispatch.params, 0, packRoadParams(shape, { mode: blocks === 0 ? ROAD_MODE_START : ROAD_MODE_CONTINUE, iterations, tolerance }));
      const encoder = device.createCommandEncoder({ label: dispatch.label });
      const pass = encoder.beginComputePass({ label: dispatch.label });
      encodeDispatch(pass, dispatch);
      pass.end();
      encoder.copyBufferToBuffer(scalars, 0, readback, 0, scalars.size);
      device.queue.submit([encoder.finish()]);
      await readback.mapAsync(GPUMapMode.READ);
      const words = readback.getMappedRange().slice(0);
      readback.unmap();
      blocks++;
      done += iterations;
      records = unpackRecords(words, shape);
      const open = records.some((r) => r.status === ROAD_STATUS.running);
      if (!open || done >= maxIterations) break;
    }
  } finally {
    const error = await device.popErrorScope();
    if (error) throw new Error(`${dispatch.label}: WebGPU validation error: ${error.message.replace(/\s+/g, ' ').trim()}`);
  }
  const channels = channelsOf(shape);
  const perChannel = records.map((r) => ({
    relativeResidual: r.bb > 0 ? Math.sqrt(r.rr / r.bb) : r.rr > 0 ? Infinity : 0,
    iterations: r.iterations,
    status: r.status,
  }));
  const filledMasks: number[] = [];
  for (let m = 0; m < shape.masks; m++) if (records[m * channels].status === ROAD_STATUS.filled) filledMasks.push(m);
  return {
    iterations: Math.max(0, ...perChannel.map((r) => r.iterations)),
    relativeResidual: Math.max(0, ...perChannel.map((r) => r.relativeResidual)),
    converged: records.every((r) => r.status === ROAD_STATUS.converged || r.status === ROAD_STATUS.filled),
    blocks,
    filledMasks,
    perChannel,
  };
}

function unpackRecords(bytes: ArrayBuffer, shape: RoadImputeShape) {
  const f = new Float32Array(bytes);
  const u = new Uint32Array(bytes);
  const count = shape.masks * channelsOf(shape);
  return Array.from({ length: count }, (_, k) => {
    const o = k * ROAD_SCALARS_WORDS;
    return { rz: f[o], rr: f[o + 1], bb: f[o + 2], iterations: u[o + 3], status: u[o + 5] };
  });
}

/** Host-side check of masks already on the CPU: the indices of masks with no known pixel. */
export function masksWithoutKnownPixels(keep: ArrayLike<number>, shape: RoadImputeShape): number[] {
  const n = pixelsOf(shape);
  const out: number[] = [];
  for (let m = 0; m < shape.masks; m++) {
    let known = false;
    for (let i = m * n; i < (m + 1) * n && !known; i++) known = keep[i] !== 0;
    if (!known) out.push(m);
  }
  return out;
}
