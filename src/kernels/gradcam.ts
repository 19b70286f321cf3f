// Grad-CAM's two kernels (channel weights, then the normalised map) and the OpenCV-faithful overlay
// (any 256-entry colormap from colormaps.ts; the recipe's saturating blend or the normalised one).
import channelWeightsCode from './gradcamChannelWeights.wgsl?raw';
import heatmapCode from './gradcamHeatmap.wgsl?raw';
import overlayCode from './overlayHeatmap.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params } from './kernel.js';

/** A target layer's map: positions = H·W, channels = C. */
export interface GradcamShape {
  positions: number;
  channels: number;
}

export interface ChannelWeightsBuffers {
  /** dScore/dA: [positions, channels]. */
  grad: GPUBuffer;
  alpha: GPUBuffer;
}

export interface HeatmapBuffers {
  /** The target layer's output A: [positions, channels]. */
  activations: GPUBuffer;
  alpha: GPUBuffer;
  raw: GPUBuffer;
  heat: GPUBuffer;
  /** f32[1]: the max of the ReLU'd raw map (0 means an all-zero map). */
  stats: GPUBuffer;
}

export const packGradcamParams = (s: GradcamShape) => packU32Params([s.positions, s.channels]);

const WORKGROUP = 64;
export const gradcamChannelWeightsVersions = [
  kernelVersion<GradcamShape, ChannelWeightsBuffers>({
    name: 'direct',
    source: { label: 'gradcamChannelWeights', code: channelWeightsCode, entryPoint: 'gradcamChannelWeights', bindings: ['uniform', 'read-only-storage', 'storage'] },
    supports: (s) => s.positions >= 1 && s.channels >= 1,
    workgroups: (s) => checkedWorkgroups('gradcamChannelWeights', [ceilDiv(s.channels, WORKGROUP), 1, 1]),
    constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
    params: packGradcamParams,
    bind: (b) => [b.grad, b.alpha],
  }),
] as const;

/** 256 is WebGPU's guaranteed maxComputeInvocationsPerWorkgroup. */
const HEATMAP_WORKGROUP = 256;
export const gradcamHeatmapVersions = [
  kernelVersion<GradcamShape, HeatmapBuffers>({
    name: 'singleWorkgroup',
    source: {
      label: 'gradcamHeatmap',
      code: heatmapCode,
      entryPoint: 'gradcamHeatmap',
      bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage', 'storage', 'storage'],
    },
    supports: (s) => s.positions >= 1 && s.channels >= 1,
    workgroups: () => [1, 1, 1],
    constants: () => ({ WORKGROUP_SIZE: HEATMAP_WORKGROUP }),
    params: packGradcamParams,
    bind: (b) => [b.activations, b.alpha, b.raw, b.heat, b.stats],
  }),
] as const;

// ---------------------------------------------------------------- overlay

export interface OverlayShape {
  /** The heatmap's size. */
  srcW: number;
  srcH: number;
  /** The original image's size (the overlay's). */
  dstW: number;
  dstH: number;
  alpha: number;
  /** 'add': jet·α + image, saturated (the recipe); 'normalized': (1 − α)·image + α·jet. */
  blend: BlendMode;
}

export type BlendMode = 'add' | 'normalized';
export const BLEND_MODES: readonly BlendMode[] = ['add', 'normalized'];

export interface OverlayBuffers {
  heat: GPUBuffer;
  /** packResizeTable({ srcW, srcH, dstW, dstH, method: 'bilinear' }). */
  table: GPUBuffer;
  /** packColormapLut(name). */
  lut: GPUBuffer;
  image: GPUBuffer;
  out: GPUBuffer;
}

export function packOverlayParams(s: OverlayShape): Uint32Array<ArrayBuffer> {
  const alphaBits = new Uint32Array(new Float32Array([s.alpha]).buffer)[0];
  return packU32Params([s.dstW, s.dstH, s.srcW, alphaBits, BLEND_MODES.indexOf(s.blend)]);
}

const OVERLAY_WORKGROUP: readonly [number, number] = [8, 8];
export const overlayHeatmapVersions = [
  kernelVersion<OverlayShape, OverlayBuffers>({
    name: 'direct',
    source: {
      label: 'overlayHeatmap',
      code: overlayCode,
      entryPoint: 'overlayHeatmap',
      bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'],
    },
    supports: (s) => s.srcW >= 1 && s.srcH >= 1 && s.dstW >= 1 && s.dstH >= 1 && s.alpha >= 0 && s.alpha <= 1 && BLEND_MODES.includes(s.blend),
    workgroups: (s) => checkedWorkgroups('overlayHeatmap', [ceilDiv(s.dstW, OVERLAY_WORKGROUP[0]), ceilDiv(s.dstH, OVERLAY_WORKGROUP[1]), 1]),
    constants: () => ({ WORKGROUP_X: OVERLAY_WORKGROUP[0], WORKGROUP_Y: OVERLAY_WORKGROUP[1] }),
    params: packOverlayParams,
    bind: (b) => [b.heat, b.table, b.lut, b.image, b.out],
  }),
] as const;
