// Decoded JPEG pixels must be the ones Keras sees (PIL → libjpeg-turbo defaults). readImage (our
// TypeScript decoder, scripts/lib/jpegDecode.ts) against Debian's djpeg, i.e. libjpeg-turbo itself, on
// JPEGs made here by cjpeg: 4:2:0 and 4:4:4 chroma, odd sizes, progressive, grayscale. Every pixel must be
// equal. (test/jpeg-pil.test.ts compares with PIL on many more kinds.) Then damaged files and the limit.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_IMAGE_PIXELS } from '../src/engine/gradcam.js';
import { MAX_DECODED_PIXELS, readImage } from '../src/hosts/node/images/imageFiles.js';
import { syntheticPhoto } from './support/images.js';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-jpeg-'));
const AGAIN = 'download or export it again';
const readError = (path: string) =>
  readImage(path).then(
    () => 'no error',
    (e: unknown) => (e instanceof Error ? e.message : `not an Error: ${String(e)}`),
  );
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ppm(width: number, height: number, seed: number): string {
  const img = syntheticPhoto(width, height, seed);
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = img.data[4 * i + c];
  const path = join(dir, `src-${width}x${height}.ppm`);
  writeFileSync(path, Buffer.concat([Buffer.from(`P6\n${width} ${height}\n255\n`), rgb]));
  return path;
}

function djpeg(path: string): { width: number; height: number; channels: number; pixels: Buffer } {
  const out = execFileSync('djpeg', ['-pnm', path]);
  const m = /^(P[56])\s+(\d+)\s+(\d+)\s+255\s/.exec(out.toString('latin1'))!;
  return { width: Number(m[2]), height: Number(m[3]), channels: m[1] === 'P6' ? 3 : 1, pixels: out.subarray(m[0].length) };
}

