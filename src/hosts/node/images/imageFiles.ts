// Image files for the CLI. Decoded pixels must be what Keras sees: keras.utils.load_img is Pillow's
// Image.open(f).convert('RGB'), and both decoders follow Debian bookworm's Pillow 9.4 (with libjpeg-turbo
// 2.1.5) exactly, checked pixel for pixel against Pillow itself:
//   - PNG: ./pngDecode.ts over node:zlib, every PNG kind (16-bit gray clipped to 255, most significant
//     bytes of other 16-bit samples, palettes, Adam7), test/png-pil.test.ts;
//   - JPEG: ./jpegDecode.ts, libjpeg-turbo's integer IDCT, fancy upsampling and colour conversion in
//     TypeScript: baseline, progressive and arithmetic, any sampling, grayscale, CMYK and YCCK (converted
//     as Pillow converts them), test/jpeg-pil.test.ts. (mozjpeg in WebAssembly, which decoded JPEGs before,
//     now only encodes a .jpg overlay: it cannot decode CMYK/YCCK or arithmetic coding, and rounds 1x2
//     chroma upsampling differently from libjpeg-turbo 2.1.)
// The result is RGBA8 with alpha 255: alpha and transparency are dropped, as PIL's convert('RGB') drops them.
// EXIF orientation is not applied: Keras does not apply it either.
// Every failure is one plain line, `${path}: <what is wrong>; <what to do>`, and sizes over the
// MAX_DECODED_PIXELS limit are refused from the header, before any pixel buffer is allocated.
import encodeJpeg, { init as initJpegEncoder } from '@jsquash/jpeg/encode.js';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { PNG } from 'pngjs';
import type { ImageInput } from '../../../engine/network.js';
import { checkImageSize, DOWNLOAD_AGAIN as AGAIN, ImageFormatError, MAX_DECODED_PIXELS } from './imageFormat.js';
import { decodeJpeg, readJpegHeader } from './jpegDecode.js';
import { decodePng, isPngSignature, PNG_SIGNATURE, readPngHeader } from './pngDecode.js';

export { ImageFormatError, MAX_DECODED_PIXELS };

const require = createRequire(import.meta.url);

// The emscripten glue returns `new ImageData(…)`, which Node lacks.
if (!('ImageData' in globalThis)) {
  Object.defineProperty(globalThis, 'ImageData', {
    value: class ImageData {
      constructor(
        readonly data: Uint8ClampedArray,
        readonly width: number,
        readonly height: number,
      ) {}
    },
  });
}

let jpegEncoderReady: Promise<void> | undefined;
function jpegEncoder(): Promise<void> {
  jpegEncoderReady ??= (async () => {
    const dir = dirname(require.resolve('@jsquash/jpeg/encode.js'));
    await initJpegEncoder(await WebAssembly.compile(readFileSync(join(dir, 'codec/enc/mozjpeg_enc.wasm'))));
  })();
  return jpegEncoderReady;
}

const JPEG_SOI = [0xff, 0xd8];
const startsWith = (b: Uint8Array, prefix: ArrayLike<number>, at = 0) => {
  if (b.length < at + prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[at + i] !== prefix[i]) return false;
  return true;
};
const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, Math.min(to, b.length)));
// A PNG signature cut short (4 to 7 bytes) is a truncated PNG, not an unknown format.
const isPng = (b: Uint8Array) => (b.length >= 8 ? isPngSignature(b) : b.length >= 4 && startsWith(PNG_SIGNATURE, b));
const isJpeg = (b: Uint8Array) => startsWith(b, JPEG_SOI) && (b.length === 2 || b[2] === 0xff);

/** Names a file that is not PNG or JPEG by its first bytes, with what to do about it. */
function notPngOrJpeg(b: Uint8Array): string {
  const unsupported = (name: string) => `unsupported format ${name}; convert it to PNG or JPEG`;
  const head = ascii(b, 0, 16);
  if (head.startsWith('GIF87a') || head.startsWith('GIF89a')) return unsupported('GIF');
  if (head.startsWith('RIFF') && ascii(b, 8, 12) === 'WEBP') return unsupported('WebP');
  if (head.startsWith('BM') && b.length >= 18 && [12, 40, 52, 56, 64, 108, 124].includes(b[14] | (b[15] << 8))) return unsupported('BMP');
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return unsupported('TIFF');
  if (ascii(b, 4, 8) === 'ftyp') {
    const brand = ascii(b, 8, 12);
    if (brand === 'avif' || brand === 'avis') return unsupported('AVIF');
    if (['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis'].includes(brand)) return unsupported('HEIC');
    if (brand === 'mif1' || brand === 'msf1') return unsupported('HEIF');
  }
  if (startsWith(b, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20]) || startsWith(b, [0xff, 0x0a])) return unsupported('JPEG XL');
  if (startsWith(b, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20])) return unsupported('JPEG 2000');
  if (head.startsWith('8BPS')) return unsupported('PSD (Photoshop)');
  if (head.startsWith('%PDF-')) return unsupported('PDF');
  const text = asText(b.subarray(0, 4096));
  if (text !== undefined) {
    if (/^\s*(<!doctype html|<html|<head|<body)/i.test(text))
      return 'not an image: it is an HTML page (a web page saved in place of the image?); download the image itself';
    if (/^\s*</.test(text) && /<svg[\s>]/i.test(text)) return unsupported('SVG');
    return 'not an image: it is plain text; pass a PNG or JPEG file';
  }
  const hex = [...b.subarray(0, 8)].map((v) => v.toString(16).padStart(2, '0')).join(' ');
  return `not a PNG or JPEG file (it starts with bytes ${hex}); pass a PNG or JPEG file`;
}

