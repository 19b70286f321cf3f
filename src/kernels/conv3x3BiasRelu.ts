import blockedCode from './conv3x3BiasRelu.blocked.wgsl?raw';
import blocked16Code from './conv3x3BiasRelu.blocked16.wgsl?raw';
import gemmCode from './conv3x3BiasRelu.gemm.wgsl?raw';
import splitKReduceCode from './conv3x3BiasRelu.splitKReduce.wgsl?raw';
import naiveCode from './conv3x3BiasRelu.naive.wgsl?raw';
import tiledCode from './conv3x3BiasRelu.tiled.wgsl?raw';
import unrolledCode from './conv3x3BiasRelu.unrolled.wgsl?raw';
import { ceilDiv, checkedWorkgroups, compileKernel, createDispatch, kernelVersion, packU32Params, wgslConstU32, type KernelSource, type KernelVersion } from './kernel.js';

/** x: [n, h, w, cIn] → y: [n, h, w, cOut]; weights [3, 3, cIn, cOut] (HWIO), bias [cOut]. */
export interface Conv3x3Shape {
  n: number;
  h: number;
  w: number;
  cIn: number;
  cOut: number;
  relu: boolean;
}

export interface Conv3x3Buffers {
  x: GPUBuffer;
  weights: GPUBuffer;
  bias: GPUBuffer;
  y: GPUBuffer;
}

const BINDINGS = ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'] as const;

/** Uniform block layout shared by every version (and conv3x3BackwardInput's): struct Params { n, h, w, cIn, cOut }. */
export function packConv3x3Params(s: Conv3x3Shape): Uint32Array<ArrayBuffer> {
  return packU32Params([s.n, s.h, s.w, s.cIn, s.cOut]);
}

export function conv3x3MultiplyAdds(s: Conv3x3Shape): number {
  return s.n * s.h * s.w * s.cOut * 9 * s.cIn;
}

const NAIVE_WORKGROUP = 64;
const naiveSource: KernelSource = {
  label: 'conv3x3BiasRelu.naive',
  code: naiveCode,
  entryPoint: 'conv3x3BiasReluNaive',
  bindings: BINDINGS,
};

const TILED_WORKGROUP: readonly [number, number] = [16, 4];
export const TILED_PIXELS = wgslConstU32(tiledCode, 'PIXELS');
const tiledSource: KernelSource = {
  label: 'conv3x3BiasRelu.tiled',
  code: tiledCode,
  entryPoint: 'conv3x3BiasReluTiled',
  bindings: BINDINGS,
};

const bind = (b: Conv3x3Buffers) => [b.x, b.weights, b.bias, b.y];

const naive = kernelVersion<Conv3x3Shape, Conv3x3Buffers>({
  name: 'naive',
  reference: true,
  source: naiveSource,
  supports: () => true,
  workgroups: (s) => checkedWorkgroups('conv3x3BiasRelu.naive', [ceilDiv(s.cOut, NAIVE_WORKGROUP), s.w, s.n * s.h]),
  constants: (s) => ({ WORKGROUP_SIZE: NAIVE_WORKGROUP, RELU: s.relu }),
  params: packConv3x3Params,
  bind,
});

const tiled = kernelVersion<Conv3x3Shape, Conv3x3Buffers>({
  name: 'tiled',
  source: tiledSource,
  supports: (s) => s.cOut % 4 === 0,
  workgroups: (s) =>
    checkedWorkgroups('conv3x3BiasRelu.tiled', [
      ceilDiv(s.cOut / 4, TILED_WORKGROUP[0]),
      ceilDiv(ceilDiv(s.w, TILED_PIXELS), TILED_WORKGROUP[1]),
      s.n * s.h,
    ]),
  constants: (s) => ({ WORKGROUP_X: TILED_WORKGROUP[0], WORKGROUP_Y: TILED_WORKGROUP[1], RELU: s.relu }),
  params: packConv3x3Params,
  bind,
});

/** Output pixels × output channels per invocation, as the shader declares them (its accumulators are named). */
export interface Conv3x3Tile {
  pixels: number;
  channels: number;
}

const tileOf = (code: string): Conv3x3Tile => ({ pixels: wgslConstU32(code, 'PIXELS'), channels: wgslConstU32(code, 'CHANNELS') });

export const UNROLLED_TILE = tileOf(unrolledCode);
const UNROLLED_WORKGROUP: readonly [number, number] = [8, 8];
const unrolledSource: KernelSource = {
  label: 'conv3x3BiasRelu.unrolled',
  code: unrolledCode,
  entryPoint: 'conv3x3BiasReluUnrolled',
  bindings: BINDINGS,
};