describe('JPEG decoding equals libjpeg-turbo’s djpeg, pixel for pixel', () => {
  it.each([
    ['4:2:0', 37, 23, ['-quality', '85', '-sample', '2x2']],
    ['4:4:4', 37, 23, ['-quality', '92', '-sample', '1x1']],
    ['4:2:0 odd size', 225, 171, ['-quality', '75', '-sample', '2x2']],
    ['4:2:2', 64, 33, ['-quality', '90', '-sample', '2x1']],
    ['progressive', 101, 77, ['-quality', '80', '-progressive']],
    ['grayscale', 50, 31, ['-quality', '80', '-grayscale']],
  ] as const)('%s %i×%i', async (_name, width, height, args) => {
    const jpg = join(dir, `${_name.replace(/\W/g, '')}-${width}x${height}.jpg`);
    writeFileSync(jpg, execFileSync('cjpeg', [...args, ppm(width, height, width)]));
    const ours = await readImage(jpg);
    const ref = djpeg(jpg);
    expect([ours.width, ours.height]).toEqual([ref.width, ref.height]);
    let mismatches = 0;
    for (let i = 0; i < width * height; i++)
      for (let c = 0; c < 3; c++) if (ours.data[4 * i + c] !== ref.pixels[ref.channels * i + (ref.channels === 3 ? c : 0)]) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('a file that is neither PNG nor JPEG is refused by name', async () => {
    const bad = join(dir, 'notes.jpg');
    writeFileSync(bad, 'hello');
    expect(await readError(bad)).toBe(`${bad}: not an image: it is plain text; pass a PNG or JPEG file`);
    const cut = join(dir, 'cut.jpg');
    writeFileSync(cut, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
    expect(await readError(cut)).toBe(`${cut}: truncated JPEG: the file ends after 6 bytes, inside the APP0 marker; ${AGAIN}`);
  });
});

describe('damaged or oversized JPEGs: one plain line (the damaged ones Pillow refuses too)', () => {
  const made = (name: string, args: string[]) => {
    const jpg = join(dir, `${name}.jpg`);
    writeFileSync(jpg, execFileSync('cjpeg', [...args, ppm(64, 48, 5)]));
    return readFileSync(jpg);
  };
  const write = (name: string, bytes: Uint8Array) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  /** [marker, offset of its FF] of each segment up to SOS. */
  const segments = (b: Buffer) => {
    const out: [number, number][] = [];
    for (let o = 2; o < b.length && b[o] === 0xff; o += 2 + b.readUInt16BE(o + 2)) {
      out.push([b[o + 1], o]);
      if (b[o + 1] === 0xda) break;
    }
    return out;
  };

  it.each([
    ['baseline', ['-quality', '85']],
    ['progressive', ['-quality', '85', '-progressive']],
  ])('%s JPEG cut in half, or missing only its end marker', async (name, args) => {
    const whole = made(name, args);
    const half = write(`${name}-half.jpg`, whole.subarray(0, whole.length >> 1));
    expect(await readError(half)).toBe(`${half}: truncated JPEG: the file ends after ${whole.length >> 1} bytes, before the end of the image; ${AGAIN}`);
    // Pillow refuses a JPEG without EOI even when only those two bytes are missing (libjpeg alone would
    // fill in gray and decode it).
    const noEoi = write(`${name}-no-eoi.jpg`, whole.subarray(0, whole.length - 2));
    expect(await readError(noEoi)).toBe(`${noEoi}: truncated JPEG: the file ends after ${whole.length - 2} bytes, before the end of the image; ${AGAIN}`);
  });

  it('bytes after the end marker are ignored (as Pillow and libjpeg ignore them)', async () => {
    const whole = made('trailing', ['-quality', '90']);
    const path = write('trailing-garbage.jpg', Buffer.concat([whole, Buffer.from('\xff\xd8 some trailing bytes \xff\xd9', 'latin1')]));
    const ours = await readImage(path);
    const ref = djpeg(write('trailing-clean.jpg', whole));
    let mismatches = 0;
    for (let i = 0; i < ours.width * ours.height; i++) for (let c = 0; c < 3; c++) if (ours.data[4 * i + c] !== ref.pixels[3 * i + c]) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('a SOF claiming more than 40 megapixels is refused from the header, at once', async () => {
    const b = Buffer.from(made('sof', ['-quality', '80']));
    const [, sof] = segments(b).find(([m]) => m === 0xc0)!;
    b.writeUInt16BE(5000, sof + 5); // height
    b.writeUInt16BE(10000, sof + 7); // width
    const path = write('huge-sof.jpg', b);
    const t0 = performance.now();
    expect(await readError(path)).toBe(`${path}: 10000×5000 is 50 megapixels, over the 40-megapixel limit; downscale it first`);
    expect(performance.now() - t0).toBeLessThan(100);
  });

  it('the decoders refuse images above the limit the engine accepts, no more, no less', () => {
    expect(MAX_DECODED_PIXELS).toBe(MAX_IMAGE_PIXELS);
  });

  it('a JPEG whose header ends without image data, and one with a zero height', async () => {
    const b = made('noscan', ['-quality', '80']);
    const [, sos] = segments(b).find(([m]) => m === 0xda)!;
    const noScan = write('no-scan.jpg', Buffer.concat([b.subarray(0, sos), Buffer.from([0xff, 0xd9])]));
    expect(await readError(noScan)).toBe(`${noScan}: corrupt JPEG: the file has a frame header but no image data (no SOS marker); ${AGAIN}`);
    const z = Buffer.from(b);
    const [, sof] = segments(z).find(([m]) => m === 0xc0)!;
    z.writeUInt16BE(0, sof + 5);
    const zero = write('zero-height.jpg', z);
    // A height of 0 in SOF means "given later by a DNL marker", which libjpeg (and so PIL) cannot read.
    expect(await readError(zero)).toBe(
      `${zero}: unsupported JPEG: the height is given only after the image data (DNL marker), which libjpeg does not support; re-save it as a baseline JPEG or a PNG`,
    );
  });
});
