// Grad-CAM's two kernels (channel weights, then the normalised map) and the OpenCV-faithful overlay
// (any 256-entry colormap from colormaps.ts; the recipe's saturating blend or the normalised one).
import channelWeightsCode from './gradcamChannelWeights.wgsl?raw';
import heatmapCode from './gradcamHeatmap.wgsl?raw';
import overlayCode from './overlayHeatmap.wgsl?raw';
import { ceilDiv, checkedWorkgroups, f32Bits, kernelVersion, packU32Params } from './kernel.js';

/** A target layer's map: positions = H·W, channels = C, rows = target rows over one forward (default 1). */
export interface GradcamShape {
  positions: number;
  channels: number;
  rows?: number;
}

/** How the channel weights come from G (and A): see gradcamChannelWeights.wgsl. */
export type ChannelWeightMethod = 'gradcam' | 'gradcam++' | 'xgradcam';
export const CHANNEL_WEIGHT_METHODS: readonly ChannelWeightMethod[] = ['gradcam', 'gradcam++', 'xgradcam'];

/** The per-channel term summed into a map: see gradcamHeatmap.wgsl and camTerms.wgsl. */
export type MapTerm = 'weighted' | 'hirescam' | 'elementwise' | 'layercam' | 'activations';
export const MAP_TERMS: readonly MapTerm[] = ['weighted', 'hirescam', 'elementwise', 'layercam', 'activations'];

export interface ChannelWeightsShape extends GradcamShape {
  method?: ChannelWeightMethod;
}

export interface HeatmapShape extends GradcamShape {
  /** Default 'weighted' ('activations' is for camTerms only). */
  term?: Exclude<MapTerm, 'activations'>;
  /** Divide the channel sum by C (Grad-CAM's recipe; default true). */
  meanOverChannels?: boolean;
}

export interface ChannelWeightsBuffers {
  /** dScore/dA: [rows, positions, channels]. */
  grad: GPUBuffer;
  /** The target layer's output A: [positions, channels]. */
  activations: GPUBuffer;
  /** [rows, channels]. */
  alpha: GPUBuffer;
}

export interface HeatmapBuffers {
  /** The target layer's output A: [positions, channels]. */
  activations: GPUBuffer;
  /** dScore/dA: [rows, positions, channels] (read by the elementwise terms only). */
  grad: GPUBuffer;
  /** [rows, channels] (read by the weighted term only). */
  alpha: GPUBuffer;
  /** [rows, positions]. */
  raw: GPUBuffer;
  heat: GPUBuffer;
  /** f32[rows]: the max of each ReLU'd raw map (0 means an all-zero map). */
  stats: GPUBuffer;
}

export const packGradcamParams = (s: GradcamShape) => packU32Params([s.positions, s.channels]);
const rowsOf = (s: GradcamShape) => s.rows ?? 1;

const WORKGROUP = 64;
export const gradcamChannelWeightsVersions = [
  kernelVersion<ChannelWeightsShape, ChannelWeightsBuffers>({
    name: 'direct',
    source: {
      label: 'gradcamChannelWeights',
      code: channelWeightsCode,
      entryPoint: 'gradcamChannelWeights',
      bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'],
    },
    supports: (s) => s.positions >= 1 && s.channels >= 1 && rowsOf(s) >= 1,
    workgroups: (s) => checkedWorkgroups('gradcamChannelWeights', [ceilDiv(s.channels, WORKGROUP), rowsOf(s), 1]),
    constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, METHOD: CHANNEL_WEIGHT_METHODS.indexOf(s.method ?? 'gradcam') }),
    params: packGradcamParams,
    bind: (b) => [b.grad, b.activations, b.alpha],
  }),
] as const;

/** 256 is WebGPU's guaranteed maxComputeInvocationsPerWorkgroup. */
const HEATMAP_WORKGROUP = 256;
export const gradcamHeatmapVersions = [
  kernelVersion<HeatmapShape, HeatmapBuffers>({
    name: 'singleWorkgroup',
    source: {
      label: 'gradcamHeatmap',
      code: heatmapCode,
      entryPoint: 'gradcamHeatmap',
      bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage', 'storage', 'storage'],
    },
    supports: (s) => s.positions >= 1 && s.channels >= 1 && rowsOf(s) >= 1 && s.term !== ('activations' as MapTerm),
    workgroups: (s) => checkedWorkgroups('gradcamHeatmap', [1, rowsOf(s), 1]),
    constants: (s) => ({ WORKGROUP_SIZE: HEATMAP_WORKGROUP, TERM: MAP_TERMS.indexOf(s.term ?? 'weighted'), MEAN_OVER_CHANNELS: s.meanOverChannels ?? true }),
    params: packGradcamParams,
    bind: (b) => [b.activations, b.grad, b.alpha, b.raw, b.heat, b.stats],
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
  return packU32Params([s.dstW, s.dstH, s.srcW, f32Bits(s.alpha), BLEND_MODES.indexOf(s.blend)]);
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
