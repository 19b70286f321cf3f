import code from './conv3x3BackwardInput.wgsl?raw';
import blockedCode from './conv3x3BackwardInput.blocked.wgsl?raw';
import blocked16Code from './conv3x3BackwardInput.blocked16.wgsl?raw';
import cIn3Code from './conv3x3BackwardInput.cIn3.wgsl?raw';
import unrolledCode from './conv3x3BackwardInput.unrolled.wgsl?raw';
import gemmCode from './conv3x3BackwardInput.gemm.wgsl?raw';
import { GEMM_TILES, gemmTilePixels, packConv3x3Params, type Conv3x3Shape, type GemmTile } from './conv3x3BiasRelu.js';
import { ceilDiv, checkedWorkgroups, kernelVersion, wgslConstU32, type KernelSource } from './kernel.js';
import { reluRuleConstant, type ReluRule } from './reluRule.js';

/**
 * The forward conv's shape, n rows of dy and dx. With sharedForward, y is one image ([1, h, w, cOut])
 * whose ReLU mask applies to all n rows of dy (several Grad-CAM targets of one forward).
 */
export type Conv3x3BackwardShape = Conv3x3Shape & {
  /** y has one image, shared by every row of dy and dx (default false: y has n). */
  sharedForward?: boolean;
  /** How dy passes the layer's ReLU when relu (default 'plain', the true gradient; see reluRule.ts). */
  reluRule?: ReluRule;
};

export interface Conv3x3BackwardBuffers {
  dy: GPUBuffer;
  /** The layer's own (post-ReLU) output, for the ReLU mask: n images, or one with sharedForward. */
  y: GPUBuffer;
  weights: GPUBuffer;
  dx: GPUBuffer;
}

const BINDINGS = ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'] as const;
const WORKGROUP = 64;
const source: KernelSource = {
  label: 'conv3x3BackwardInput',
  code,
  entryPoint: 'conv3x3BackwardInput',
  bindings: BINDINGS,
};

const UNROLLED_WORKGROUP: readonly [number, number] = [8, 8];
/** Input pixels per invocation of the unrolled version (× one vec4 of input channels), from its shader. */
export const BACKWARD_UNROLLED_PIXELS = wgslConstU32(unrolledCode, 'PIXELS');
const bind = (b: Conv3x3BackwardBuffers) => [b.dy, b.y, b.weights, b.dx];
/** Pipeline constants every version takes from the shape (without a ReLU every rule is g = dy: one pipeline). */
const shapeConstants = (s: Conv3x3BackwardShape) => ({ RELU: s.relu, SHARED_FORWARD: s.sharedForward === true, RELU_RULE: reluRuleConstant(s.relu ? s.reluRule : 'plain') });

/** Input pixels × input channels per invocation, as a shader declares them (its accumulators are named). */
export interface BackwardTile {
  pixels: number;
  channels: number;
}

const tileOf = (code: string): BackwardTile => ({ pixels: wgslConstU32(code, 'PIXELS'), channels: wgslConstU32(code, 'CHANNELS') });

/** The tiles of the blocked versions, by version name, from their shaders. */
export const BACKWARD_BLOCKED_TILES: Readonly<Record<'blocked' | 'blocked16', BackwardTile>> = {
  blocked: tileOf(blockedCode),
  blocked16: tileOf(blocked16Code),
};

/**
 * The blocked versions (generated from one template, conv3x3BackwardInput.blocked.wgsl.tmpl): a block of
 * input pixels along the row × 8 input channels per invocation.
 */
function blockedVersion(name: keyof typeof BACKWARD_BLOCKED_TILES, code: string, entryPoint: string) {
  const workgroup: readonly [number, number] = [8, 8];
  const tile = BACKWARD_BLOCKED_TILES[name];
  const label = `conv3x3BackwardInput.${name}`;
  return kernelVersion<Conv3x3BackwardShape, Conv3x3BackwardBuffers>({
    name,
    source: { label, code, entryPoint, bindings: BINDINGS },
    supports: (s) => s.cIn % tile.channels === 0 && s.cOut % 4 === 0,
    workgroups: (s) => checkedWorkgroups(label, [ceilDiv(s.cIn / tile.channels, workgroup[0]), ceilDiv(ceilDiv(s.w, tile.pixels), workgroup[1]), s.n * s.h]),
    constants: (s) => ({ WORKGROUP_X: workgroup[0], WORKGROUP_Y: workgroup[1], ...shapeConstants(s) }),
    params: packConv3x3Params,
    bind,
  });
}

/**
 * The implicit-GEMM versions (conv3x3BackwardInput.gemm.wgsl), with the forward GEMM's tiles by name:
 * the tile's columns are input channels here.
 */