const unrolled = kernelVersion<Conv3x3Shape, Conv3x3Buffers>({
  name: 'unrolled',
  source: unrolledSource,
  supports: (s) => s.cOut % UNROLLED_TILE.channels === 0,
  workgroups: (s) =>
    checkedWorkgroups('conv3x3BiasRelu.unrolled', [
      ceilDiv(s.cOut / UNROLLED_TILE.channels, UNROLLED_WORKGROUP[0]),
      ceilDiv(ceilDiv(s.w, UNROLLED_TILE.pixels), UNROLLED_WORKGROUP[1]),
      s.n * s.h,
    ]),
  constants: (s) => ({ WORKGROUP_X: UNROLLED_WORKGROUP[0], WORKGROUP_Y: UNROLLED_WORKGROUP[1], RELU: s.relu }),
  params: packConv3x3Params,
  bind,
});

/**
 * The blocked versions (generated from one template, conv3x3BiasRelu.blocked.wgsl.tmpl): a block of
 * pixels along the row × 8 output channels per invocation, the tile read from each shader.
 */
function blockedVersion(name: string, code: string, entryPoint: string) {
  const workgroup: readonly [number, number] = [8, 8];
  const tile = tileOf(code);
  return kernelVersion<Conv3x3Shape, Conv3x3Buffers>({
    name,
    source: { label: `conv3x3BiasRelu.${name}`, code, entryPoint, bindings: BINDINGS },
    supports: (s) => s.cIn % 4 === 0 && s.cOut % tile.channels === 0,
    workgroups: (s) =>
      checkedWorkgroups(`conv3x3BiasRelu.${name}`, [ceilDiv(s.cOut / tile.channels, workgroup[0]), ceilDiv(ceilDiv(s.w, tile.pixels), workgroup[1]), s.n * s.h]),
    constants: (s) => ({ WORKGROUP_X: workgroup[0], WORKGROUP_Y: workgroup[1], RELU: s.relu }),
    params: packConv3x3Params,
    bind,
  });
}

const blocked = blockedVersion('blocked', blockedCode, 'conv3x3BiasReluBlocked');
const blocked16 = blockedVersion('blocked16', blocked16Code, 'conv3x3BiasReluBlocked16');


/**
 * The implicit-GEMM versions' tiles: WG_M × WG_N invocations, THREAD_M pixels × 4 channels each, so a
 * workgroup computes (WG_M·THREAD_M) pixels × (4·WG_N) channels, walking K in steps of TILE_K.
 */
export interface GemmTile {
  wgM: number;
  wgN: number;
  threadM: number;
  tileK: number;
}

export const GEMM_MAX_THREAD_M = wgslConstU32(gemmCode, 'MAX_THREAD_M');

/** By version name: TF.js' and ONNX Runtime's 32×32 tile, and 64×64 with 4×4 or 8×4 per invocation. */
export const GEMM_TILES = {
  gemm32: { wgM: 8, wgN: 8, threadM: 4, tileK: 16 },
  gemm64: { wgM: 16, wgN: 16, threadM: 4, tileK: 16 },
  gemm64t8: { wgM: 8, wgN: 16, threadM: 8, tileK: 32 },
} as const satisfies Record<string, GemmTile>;

export const gemmTilePixels = (t: GemmTile) => t.wgM * t.threadM;

/** The GEMM's uniform block: the conv's shape and the K elements per split (all of K without split-K). */
export function packConv3x3GemmParams(s: Conv3x3Shape, kPerSplit = 9 * s.cIn): Uint32Array<ArrayBuffer> {
  return packU32Params([s.n, s.h, s.w, s.cIn, s.cOut, kPerSplit]);
}

const gemmSource = (name: string): KernelSource => ({ label: `conv3x3BiasRelu.${name}`, code: gemmCode, entryPoint: 'conv3x3BiasReluGemm', bindings: BINDINGS });
const gemmConstants = (t: GemmTile, relu: boolean, splitK: boolean) => ({ WG_M: t.wgM, WG_N: t.wgN, THREAD_M: t.threadM, TILE_K: t.tileK, RELU: relu, SPLIT_K: splitK });
const gemmSupports = (s: Conv3x3Shape) => s.cIn % 4 === 0 && s.cOut % 4 === 0;
const gemmWorkgroups = (label: string, t: GemmTile, s: Conv3x3Shape, splits = 1) =>
  checkedWorkgroups(label, [ceilDiv(s.cOut / 4, t.wgN), ceilDiv(s.n * s.h * s.w, gemmTilePixels(t)), splits]);

