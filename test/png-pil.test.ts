// PNG decoding must give the RGB Keras sees: keras.utils.load_img is Pillow's Image.open(f).convert('RGB').
// Every PNG kind (gray 1/2/4/8/16-bit, RGB 8/16, palette 1/2/4/8-bit, gray + alpha 8/16, RGBA 8/16, with
// and without tRNS, each plain and Adam7-interlaced) is decoded by readImage and by Debian's Pillow
// (/usr/bin/python3, python3-pil 9.4), and every pixel must be equal. Files come from Pillow itself where
// it can write the kind (P with bits=1/2/4/8, "1", L, I;16, LA, RGB, RGBA, with transparency=), and from
// the small PNG writer below for the rest (2/4-bit gray, 16-bit RGB, RGBA and gray + alpha, interlacing,
// palettes shorter than the indices, all five row filters, IDAT split over several chunks); Pillow's
// decoding is the reference either way. Damaged files: we decode exactly those Pillow decodes (with its
// pixels) and refuse the others with one plain line, asserted word for word.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage } from '../src/hosts/node/images/imageFiles.js';
import { syntheticPhoto } from './support/images.js';

const PYTHON = '/usr/bin/python3'; // Debian's, with python3-pil and numpy (plain `python3` may be a pyenv shim)
const dir = mkdtempSync(join(tmpdir(), 'gradcam-png-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// ---- PNG kinds and their source samples -------------------------------------------------------------

type Trns = 'value' | 'single' | 'alphas';
interface Kind {
  colorType: 0 | 2 | 3 | 4 | 6;
  bitDepth: number;
  trns?: Trns;
  /** Palette with fewer entries than the indices use: Pillow reads its gray ramp past the end. */
  shortPalette?: boolean;
}
const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as const;
const kindName = (k: Kind) =>
  `${{ 0: 'gray', 2: 'RGB', 3: 'palette', 4: 'gray+alpha', 6: 'RGBA' }[k.colorType]} ${k.bitDepth}-bit` +
  (k.trns ? ` tRNS ${k.trns}` : '') +
  (k.shortPalette ? ' short PLTE' : '');
/** The mode Pillow opens each kind as (PngImagePlugin._MODES). */
const pilMode = (k: Kind) =>
  ({ 0: k.bitDepth === 1 ? '1' : k.bitDepth === 16 ? 'I' : 'L', 2: 'RGB', 3: 'P', 4: k.bitDepth === 16 ? 'RGBA' : 'LA', 6: 'RGBA' })[k.colorType];

interface Source {
  width: number;
  height: number;
  /** Sample values, CHANNELS[colorType] per pixel, at the kind's bit depth. */
  values: Uint16Array;
  palette?: Uint8Array;
  trns?: Uint8Array;
}

/**
 * syntheticPhoto's pixels in the kind's samples. 16-bit samples get a varied low byte (Pillow keeps the
 * high byte of RGB, RGBA and gray + alpha), and every third pixel a value below 256 (16-bit gray is
 * Pillow mode "I", clipped to 255 by convert('RGB'), so those pass through while the others become 255).
 */
function source(k: Kind, width: number, height: number, seed: number): Source {
  const photo = syntheticPhoto(width, height, seed).data;
  const ch = CHANNELS[k.colorType];
  const values = new Uint16Array(width * height * ch);
  const wide = (v: number, x: number, y: number, c: number) =>
    (x + y) % 3 === 0 ? v + (x & 63) : (v << 8) | ((x * 31 + y * 17 + c * 101 + seed) & 255);
  const n = 1 << k.bitDepth;
  const paletteSize = k.colorType === 3 ? (k.shortPalette ? Math.max(1, Math.floor((n * 3) / 4)) : n) : 0;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const rgb = [photo[4 * p], photo[4 * p + 1], photo[4 * p + 2]];
      const lum = Math.floor((rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114 + 500) / 1000);
      const alpha = (x * 13 + y * 29) & 255;
      const sample = (v: number, c: number) => (k.bitDepth === 16 ? wide(v, x, y, c) : v >> (8 - Math.min(8, k.bitDepth)));
      const o = p * ch;
      if (k.colorType === 0) values[o] = sample(lum, 0);
      else if (k.colorType === 2 || k.colorType === 6) for (let c = 0; c < ch; c++) values[o + c] = sample(c < 3 ? rgb[c] : alpha, c);
      else if (k.colorType === 4) [values[o], values[o + 1]] = [sample(lum, 0), sample(alpha, 1)];
      else values[o] = ((lum >> (8 - k.bitDepth)) + (x % 3 === 0 ? 1 : 0)) % n; // palette index, every one used
    }
  const s: Source = { width, height, values };
  if (k.colorType === 3) {
    s.palette = new Uint8Array(paletteSize * 3);
    for (let i = 0; i < paletteSize; i++) {
      const p = (i * 7919 + seed) % (width * height);
      s.palette.set([photo[4 * p], photo[4 * p + 1] ^ (i & 7), photo[4 * p + 2]], 3 * i);
    }
  }
  const be16 = (v: number) => [v >> 8, v & 255];
  if (k.trns === 'value') s.trns = Uint8Array.from(Array.from(values.subarray(0, ch), be16).flat()); // pixel (0, 0)'s color
  if (k.trns === 'single') s.trns = Uint8Array.from({ length: Math.min(2, paletteSize) }, (_, i) => (i === 1 ? 0 : 255));
  if (k.trns === 'alphas') s.trns = Uint8Array.from({ length: paletteSize }, (_, i) => (i * 37) & 255);
  return s;
}

// ---- a tiny PNG writer -------------------------------------------------------------------------------

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const v of b) c = CRC_TABLE[(c ^ v) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
const u32be = (v: number) => Buffer.from([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
/** One chunk; `crc` overrides the right one. */
function chunk(type: string, data: Uint8Array, crc?: number): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  return Buffer.concat([u32be(data.length), body, u32be(crc ?? crc32(body))]);
}
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
function ihdr(width: number, height: number, bitDepth: number, colorType: number, interlace = 0): Buffer {
  return chunk('IHDR', Buffer.concat([u32be(width), u32be(height), Buffer.from([bitDepth, colorType, 0, 0, interlace])]));
}

const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/** The filtered scanlines (before zlib): row r of pass i uses filter (r + i) % 5, so all five occur. */
function scanlines(k: Kind, s: Source, interlaced: boolean): Buffer {
  const ch = CHANNELS[k.colorType];
  const bits = k.bitDepth;
  const bpp = Math.max(1, (ch * bits) >> 3);
  const out: number[] = [];
  (interlaced ? ADAM7 : [[0, 0, 1, 1]]).forEach(([x0, y0, dx, dy], passIndex) => {
    const pw = s.width > x0 ? Math.ceil((s.width - x0) / dx) : 0;
    const ph = s.height > y0 ? Math.ceil((s.height - y0) / dy) : 0;
    if (!pw || !ph) return;
    const rowBytes = Math.ceil((pw * ch * bits) / 8);
    let prev = new Uint8Array(rowBytes);
    for (let r = 0; r < ph; r++) {
      const row = new Uint8Array(rowBytes);
      let bit = 0;
      for (let x = 0; x < pw; x++)
        for (let c = 0; c < ch; c++) {
          const v = s.values[((y0 + r * dy) * s.width + x0 + x * dx) * ch + c];
          if (bits === 16) row.set([v >> 8, v & 255], bit >> 3);
          else row[bit >> 3] |= v << (8 - bits - (bit & 7));
          bit += bits;
        }
      const filter = (r + passIndex) % 5;
      out.push(filter);
      for (let i = 0; i < rowBytes; i++) {
        const a = i >= bpp ? row[i - bpp] : 0;
        const b = prev[i];
        const c = i >= bpp ? prev[i - bpp] : 0;
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filter];
        out.push((row[i] - predictor) & 255);
      }
      prev = row;
    }
  });
  return Buffer.from(out);
}

/** A PNG of kind k, its zlib stream split over three IDAT chunks. */
function writePng(k: Kind, s: Source, interlaced: boolean, zlibData = deflateSync(scanlines(k, s, interlaced))): Buffer {
  const third = Math.ceil(zlibData.length / 3);
  return Buffer.concat([
    SIGNATURE,
    ihdr(s.width, s.height, k.bitDepth, k.colorType, interlaced ? 1 : 0),
    chunk('gAMA', u32be(45455)),
    ...(s.palette ? [chunk('PLTE', s.palette)] : []),
    ...(s.trns ? [chunk('tRNS', s.trns)] : []),
    chunk('IDAT', zlibData.subarray(0, third)),
    chunk('IDAT', zlibData.subarray(third, 2 * third)),
    chunk('IDAT', zlibData.subarray(2 * third)),
    chunk('tEXt', Buffer.from('Comment\0after the pixels', 'latin1')),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

// ---- the kinds -------------------------------------------------------------------------------------

const KINDS: Kind[] = [
  ...[1, 2, 4, 8, 16].flatMap((bitDepth) => [{ colorType: 0, bitDepth }, { colorType: 0, bitDepth, trns: 'value' }] as Kind[]),
  ...[8, 16].flatMap((bitDepth) => [{ colorType: 2, bitDepth }, { colorType: 2, bitDepth, trns: 'value' }] as Kind[]),
  ...[1, 2, 4, 8].flatMap(
    (bitDepth) =>
      [
        { colorType: 3, bitDepth },
        { colorType: 3, bitDepth, trns: 'single' },
        { colorType: 3, bitDepth, trns: 'alphas' },
        { colorType: 3, bitDepth, shortPalette: true },
      ] as Kind[],
  ),
  ...[8, 16].flatMap((bitDepth) => [{ colorType: 4, bitDepth }, { colorType: 6, bitDepth }] as Kind[]),
];
const W = 37;
const H = 23;

interface Case {
  name: string;
  file: string;
  kind: Kind;
  interlaced: boolean;
  /** Made by Pillow (from `raw`, with these save options) rather than by our writer. */
  pil?: { mode: string; raw: string; bits?: number; transparency?: number | number[]; transparencyBytes?: number[]; palette?: number[] };
}
const cases: Case[] = [];
let seed = 1;
for (const interlaced of [false, true])
  for (const kind of KINDS) {
    const name = `${kindName(kind)}${interlaced ? ' interlaced' : ''} ${W}×${H}`;
    const file = join(dir, `ours-${cases.length}.png`);
    writeFileSync(file, writePng(kind, source(kind, W, H, seed++), interlaced));
    cases.push({ name, file, kind, interlaced });
  }
// Adam7 at sizes where passes are empty or one pixel wide, in bit-packed and 16-bit kinds.
for (const [w, h] of [[1, 1], [2, 3], [5, 5], [9, 10], [13, 1], [1, 13]])
  for (const kind of [{ colorType: 0, bitDepth: 1 }, { colorType: 3, bitDepth: 2 }, { colorType: 3, bitDepth: 4 }, { colorType: 6, bitDepth: 16 }] as Kind[]) {
    const file = join(dir, `ours-${cases.length}.png`);
    writeFileSync(file, writePng(kind, source(kind, w, h, seed++), true));
    cases.push({ name: `${kindName(kind)} interlaced ${w}×${h}`, file, kind, interlaced: true });
  }

// Made by Pillow: every kind it writes. Raw input bytes for Image.frombytes(mode, …).
function pilCase(kind: Kind, mode: string, options: Omit<NonNullable<Case['pil']>, 'mode' | 'raw'> = {}): void {
  const s = source(kind, W, H, seed++);
  let raw: Uint8Array;
  if (mode === 'I;16') raw = new Uint8Array(new Uint16Array(s.values).buffer); // little-endian, as I;16 is
  else if (mode === '1') raw = Uint8Array.from(s.values, (v) => v * 255); // 'L' 0/255, converted to '1' in Python
  else raw = Uint8Array.from(s.values);
  const rawFile = join(dir, `pil-${cases.length}.raw`);
  writeFileSync(rawFile, raw);
  if (s.palette) options.palette = [...s.palette];
  if (kind.trns === 'value') {
    const v = Array.from(s.values.subarray(0, CHANNELS[kind.colorType]));
    options.transparency = v.length === 1 ? v[0] : v;
  }
  if (kind.trns === 'single') options.transparency = 1;
  if (kind.trns === 'alphas') options.transparencyBytes = [...s.trns!];
  cases.push({ name: `${kindName(kind)} ${W}×${H}, written by Pillow (${mode})`, file: join(dir, `pil-${cases.length}.png`), kind, interlaced: false, pil: { mode, raw: rawFile, ...options } });
}
pilCase({ colorType: 0, bitDepth: 1 }, '1');
pilCase({ colorType: 0, bitDepth: 1, trns: 'value' }, '1');
pilCase({ colorType: 0, bitDepth: 8 }, 'L');
pilCase({ colorType: 0, bitDepth: 8, trns: 'value' }, 'L');
pilCase({ colorType: 0, bitDepth: 16 }, 'I;16');
pilCase({ colorType: 0, bitDepth: 16, trns: 'value' }, 'I;16');
pilCase({ colorType: 2, bitDepth: 8 }, 'RGB');
pilCase({ colorType: 2, bitDepth: 8, trns: 'value' }, 'RGB');
pilCase({ colorType: 4, bitDepth: 8 }, 'LA');
pilCase({ colorType: 6, bitDepth: 8 }, 'RGBA');
for (const bits of [1, 2, 4, 8]) {
  pilCase({ colorType: 3, bitDepth: bits }, 'P', { bits });
  pilCase({ colorType: 3, bitDepth: bits, trns: 'single' }, 'P', { bits });
  pilCase({ colorType: 3, bitDepth: bits, trns: 'alphas' }, 'P', { bits });
}

// ---- damaged files -----------------------------------------------------------------------------------

const rgbKind: Kind = { colorType: 2, bitDepth: 8 };
const rgbSource = source(rgbKind, W, H, 99);
const good = writePng(rgbKind, rgbSource, false);
const goodZlib = deflateSync(scanlines(rgbKind, rgbSource, false));
/** Offsets of each chunk in `good`: [type, start of its length field, data length]. */
const layout = (() => {
  const out: [string, number, number][] = [];
  for (let o = 8; o < good.length; ) {
    const len = good.readUInt32BE(o);
    out.push([good.toString('latin1', o + 4, o + 8), o, len]);
    o += 12 + len;
  }
  return out;
})();
const at = (type: string, nth = 0) => layout.filter((c) => c[0] === type)[nth];
const flip = (b: Buffer, offset: number) => {
  const c = Buffer.from(b);
  c[offset] ^= 0x40;
  return c;
};
const palKind: Kind = { colorType: 3, bitDepth: 8 };
const palSource = source(palKind, W, H, 98);
const withoutChunk = (b: Buffer, type: string) => {
  const parts = [b.subarray(0, 8)];
  for (let o = 8; o < b.length; ) {
    const len = b.readUInt32BE(o);
    if (b.toString('latin1', o + 4, o + 8) !== type) parts.push(b.subarray(o, o + 12 + len));
    o += 12 + len;
  }
  return Buffer.concat(parts);
};
const rawGood = scanlines(rgbKind, rgbSource, false);
const rowBytes = 1 + W * 3;
/** Bytes of the first `passes` Adam7 passes of the W×H RGB image. */
const adam7Bytes = (passes: number) =>
  ADAM7.slice(0, passes).reduce((n, [x0, y0, dx, dy]) => n + Math.ceil((H - y0) / dy) * (1 + 3 * Math.ceil((W - x0) / dx)), 0);

/** Files Pillow decodes: we must too, to the same pixels. */
const DAMAGED_OK: [string, Buffer][] = [
  ['no IEND', good.subarray(0, at('tEXt')[1])],
  ['cut inside the last IDAT CRC', good.subarray(0, at('tEXt')[1] - 2)],
  ['zlib stream without its Adler-32, file cut there', good.subarray(0, at('tEXt')[1] - 8)],
  ['bad IDAT CRC (Pillow does not check it)', flip(good, at('IDAT', 1)[1] + 8 + at('IDAT', 1)[2] + 1)],
  ['bad CRC after the pixel data', flip(good, at('tEXt')[1] + 12 + at('tEXt')[2])],
  ['damaged chunk header after the pixel data', Buffer.concat([good.subarray(0, at('tEXt')[1]), Buffer.from('\0\0\0\x05#$%&junk\0\0\0\0')])],
  ['zlib stream with more rows than the image', writePng(rgbKind, rgbSource, false, deflateSync(Buffer.concat([rawGood, rawGood.subarray(0, 5 * rowBytes)])))],
  ['zlib stream that ends 7 rows early (Pillow leaves them 0)', writePng(rgbKind, rgbSource, false, deflateSync(rawGood.subarray(0, 16 * rowBytes)))],
  ['palette stream that ends after 10 rows (Pillow leaves the rest index 0)', writePng(palKind, palSource, false, deflateSync(scanlines(palKind, palSource, false).subarray(0, 10 * (1 + W))))],
  ['interlaced stream that ends after pass 5', writePng(rgbKind, rgbSource, true, deflateSync(scanlines(rgbKind, rgbSource, true).subarray(0, adam7Bytes(5))))],
  ['palette image without PLTE (Pillow reads its gray ramp)', withoutChunk(writePng(palKind, palSource, false), 'PLTE')],
  ['IHDR after another chunk', Buffer.concat([SIGNATURE, chunk('gAMA', u32be(45455)), good.subarray(8, at('gAMA')[1]), good.subarray(at('gAMA')[1] + 16)])],
];

const AGAIN = 'download or export it again';
/** Files Pillow refuses too: [name, bytes, our message after the path]. */
const DAMAGED_REFUSED: [string, Buffer, string][] = [
  ['cut inside the signature', good.subarray(0, 5), `truncated PNG: the file ends after 5 bytes, inside the PNG signature; ${AGAIN}`],
  ['cut inside IHDR', good.subarray(0, 20), `truncated PNG: the file ends after 20 bytes, inside the IHDR chunk (the image header); ${AGAIN}`],
  ['cut after the signature', good.subarray(0, 8), `truncated PNG: the file ends after 8 bytes, before the IHDR chunk (the image header); ${AGAIN}`],
  ['cut after IHDR', good.subarray(0, 33), `truncated PNG: the file ends after 33 bytes, before the pixel data; ${AGAIN}`],
  ['cut inside gAMA', good.subarray(0, 45), `truncated PNG: the file ends after 45 bytes, inside the gAMA chunk (before the pixel data); ${AGAIN}`],
  ['cut inside the first IDAT', good.subarray(0, at('IDAT')[1] + 30), `truncated PNG: the file ends after ${at('IDAT')[1] + 30} bytes, inside the pixel data; ${AGAIN}`],
  ['cut between IDAT chunks', good.subarray(0, at('IDAT', 1)[1] + 6), `truncated PNG: the file ends after ${at('IDAT', 1)[1] + 6} bytes, inside the pixel data; ${AGAIN}`],
  ['cut in the middle', good.subarray(0, good.length >> 1), `truncated PNG: the file ends after ${good.length >> 1} bytes, inside the pixel data; ${AGAIN}`],
  ['bad IHDR CRC', flip(good, 8 + 8 + 3), `corrupt PNG: the IHDR chunk (the image header) fails its checksum; ${AGAIN}`],
  ['bad gAMA CRC', flip(good, at('gAMA')[1] + 12 + 1), `corrupt PNG: the gAMA chunk (before the pixel data) fails its checksum; ${AGAIN}`],
  ['bad PLTE CRC', flip(writePng(palKind, palSource, false), 8 + 25 + 16 + 12 + 3), `corrupt PNG: the PLTE chunk (the palette) fails its checksum; ${AGAIN}`],
  ['damaged zlib data', writePng(rgbKind, rgbSource, false, Buffer.concat([goodZlib.subarray(0, 2), Buffer.alloc(40, 0xff), goodZlib.subarray(42)])), `corrupt PNG: the compressed pixel data is damaged; ${AGAIN}`],
  ['bad Adler-32', writePng(rgbKind, rgbSource, false, Buffer.concat([goodZlib.subarray(0, -4), Buffer.alloc(4)])), `corrupt PNG: the compressed pixel data is damaged; ${AGAIN}`],
  ['zlib stream that ends inside a row', writePng(palKind, palSource, false, deflateSync(scanlines(palKind, palSource, false).subarray(0, 10 * (1 + W) + 7))), `corrupt PNG: the compressed pixel data ends early; ${AGAIN}`],
  ['zlib stream cut short, file whole', writePng(rgbKind, rgbSource, false, goodZlib.subarray(0, goodZlib.length >> 1)), `corrupt PNG: the compressed pixel data ends early; ${AGAIN}`],
  ['unknown row filter', writePng(rgbKind, rgbSource, false, deflateSync(Buffer.concat([rawGood.subarray(0, 3 * rowBytes), Buffer.from([7]), rawGood.subarray(3 * rowBytes + 1)]))), `corrupt PNG: a pixel row has unknown filter type 7; ${AGAIN}`],
  ['bit depth 3 RGB', Buffer.concat([SIGNATURE, ihdr(W, H, 3, 2), good.subarray(33)]), `corrupt PNG: bit depth 3 is not valid for color type 2 (RGB); ${AGAIN}`],
  ['color type 5', Buffer.concat([SIGNATURE, ihdr(W, H, 8, 5), good.subarray(33)]), `corrupt PNG: unknown color type 5 in the image header; ${AGAIN}`],
  ['interlace method 2', Buffer.concat([SIGNATURE, ihdr(W, H, 8, 2, 2), good.subarray(33)]), `corrupt PNG: unknown interlace method 2 in the image header; ${AGAIN}`],
  ['zero width', Buffer.concat([SIGNATURE, ihdr(0, H, 8, 2), good.subarray(33)]), `the image is 0×${H} pixels (empty); ${AGAIN}`],
  ['no IDAT', Buffer.concat([SIGNATURE, ihdr(W, H, 8, 2), chunk('IEND', new Uint8Array(0))]), `corrupt PNG: it has no pixel data (no IDAT chunk); ${AGAIN}`],
  ['257 palette entries', Buffer.concat([SIGNATURE, ihdr(W, H, 8, 3), chunk('PLTE', new Uint8Array(257 * 3)), good.subarray(at('IDAT')[1])]), `corrupt PNG: the palette has 257 entries, more than 256; ${AGAIN}`],
  ['damaged chunk header before the pixel data', Buffer.concat([good.subarray(0, 33), Buffer.from('\0\0\0\x04g#MA\0\0\0\0\0\0\0\0'), good.subarray(33)]), `corrupt PNG: a damaged chunk header at byte 33; ${AGAIN}`],
  ['IHDR claiming 100000×100000', Buffer.concat([SIGNATURE, ihdr(100000, 100000, 8, 6), good.subarray(at('IDAT')[1])]), `100000×100000 is 10000 megapixels, over the 40-megapixel limit; downscale it first`],
];
const damagedOk = DAMAGED_OK.map(([name, bytes], i) => ({ name, bytes, file: join(dir, `damaged-ok-${i}.png`) }));
const damagedRefused = DAMAGED_REFUSED.map(([name, bytes, message], i) => ({ name, bytes, message, file: join(dir, `damaged-bad-${i}.png`) }));
for (const d of [...damagedOk, ...damagedRefused]) writeFileSync(d.file, d.bytes);

// ---- Pillow: write its files, then decode everything in one run ---------------------------------------

const PIL_SCRIPT = String.raw`
import json, sys, warnings
from PIL import Image
warnings.simplefilter('ignore')
job = json.load(open(sys.argv[1]))
for e in job['make']:
    p = e['pil']
    raw = open(p['raw'], 'rb').read()
    size = (e['width'], e['height'])
    if p['mode'] == '1':
        im = Image.frombytes('L', size, raw).convert('1', dither=Image.Dither.NONE)
    else:
        im = Image.frombytes(p['mode'], size, raw)
    if p['mode'] == 'I;16' and 'transparency' in p:
        im = im.convert('I')  # Pillow writes transparency for "I" but not "I;16"; both save as 16-bit gray
    if 'palette' in p:
        im.putpalette(bytes(p['palette']))
    kw = {}
    if 'bits' in p: kw['bits'] = p['bits']
    if 'transparency' in p:
        t = p['transparency']
        kw['transparency'] = tuple(t) if isinstance(t, list) else t
    if 'transparencyBytes' in p: kw['transparency'] = bytes(p['transparencyBytes'])
    im.save(e['file'], 'PNG', **kw)
out = {}
for f in job['decode']:
    try:
        im = Image.open(f)
        mode = im.mode
        rgb = im.convert('RGB')
        open(f + '.rgb', 'wb').write(rgb.tobytes())
        out[f] = {'mode': mode, 'size': list(rgb.size)}
    except Exception as e:
        out[f] = {'error': type(e).__name__ + ': ' + str(e)}
json.dump(out, sys.stdout)
`;

let pil: Record<string, { mode?: string; size?: [number, number]; error?: string }>;
beforeAll(() => {
  const job = {
    make: cases.filter((c) => c.pil).map((c) => ({ file: c.file, width: W, height: H, pil: c.pil })),
    decode: [...cases.map((c) => c.file), ...damagedOk.map((d) => d.file), ...damagedRefused.map((d) => d.file)],
  };
  writeFileSync(join(dir, 'job.json'), JSON.stringify(job));
  writeFileSync(join(dir, 'pil.py'), PIL_SCRIPT);
  pil = JSON.parse(execFileSync(PYTHON, [join(dir, 'pil.py'), join(dir, 'job.json')], { maxBuffer: 1 << 26 }).toString());
}, 60_000);

/** Our RGBA (alpha must be 255) against Pillow's RGB bytes: the count of differing samples. */
async function compareWithPil(file: string): Promise<{ mismatches: number; ours: { width: number; height: number } }> {
  const ref = pil[file];
  expect(ref.error, `Pillow refused ${file}`).toBeUndefined();
  const ours = await readImage(file);
  expect([ours.width, ours.height]).toEqual(ref.size);
  const rgb = readFileSync(file + '.rgb');
  let mismatches = 0;
  for (let i = 0; i < ours.width * ours.height; i++) {
    for (let c = 0; c < 3; c++) if (ours.data[4 * i + c] !== rgb[3 * i + c]) mismatches++;
    if (ours.data[4 * i + 3] !== 255) mismatches++;
  }
  return { mismatches, ours };
}

const readError = (path: string) =>
  readImage(path).then(
    () => 'no error',
    (e: unknown) => (e instanceof Error ? e.message : `not an Error: ${String(e)}`),
  );

describe('PNG decoding equals Pillow’s Image.open(f).convert("RGB"), pixel for pixel', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    // The file really is the kind named: IHDR's bit depth, color type and interlace method.
    const png = readFileSync(c.file);
    expect([png[24], png[25], png[28]]).toEqual([c.kind.bitDepth, c.kind.colorType, c.interlaced ? 1 : 0]);
    if (c.kind.trns) expect(png.includes(Buffer.from('tRNS'))).toBe(true);
    expect(pil[c.file].mode).toBe(pilMode(c.kind));
    expect((await compareWithPil(c.file)).mismatches).toBe(0);
  });

  it('the Pillow rules are really exercised: 16-bit gray clips to 255, other 16-bit samples keep their high byte', async () => {
    const find = (colorType: number, bitDepth: number) => cases.find((c) => !c.pil && !c.interlaced && !c.kind.trns && c.kind.colorType === colorType && c.kind.bitDepth === bitDepth)!;
    const gray16 = readFileSync(find(0, 16).file + '.rgb');
    const grayA16 = readFileSync(find(4, 16).file + '.rgb');
    // Every third pixel is below 256 (kept by gray's clip, a high byte of 0 for gray + alpha); the rest clip to 255.
    const clipped = gray16.filter((v, i) => i % 3 === 0 && v === 255).length;
    expect(clipped).toBeGreaterThan(0.5 * (W * H));
    expect(clipped).toBeLessThan(0.8 * (W * H));
    expect(grayA16.filter((v, i) => i % 3 === 0 && v <= 1).length).toBeGreaterThan(0.2 * (W * H));
  });
});

describe('damaged PNGs: decoded exactly when Pillow decodes them, otherwise one plain line', () => {
  it.each(damagedOk.map((d) => [d.name, d] as const))('decoded like Pillow: %s', async (_name, d) => {
    expect((await compareWithPil(d.file)).mismatches).toBe(0);
  });

  it.each(damagedRefused.map((d) => [d.name, d] as const))('refused (Pillow too): %s', async (_name, d) => {
    expect(pil[d.file].error, 'Pillow decoded it').toBeDefined();
    expect(await readError(d.file)).toBe(`${d.file}: ${d.message}`);
  });

  it('an IHDR claiming 100000×100000 is refused from the header, at once, without allocating', async () => {
    const file = damagedRefused.find((d) => d.name.startsWith('IHDR claiming'))!.file;
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    const message = await readError(file);
    const ms = performance.now() - t0;
    expect(message).toBe(`${file}: 100000×100000 is 10000 megapixels, over the 40-megapixel limit; downscale it first`);
    expect(ms).toBeLessThan(100);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
    // Just over the limit, with no pixel data at all: the size is still what is reported.
    const over = join(dir, 'over.png');
    writeFileSync(over, Buffer.concat([SIGNATURE, ihdr(8000, 5001, 8, 2)]));
    expect(await readError(over)).toBe(`${over}: 8000×5001 is 40.1 megapixels, over the 40-megapixel limit; downscale it first`);
  });
});

describe('files that are not a PNG or JPEG: one plain line naming the problem', () => {
  const sub = join(dir, 'formats');
  mkdirSync(sub, { recursive: true });
  const file = (name: string, bytes: Uint8Array | string) => {
    const path = join(sub, name);
    writeFileSync(path, bytes);
    return path;
  };
  const u32le = (v: number) => [v & 255, (v >> 8) & 255, (v >> 16) & 255, v >>> 24];
  const b = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
  const unsupported = (name: string) => `unsupported format ${name}; convert it to PNG or JPEG`;

  it.each([
    ['GIF', 'cat.gif', b('GIF89a', [10, 0, 10, 0, 0x80, 0, 0])],
    ['WebP', 'cat.webp', b('RIFF', u32le(30), 'WEBPVP8 ', [0, 0, 0, 0])],
    ['BMP', 'cat.bmp', b('BM', u32le(70), [0, 0, 0, 0], u32le(54), u32le(40), u32le(2), u32le(2))],
    ['TIFF', 'cat.tif', b('II*\0', u32le(8), [0, 0])],
    ['TIFF', 'cat-mm.tif', b('MM\0*', [0, 0, 0, 8])],
    ['HEIC', 'cat.heic', b([0, 0, 0, 24], 'ftypheic', [0, 0, 0, 0], 'mif1heic')],
    ['AVIF', 'cat.avif', b([0, 0, 0, 28], 'ftypavif', [0, 0, 0, 0], 'avifmif1miaf')],
    ['PDF', 'cat.pdf', b('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n')],
    ['SVG', 'cat.svg', b('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>\n')],
  ])('%s (%s)', async (name, fileName, bytes) => {
    const path = file(fileName, bytes);
    expect(await readError(path)).toBe(`${path}: ${unsupported(name)}`);
  });

  it('plain text, an HTML page, unknown bytes', async () => {
    const text = file('notes.png', 'just some notes, not a picture\n');
    expect(await readError(text)).toBe(`${text}: not an image: it is plain text; pass a PNG or JPEG file`);
    const html = file('photo.jpg', '<!DOCTYPE html>\n<html><head><title>Photo</title></head><body></body></html>\n');
    expect(await readError(html)).toBe(`${html}: not an image: it is an HTML page (a web page saved in place of the image?); download the image itself`);
    const bin = file('data.png', Buffer.from([0, 1, 2, 3, 0xfe, 0xfd, 0xfc, 0xfb, 9, 9]));
    expect(await readError(bin)).toBe(`${bin}: not a PNG or JPEG file (it starts with bytes 00 01 02 03 fe fd fc fb); pass a PNG or JPEG file`);
  });

  it('an empty file, a directory, no such file', async () => {
    const empty = file('empty.png', '');
    expect(await readError(empty)).toBe(`${empty}: the file is empty (0 bytes); ${AGAIN}`);
    expect(await readError(sub)).toBe(`${sub}: is a directory, not an image file; pass a PNG or JPEG file`);
    const missing = join(sub, 'missing.png');
    expect(await readError(missing)).toBe(`${missing}: no such file; check the path`);
  });
});