function gemmVersion(name: keyof typeof GEMM_TILES) {
  const tile: GemmTile = GEMM_TILES[name];
  const label = `conv3x3BackwardInput.${name}`;
  return kernelVersion<Conv3x3BackwardShape, Conv3x3BackwardBuffers>({
    name,
    source: { label, code: gemmCode, entryPoint: 'conv3x3BackwardInputGemm', bindings: BINDINGS },
    workgroupTiled: true,
    supports: (s) => s.cIn % 4 === 0 && s.cOut % 4 === 0,
    workgroups: (s) => checkedWorkgroups(label, [ceilDiv(s.cIn / 4, tile.wgN), ceilDiv(s.n * s.h * s.w, gemmTilePixels(tile)), 1]),
    constants: (s) => ({ WG_M: tile.wgM, WG_N: tile.wgN, THREAD_M: tile.threadM, TILE_K: tile.tileK, ...shapeConstants(s) }),
    params: packConv3x3Params,
    bind,
  });
}

/** Input pixels per invocation of the cIn3 version (× all 3 input channels), from its shader. */
export const BACKWARD_CIN3_PIXELS = wgslConstU32(cIn3Code, 'PIXELS');
const CIN3_WORKGROUP: readonly [number, number] = [8, 8];

/**
 * The forward conv3x3BiasRelu's shape and uniform block (relu: through the layer's ReLU by reluRule).
 * Fastest first on SwiftShader: without a tuning table the engine takes the first version that supports
 * a shape (blocked16 beat blocked at 6 of VGG's 8 backward conv shapes when tuned, and both beat
 * unrolled 2-3×). 'cIn3' is the one fast version for a 3-channel input (block1_conv1: the gradient
 * w.r.t. the image). 'naive' is the reference the others are tested against.
 */
export const conv3x3BackwardInputVersions = [
  blockedVersion('blocked16', blocked16Code, 'conv3x3BackwardInputBlocked16'),
  blockedVersion('blocked', blockedCode, 'conv3x3BackwardInputBlocked'),
  kernelVersion<Conv3x3BackwardShape, Conv3x3BackwardBuffers>({
    name: 'cIn3',
    source: { label: 'conv3x3BackwardInput.cIn3', code: cIn3Code, entryPoint: 'conv3x3BackwardInputCIn3', bindings: BINDINGS },
    supports: (s) => s.cIn === 3 && s.cOut % 4 === 0,
    workgroups: (s) =>
      checkedWorkgroups('conv3x3BackwardInput.cIn3', [ceilDiv(ceilDiv(s.w, BACKWARD_CIN3_PIXELS), CIN3_WORKGROUP[0]), ceilDiv(s.n * s.h, CIN3_WORKGROUP[1]), 1]),
    constants: (s) => ({ WORKGROUP_X: CIN3_WORKGROUP[0], WORKGROUP_Y: CIN3_WORKGROUP[1], ...shapeConstants(s) }),
    params: packConv3x3Params,
    bind,
  }),
  kernelVersion<Conv3x3BackwardShape, Conv3x3BackwardBuffers>({
    name: 'unrolled',
    source: {
      label: 'conv3x3BackwardInput.unrolled',
      code: unrolledCode,
      entryPoint: 'conv3x3BackwardInputUnrolled',
      bindings: BINDINGS,
    },
    // PIXELS input pixels × 4 input channels per invocation, vec4 over output channels.
    supports: (s) => s.cIn % 4 === 0 && s.cOut % 4 === 0,
    workgroups: (s) =>
      checkedWorkgroups('conv3x3BackwardInput.unrolled', [
        ceilDiv(s.cIn / 4, UNROLLED_WORKGROUP[0]),
        ceilDiv(ceilDiv(s.w, BACKWARD_UNROLLED_PIXELS), UNROLLED_WORKGROUP[1]),
        s.n * s.h,
      ]),
    constants: (s) => ({ WORKGROUP_X: UNROLLED_WORKGROUP[0], WORKGROUP_Y: UNROLLED_WORKGROUP[1], ...shapeConstants(s) }),
    params: packConv3x3Params,
    bind,
  }),
  gemmVersion('gemm32'),
  gemmVersion('gemm64'),
  gemmVersion('gemm64t8'),
  kernelVersion<Conv3x3BackwardShape, Conv3x3BackwardBuffers>({
    name: 'naive',
    reference: true,
    source,
    supports: () => true,
    workgroups: (s) => checkedWorkgroups('conv3x3BackwardInput', [ceilDiv(s.cIn, WORKGROUP), s.w, s.n * s.h]),
    constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, ...shapeConstants(s) }),
    params: packConv3x3Params,
    bind,
  }),
] as const;
