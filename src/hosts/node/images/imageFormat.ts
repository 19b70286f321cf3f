// What the image decoders share: one error class, one size limit and one wording for what to do.
import { MAX_IMAGE_PIXELS } from '../../../engine/device.js';
// jpegDecode.ts uses no Node API (a browser host could use it as is); pngDecode.ts needs an inflate
// (node:zlib here).

/** A file that is not a decodable image; the message is one plain line: what is wrong; what to do. */
export class ImageFormatError extends Error {
  override name = 'ImageFormatError';
}

/** What to do about a damaged file. */
export const DOWNLOAD_AGAIN = 'download or export it again';

/** The largest image accepted (the engine's limit), checked from the header before any pixel buffer exists. */
export const MAX_DECODED_PIXELS = MAX_IMAGE_PIXELS;

/** Refuses empty images and those over `maxPixels`, in the same words for every format. */
export function checkImageSize(width: number, height: number, maxPixels = MAX_DECODED_PIXELS): void {
  if (width < 1 || height < 1) throw new ImageFormatError(`the image is ${width}×${height} pixels (empty); ${DOWNLOAD_AGAIN}`);
  if (width * height > maxPixels) {
    const mp = Math.ceil((width * height) / 1e5) / 10; // rounded up: never shows the limit itself
    throw new ImageFormatError(`${width}×${height} is ${mp} megapixels, over the ${maxPixels / 1e6}-megapixel limit; downscale it first`);
  }
}
