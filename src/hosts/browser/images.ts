// Browser: images become the engine's RGBA8 input through the browser's own decoders (createImageBitmap,
// canvas), which differ from PIL's in JPEG upsampling and colour management; the Node host decodes
// exactly as PIL does (src/hosts/node/images). EXIF orientation: createImageBitmap's default applies it
// ('from-image'), Keras does not; 'none' keeps the stored orientation, as Keras sees it.
import type { ImageInput } from '../../engine/network.js';

/** The pixels of anything a canvas can draw (an image, a video frame, a bitmap, a canvas). */
export function pixelsOf(source: CanvasImageSource, width: number, height: number): ImageInput {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(source, 0, 0);
  const d = ctx.getImageData(0, 0, width, height);
  return { width: d.width, height: d.height, data: d.data };
}

/** Decodes an image file (PNG, JPEG, WebP, … whatever this browser opens), without EXIF rotation. */
export async function decodeImageFile(file: Blob): Promise<ImageInput> {
  const bitmap = await createImageBitmap(file, { imageOrientation: 'none' });
  try {
    return pixelsOf(bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}
