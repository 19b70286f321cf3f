// Grad-CAM's two kernels (channel weights, then the normalised map) and the OpenCV-faithful overlay.
import channelWeightsCode from './gradcamChannelWeights.wgsl?raw';
import heatmapCode from './gradcamHeatmap.wgsl?raw';
import overlayCode from './overlayJet.wgsl?raw';
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
}

export interface OverlayBuffers {
  heat: GPUBuffer;
  /** packResizeTable({ srcW, srcH, dstW, dstH, method: 'bilinear' }). */
  table: GPUBuffer;
  /** jetLut(). */
  lut: GPUBuffer;
  image: GPUBuffer;
  out: GPUBuffer;
}

export function packOverlayParams(s: OverlayShape): Uint32Array<ArrayBuffer> {
  const alphaBits = new Uint32Array(new Float32Array([s.alpha]).buffer)[0];
  return packU32Params([s.dstW, s.dstH, s.srcW, alphaBits]);
}

const roundHalfEven = (v: number) => {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
};

/**
 * OpenCV's COLORMAP_JET as 256 RGB entries. OpenCV holds GNU Octave's jet(256) as float32 base maps
 * r, g, b(x) = clamp(1.5 − |4x − k|, 0, 1) at x = i/255 (k = 3, 2, 1), resamples them with its float32
 * interp1 at linspace(0, 1, 256), and converts with saturate_cast<uchar>(v · 255). Most entries fall on
 * exact halves, so the float32 steps (and round half to even) are emulated rather than approximated.
 */
export function jetColormap(): Uint8Array {
  const f = Math.fround;
  const n = 256;
  const step = f(1 / (n - 1));
  const X = Array.from({ length: n }, (_, i) => f(i * step));
  const channel = (k: number) => {
    const Y = Array.from({ length: n }, (_, i) => f(Math.min(1, Math.max(0, 1.5 - Math.abs((4 * i) / (n - 1) - k)))));
    return X.map((xi, i) => {
      if (i === 0) return Y[0];
      const t = f(f(f(xi - X[i - 1]) * f(Y[i] - Y[i - 1])) / f(X[i] - X[i - 1]));
      return f(Y[i - 1] + t);
    });
  };
  const [r, g, b] = [channel(3), channel(2), channel(1)];
  const lut = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    lut[3 * i] = Math.min(255, Math.max(0, roundHalfEven(f(r[i] * 255))));
    lut[3 * i + 1] = Math.min(255, Math.max(0, roundHalfEven(f(g[i] * 255))));
    lut[3 * i + 2] = Math.min(255, Math.max(0, roundHalfEven(f(b[i] * 255))));
  }
  return lut;
}

/** The `lut` buffer's contents: R | G << 8 | B << 16 per entry. */
export function packJetLut(): Uint32Array<ArrayBuffer> {
  const rgb = jetColormap();
  return Uint32Array.from({ length: 256 }, (_, i) => rgb[3 * i] | (rgb[3 * i + 1] << 8) | (rgb[3 * i + 2] << 16));
}

const OVERLAY_WORKGROUP: readonly [number, number] = [8, 8];
export const overlayJetVersions = [
  kernelVersion<OverlayShape, OverlayBuffers>({
    name: 'direct',
    source: {
      label: 'overlayJet',
      code: overlayCode,
      entryPoint: 'overlayJet',
      bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'],
    },
    supports: (s) => s.srcW >= 1 && s.srcH >= 1 && s.dstW >= 1 && s.dstH >= 1 && s.alpha >= 0,
    workgroups: (s) => checkedWorkgroups('overlayJet', [ceilDiv(s.dstW, OVERLAY_WORKGROUP[0]), ceilDiv(s.dstH, OVERLAY_WORKGROUP[1]), 1]),
    constants: () => ({ WORKGROUP_X: OVERLAY_WORKGROUP[0], WORKGROUP_Y: OVERLAY_WORKGROUP[1] }),
    params: packOverlayParams,
    bind: (b) => [b.heat, b.table, b.lut, b.image, b.out],
  }),
] as const;
