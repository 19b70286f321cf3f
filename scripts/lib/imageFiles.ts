// Image files for the CLI. Decoded pixels must be what Keras sees: PIL decodes JPEG with libjpeg-turbo
// defaults (integer IDCT, fancy upsampling), so JPEG goes through mozjpeg's decoder compiled to
// WebAssembly (@jsquash/jpeg; mozjpeg is libjpeg-turbo), checked against Debian's djpeg in the tests.
// PNG goes through pngjs (lossless: any correct decoder gives the same pixels).
import decodeJpeg, { init as initJpegDecoder } from '@jsquash/jpeg/decode.js';
import encodeJpeg, { init as initJpegEncoder } from '@jsquash/jpeg/encode.js';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { PNG } from 'pngjs';
import type { ImageInput } from '../../src/engine/network.js';

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

let jpegReady: Promise<void> | undefined;
function jpegCodecs(): Promise<void> {
  jpegReady ??= (async () => {
    const dir = dirname(require.resolve('@jsquash/jpeg/decode.js'));
    await initJpegDecoder(await WebAssembly.compile(readFileSync(join(dir, 'codec/dec/mozjpeg_dec.wasm'))));
    await initJpegEncoder(await WebAssembly.compile(readFileSync(join(dir, 'codec/enc/mozjpeg_enc.wasm'))));
  })();
  return jpegReady;
}

const isPng = (b: Uint8Array) => b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
const isJpeg = (b: Uint8Array) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** Reads a PNG or JPEG (by content, not extension) as RGBA8. */
export async function readImage(path: string): Promise<ImageInput> {
  if (!existsSync(path)) throw new Error(`${path}: no such file`);
  const bytes = readFileSync(path);
  let image: ImageInput;
  try {
    if (isPng(bytes)) {
      const png = PNG.sync.read(bytes);
      image = { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length) };
    } else if (isJpeg(bytes)) {
      await jpegCodecs();
      const d = await decodeJpeg(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer);
      image = { width: d.width, height: d.height, data: d.data };
    } else {
      throw new Error('not a PNG or JPEG file');
    }
  } catch (e) {
    throw new Error(`${path}: cannot read the image (${e instanceof Error ? e.message : e}); pass a PNG or JPEG file`);
  }
  if (image.width < 1 || image.height < 1) throw new Error(`${path}: the image has no pixels (${image.width}×${image.height})`);
  return image;
}

export async function encodeImage(path: string, image: ImageInput): Promise<Uint8Array> {
  if (/\.png$/i.test(path)) {
    const png = new PNG({ width: image.width, height: image.height });
    png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
    return PNG.sync.write(png);
  }
  if (/\.jpe?g$/i.test(path)) {
    await jpegCodecs();
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