function gemmVersion(name: keyof typeof GEMM_TILES) {
  const tile: GemmTile = GEMM_TILES[name];
  if (tile.threadM > GEMM_MAX_THREAD_M || tile.threadM % 4 !== 0 || tile.tileK % 4 !== 0) throw new Error(`conv3x3BiasRelu.${name}: tile ${JSON.stringify(tile)} is outside the shader's limits`);
  const source = gemmSource(name);
  return kernelVersion<Conv3x3Shape, Conv3x3Buffers>({
    name,
    source,
    workgroupTiled: true,
    supports: gemmSupports,
    workgroups: (s) => gemmWorkgroups(source.label, tile, s),
    constants: (s) => gemmConstants(tile, s.relu, false),
    params: (s) => packConv3x3GemmParams(s),
    bind,
  });
}

/** Split-K's tile, and the K range one split should cover at least (a split shorter than this costs more in partial sums than it gains). */
export const SPLIT_K_TILE: GemmTile = GEMM_TILES.gemm32;
export const SPLIT_K_MIN_K = 512;
/** Split-K is for the small late layers: at most this many outputs (block4's 28×28×512), so partial sums stay small. */
export const SPLIT_K_MAX_OUTPUTS = 28 * 28 * 512;

/** How split-K divides K = 9·cIn: splits of kPerSplit elements (a multiple of TILE_K), the last possibly shorter. */
export function splitKPlan(s: Conv3x3Shape): { splits: number; kPerSplit: number } {
  const k = 9 * s.cIn;
  const wanted = Math.max(1, Math.min(16, Math.floor(k / SPLIT_K_MIN_K)));
  const kPerSplit = ceilDiv(ceilDiv(k, wanted), SPLIT_K_TILE.tileK) * SPLIT_K_TILE.tileK;
  return { splits: ceilDiv(k, kPerSplit), kPerSplit };
}

const REDUCE_WORKGROUP = 256;
const splitKReduceSource: KernelSource = {
  label: 'conv3x3BiasRelu.splitKReduce',
  code: splitKReduceCode,
  entryPoint: 'conv3x3SplitKReduce',
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'],
};

/**
 * The GEMM over K splits into a scratch buffer of partial sums (owned by the dispatch), then the fixed-order
 * reduction with bias and ReLU: two dispatches encoded as one (Dispatch.then).
 */
const splitK: KernelVersion<Conv3x3Shape, Conv3x3Buffers> = {
  name: 'splitK',
  source: gemmSource('splitK'),
  also: [splitKReduceSource],
  reference: false,
  features: [],
  workgroupTiled: true,
  supports: (s) => gemmSupports(s) && s.n * s.h * s.w * s.cOut <= SPLIT_K_MAX_OUTPUTS && splitKPlan(s).splits > 1,
  workgroups: (s) => gemmWorkgroups('conv3x3BiasRelu.splitK', SPLIT_K_TILE, s, splitKPlan(s).splits),
  async prepare(device, s, buffers, label = 'conv3x3BiasRelu.splitK') {
    const { splits, kPerSplit } = splitKPlan(s);
    const count4 = (s.n * s.h * s.w * s.cOut) / 4;
    const gemm = await compileKernel(device, this.source, gemmConstants(SPLIT_K_TILE, false, true));
    const reduce = await compileKernel(device, splitKReduceSource, { WORKGROUP_SIZE: REDUCE_WORKGROUP, RELU: s.relu });
    const partial = device.createBuffer({ label: `${label} partial sums`, size: 16 * splits * count4, usage: GPUBufferUsage.STORAGE });
    const first = createDispatch(device, gemm, label, packConv3x3GemmParams(s, kPerSplit), [buffers.x, buffers.weights, buffers.bias, partial], this.workgroups(s));
    first.owned.push(partial);
    const groups = ceilDiv(count4, REDUCE_WORKGROUP);
    const rows = ceilDiv(groups, 65535);
    first.then = [
      createDispatch(device, reduce, `${label} reduce`, packU32Params([count4, s.cOut / 4, splits]), [partial, buffers.bias, buffers.y], checkedWorkgroups(`${label} reduce`, [ceilDiv(groups, rows), rows, 1])),
    ];
    return first;
  },
};

/** The tile of every version that has one, by version name (tiled: PIXELS pixels × one vec4 of channels). */
export const CONV3X3_TILES: Readonly<Record<string, Conv3x3Tile>> = {
  tiled: { pixels: TILED_PIXELS, channels: 4 },
  unrolled: UNROLLED_TILE,
  blocked: tileOf(blockedCode),
  blocked16: tileOf(blocked16Code),
};

/**
 * Fastest first on SwiftShader: without a tuning table (src/engine/tuning.ts) the network takes the
 * first version that supports a shape. 'naive' is the reference the others are tested against.
 */
export const conv3x3BiasReluVersions = [blocked, blocked16, unrolled, tiled, gemmVersion('gemm32'), gemmVersion('gemm64'), gemmVersion('gemm64t8'), splitK, naive] as const;
