// Decoded JPEG pixels must be the ones Keras sees (PIL → libjpeg-turbo defaults). Our decoder
// (mozjpeg, i.e. libjpeg-turbo, in WebAssembly) against Debian's djpeg on JPEGs made here by cjpeg:
// 4:2:0 and 4:4:4 chroma, odd sizes, progressive, grayscale. Every pixel must be equal.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readImage } from '../scripts/lib/imageFiles.js';
import { syntheticPhoto } from './support/images.js';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-jpeg-'));
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
    await expect(readImage(bad)).rejects.toThrow(/notes\.jpg: cannot read the image \(not a PNG or JPEG file\); pass a PNG or JPEG file/);
    const cut = join(dir, 'cut.jpg');
    writeFileSync(cut, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
    await expect(readImage(cut)).rejects.toThrow(/cut\.jpg: cannot read the image/);
  });
});