/** The text, if `b` is UTF-8 without control characters (a multi-byte character cut at the end allowed). */
function asText(b: Uint8Array): string | undefined {
  for (let cut = 0; cut < 4 && cut < b.length; cut++) {
    let s: string;
    try {
      s = new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(0, b.length - cut));
    } catch {
      if (b.length < 4096) return undefined; // the whole file: nothing was cut
      continue;
    }
    return /[\u0000-\u0008\u000b\u000e-\u001f\u007f]/.test(s) ? undefined : s;
  }
  return undefined;
}

/** Decodes PNG or JPEG bytes (by content) to RGBA8, alpha 255. Throws ImageFormatError (message without a path). */
export async function decodeImageBytes(bytes: Uint8Array): Promise<ImageInput> {
  if (bytes.length === 0) throw new ImageFormatError(`the file is empty (0 bytes); ${AGAIN}`);
  if (isPng(bytes)) {
    const { width, height } = readPngHeader(bytes);
    checkImageSize(width, height);
    return decodePng(bytes);
  }
  if (isJpeg(bytes)) {
    const { width, height } = readJpegHeader(bytes);
    checkImageSize(width, height);
    return decodeJpeg(bytes, { maxPixels: MAX_DECODED_PIXELS });
  }
  throw new ImageFormatError(notPngOrJpeg(bytes));
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ImageFormatError(`${path}: no such file; check the path`);
    if (code === 'EISDIR') throw new ImageFormatError(`${path}: is a directory, not an image file; pass a PNG or JPEG file`);
    if (code === 'EACCES' || code === 'EPERM') throw new ImageFormatError(`${path}: permission denied; check the file's permissions`);
    if (code === 'ERR_FS_FILE_TOO_LARGE')
      throw new ImageFormatError(`${path}: the file is too large to be an image under the ${MAX_DECODED_PIXELS / 1e6}-megapixel limit; downscale it first`);
    throw new ImageFormatError(`${path}: cannot read the file (${code ?? 'read error'}); check the path and the file`);
  }
}

/**
 * Reads a PNG or JPEG (by content, not extension) as RGBA8 with alpha 255: the RGB Keras' load_img gives.
 * Errors are ImageFormatError, one line: `${path}: <what is wrong>; <what to do>`.
 */
export async function readImage(path: string): Promise<ImageInput> {
  const bytes = readBytes(path);
  try {
    return await decodeImageBytes(bytes);
  } catch (e) {
    if (e instanceof Error && e.name === 'ImageFormatError') throw new ImageFormatError(`${path}: ${e.message}`);
    // Anything else is our bug, not the file's; still one line.
    throw new ImageFormatError(`${path}: cannot decode the image (${e instanceof Error ? e.message : String(e)}); please report this with the file`);
  }
}

export async function encodeImage(path: string, image: ImageInput): Promise<Uint8Array> {
  if (/\.png$/i.test(path)) {
    const png = new PNG({ width: image.width, height: image.height });
    png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
    return PNG.sync.write(png);
  }
  if (/\.jpe?g$/i.test(path)) {
    await jpegEncoder();
    const data = new ImageData(new Uint8ClampedArray(image.data), image.width, image.height);
    return new Uint8Array(await encodeJpeg(data, { quality: 95 }));
  }
  throw new Error(`${path}: the overlay is written as .png or .jpg; choose one of those extensions`);
}

/** Writes every file or none: all go to temporary names first, then are renamed into place. */
export function writeFilesAtomically(files: { path: string; bytes: Uint8Array }[]): void {
  const temps: string[] = [];
  try {
    for (const f of files) {
      const tmp = join(dirname(f.path), `.${basename(f.path)}.tmp-${process.pid}`);
      writeFileSync(tmp, f.bytes);
      temps.push(tmp);
    }
    files.forEach((f, i) => renameSync(temps[i], f.path));
  } finally {
    for (const t of temps) if (existsSync(t)) rmSync(t, { force: true });
  }
}
