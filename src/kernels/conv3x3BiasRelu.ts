import blockedCode from './conv3x3BiasRelu.blocked.wgsl?raw';
import blocked16Code from './conv3x3BiasRelu.blocked16.wgsl?raw';
import naiveCode from './conv3x3BiasRelu.naive.wgsl?raw';
import tiledCode from './conv3x3BiasRelu.tiled.wgsl?raw';
import unrolledCode from './conv3x3BiasRelu.unrolled.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, wgslConstU32, type KernelSource } from './kernel.js';

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
export const conv3x3BiasReluVersions = [blocked, blocked16, unrolled, tiled, naive] as const;
