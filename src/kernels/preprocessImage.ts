import code from './preprocessImage.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, type KernelSource } from './kernel.js';

/**
 * 'nearest' is Keras' default (`load_img(..., interpolation='nearest')`, PIL NEAREST).
 * 'bilinear' is half-pixel-centre bilinear interpolation without antialiasing (as cv2.resize
 * INTER_LINEAR or tf.image.resize); it is not PIL's antialiased BILINEAR filter.
 */
export type ResizeMethod = 'nearest' | 'bilinear';

export interface PreprocessShape {
  srcW: number;
  srcH: number;
  dstW: number;
  dstH: number;
  method: ResizeMethod;
}

export interface PreprocessBuffers {
  /** RGBA8 pixels, srcW × srcH × 4 bytes. */
  src: GPUBuffer;
  /** From {@link packResizeTable}. */
  table: GPUBuffer;
  /** dstH × dstW × 3 float32, BGR minus the ImageNet means. */
  y: GPUBuffer;
}

/** Keras' `preprocess_input` means, in B, G, R order (also written in the WGSL, which is what runs). */
export const IMAGENET_MEAN_BGR = [103.939, 116.779, 123.68] as const;

export interface AxisTable {
  i0: Uint32Array;
  i1: Uint32Array;
  /** Weight of i1; 0 for nearest. */
  w1: Float64Array;
}

/**
 * Source indices for one axis. Nearest follows Pillow's ImagingScaleAffine: the sampling position
 * starts at scale/2 and is advanced by repeated float64 addition of scale, then truncated; the
 * accumulation matters, since (x + 0.5)·scale computed directly differs for some sizes.
 */
export function resizeAxisTable(inSize: number, outSize: number, method: ResizeMethod): AxisTable {
  if (!(inSize >= 1 && outSize >= 1)) throw new RangeError(`resize: sizes must be ≥ 1 (got ${inSize} → ${outSize})`);
  const i0 = new Uint32Array(outSize);
  const i1 = new Uint32Array(outSize);
  const w1 = new Float64Array(outSize);
  const scale = inSize / outSize;
  if (method === 'nearest') {
    let pos = scale * 0.5;
    for (let d = 0; d < outSize; d++) {
      const i = Math.min(pos < 0 ? 0 : Math.trunc(pos), inSize - 1);
      i0[d] = i;
      i1[d] = i;
      pos += scale;
    }
  } else {
    // cv2.resize INTER_LINEAR: fx = (float)((dx + 0.5) · scale − 0.5) with scale = 1 / (out / in), in
    // float32; positions left of the first centre or right of the last one clamp to the edge pixel.
    const cvScale = 1 / (outSize / inSize);
    for (let d = 0; d < outSize; d++) {
      const pos = Math.fround((d + 0.5) * cvScale - 0.5);
      const lo = Math.floor(pos);
      if (lo < 0) {
        i0[d] = 0;
        i1[d] = 0;
        w1[d] = 0;
      } else if (lo >= inSize - 1) {
        i0[d] = inSize - 1;
        i1[d] = inSize - 1;
        w1[d] = 0;
      } else {
        i0[d] = lo;
        i1[d] = lo + 1;
        w1[d] = pos - lo;
      }
    }
  }
  return { i0, i1, w1 };
}

/** The `table` buffer: columns then rows, each entry (i0, i1, f32 bits of w1). */
export function packResizeTable(s: PreprocessShape): Uint32Array<ArrayBuffer> {
  const out = new Uint32Array(3 * (s.dstW + s.dstH));
  const f32 = new Float32Array(out.buffer);
  let o = 0;
  for (const t of [resizeAxisTable(s.srcW, s.dstW, s.method), resizeAxisTable(s.srcH, s.dstH, s.method)]) {
    for (let d = 0; d < t.i0.length; d++, o += 3) {
      out[o] = t.i0[d];
      out[o + 1] = t.i1[d];
      f32[o + 2] = t.w1[d];
    }
  }
  return out;
}

export function packPreprocessParams(s: PreprocessShape): Uint32Array<ArrayBuffer> {
  return packU32Params([s.srcW, s.srcH, s.dstW, s.dstH]);
}

const WORKGROUP: readonly [number, number] = [8, 8];
const source: KernelSource = {
  label: 'preprocessImage',
  code,
  entryPoint: 'preprocessImage',
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'],
};

const tableDriven = kernelVersion<PreprocessShape, PreprocessBuffers>({
  name: 'tableDriven',
  source,
  supports: (s) => s.srcW >= 1 && s.srcH >= 1 && s.dstW >= 1 && s.dstH >= 1,
  workgroups: (s) => checkedWorkgroups('preprocessImage', [ceilDiv(s.dstW, WORKGROUP[0]), ceilDiv(s.dstH, WORKGROUP[1]), 1]),
  constants: () => ({ WORKGROUP_X: WORKGROUP[0], WORKGROUP_Y: WORKGROUP[1] }),
  params: packPreprocessParams,
  bind: (b) => [b.src, b.table, b.y],
});

export const preprocessImageVersions = [tableDriven] as const;
