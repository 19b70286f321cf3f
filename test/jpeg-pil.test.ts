// scripts/lib/jpegDecode.ts against Pillow itself, pixel for pixel: Debian's python3-pil 9.4 on
// libjpeg-turbo 2.1.5, i.e. what keras.utils.load_img gives (Image.open(f).convert('RGB')). The files
// are made here by the real programs from seeded synthetic photos:
//   - Pillow: qualities 5 to 100, subsampling 4:4:4 / 4:2:2 / 4:2:0, progressive, optimized Huffman,
//     grayscale 'L', 'CMYK' (Pillow writes an Adobe marker), EXIF with orientation 6 (not applied),
//     a 70 kB ICC profile (split over two APP2 markers), a comment;
//   - Debian's cjpeg: -sample 2x2, 1x1, 2x1, 1x2, 4x1, 1x4, 3x1 (box upsampling) and mixed per
//     component, -progressive, -grayscale, -restart, -arithmetic (sequential and progressive),
//     -optimize, -rgb, and -scans scripts: non-interleaved sequential scans, and progressive scans
//     that leave low AC coefficients unfinished, which is when libjpeg's block smoothing runs;
//   - jpegtran -progressive of a baseline file (same coefficients), and progressive files cut after a
//     scan (EOI appended): a complete file is not smoothed, an incomplete one is, as Pillow does;
//     wrjpgcom for a COM marker (jpegtran and wrjpgcom come with cjpeg in libjpeg-turbo-progs);
//   - test/support/jpegEncoder.ts, for what neither writes: YCCK (Adobe transform 2, and 1, which
//     libjpeg also takes as YCCK), CMYK with Adobe transform 0 or no Adobe marker, RGB by Adobe
//     transform 0 (and the same with a JFIF marker, which wins: YCbCr), RGB by component ids 'R','G','B',
//     no Huffman tables (libjpeg-turbo's Annex K defaults), restart intervals.
// Pillow decodes every file in one python run. The 1- and 3-component files are also compared with
// mozjpeg in WebAssembly (@jsquash/jpeg, the decoder the CLI used before), which must agree too.
// Then the damaged files: each must throw ImageFormatError with plain words, quickly.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJpeg, ImageFormatError, readJpegHeader } from '../src/hosts/node/images/jpegDecode.js';
import { syntheticPhoto } from './support/images.js';
import { encodeBaselineJpeg, type EncodeOptions } from './support/jpegEncoder.js';

// Debian's python3, which has Pillow and numpy (a plain `python3` may be a pyenv shim without them).
const PYTHON = '/usr/bin/python3';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-jpeg-pil-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Size = [number, number];
const SIZES: Size[] = [[1, 1], [7, 5], [37, 23], [225, 171]];
const BIG: Size = [640, 480];

interface Source {
  rgb: string;
  ppm: string;
  width: number;
  height: number;
}
const sources = new Map<string, Source>();
function source([width, height]: Size): Source {
  const key = `${width}x${height}`;
  let s = sources.get(key);
  if (!s) {
    const img = syntheticPhoto(width, height, width * 31 + height);
    const rgb = Buffer.alloc(width * height * 3);
    for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = img.data[4 * i + c];
    s = { rgb: join(dir, `src-${key}.rgb`), ppm: join(dir, `src-${key}.ppm`), width, height };
    writeFileSync(s.rgb, rgb);
    writeFileSync(s.ppm, Buffer.concat([Buffer.from(`P6\n${width} ${height}\n255\n`), rgb]));
    sources.set(key, s);
  }
  return s;
}

// ---- The files -------------------------------------------------------------------------------------

interface Case {
  name: string;
  path: string;
  /** Expected readJpegHeader fields. */
  components: number;
  progressive?: boolean;
  arithmetic?: boolean;
  /** The Adobe APP14 transform readJpegHeader must report ('none': no Adobe marker); unchecked if absent. */
  adobe?: number | 'none';
  /** Why mozjpeg (@jsquash/jpeg) decodes this file differently from Pillow, if it may. */
  mozjpegDiffers?: string;
}
const cases: Case[] = [];
// mozjpeg's h1v2 upsampling (a component halved vertically only, as in 4:4:0) rounds both output rows
// with +1, where libjpeg-turbo 2.1 alternates +1 (row above) and +2 (row below); and its block
// smoothing of unfinished progressive files differs from 2.1's.
const H1V2 = 'mozjpeg rounds h1v2 upsampling with +1 on both rows';
const SMOOTH = 'mozjpeg smooths unfinished progressive files differently';
const pilJobs: { src: string; w: number; h: number; out: string; mode: string; opts: Record<string, unknown> }[] = [];
const makers: (() => void)[] = [];
/** Makers that read Pillow's or cjpeg's files, run after those. */
const afterEncoding: (() => void)[] = [];

function pil(name: string, size: Size, mode: 'RGB' | 'L' | 'CMYK', opts: Record<string, unknown>, extra: Partial<Case> = {}) {
  const path = join(dir, `pil-${name}-${size[0]}x${size[1]}.jpg`);
  cases.push({ name: `Pillow ${name} ${size[0]}×${size[1]}`, path, components: { RGB: 3, L: 1, CMYK: 4 }[mode], ...extra });
  makers.push(() => {
    const s = source(size);
    pilJobs.push({ src: s.rgb, w: s.width, h: s.height, out: path, mode, opts });
  });
}

function cjpeg(name: string, size: Size, args: string[], extra: Partial<Case> = {}) {
  const path = join(dir, `cjpeg-${name}-${size[0]}x${size[1]}.jpg`);
  const gray = args.includes('-grayscale');
  cases.push({ name: `cjpeg ${name} ${size[0]}×${size[1]}`, path, components: gray ? 1 : 3, ...extra });
  makers.push(() => writeFileSync(path, execFileSync('cjpeg', [...args, source(size).ppm])));
}

function scanScript(name: string, text: string): string {
  const path = join(dir, `scans-${name}.txt`);
  writeFileSync(path, text);
  return path;
}

function ours(name: string, size: Size, build: (planes: Record<string, Uint8Array>) => Omit<EncodeOptions, 'width' | 'height'>) {
  const path = join(dir, `enc-${name}-${size[0]}x${size[1]}.jpg`);
  const [width, height] = size;
  const planes = syntheticPlanes(width, height);
  const o = build(planes);
  cases.push({ name: `test encoder ${name} ${width}×${height}`, path, components: o.planes.length, adobe: o.adobeTransform ?? 'none' });
  makers.push(() => writeFileSync(path, encodeBaselineJpeg({ width, height, ...o })));
}

/** R, G, B of a synthetic photo, its YCbCr, and a K plane with every value. */
function syntheticPlanes(width: number, height: number): Record<string, Uint8Array> {
  const img = syntheticPhoto(width, height, 7 + width);
  const plane = (f: (r: number, g: number, b: number, i: number) => number) => {
    const p = new Uint8Array(width * height);
    for (let i = 0; i < width * height; i++) p[i] = Math.round(f(img.data[4 * i], img.data[4 * i + 1], img.data[4 * i + 2], i));
    return p;
  };
  return {
    R: plane((r) => r),
    G: plane((_, g) => g),
    B: plane((_, __, b) => b),
    Y: plane((r, g, b) => 0.299 * r + 0.587 * g + 0.114 * b),
    Cb: plane((r, g, b) => 128 - 0.168736 * r - 0.331264 * g + 0.5 * b),
    Cr: plane((r, g, b) => 128 + 0.5 * r - 0.418688 * g - 0.081312 * b),
    K: plane((_, __, ___, i) => (i * 37) % 256),
  };
}

for (const size of SIZES) {
  pil('q75', size, 'RGB', { quality: 75 }, { adobe: 'none' });
  pil('444-q92', size, 'RGB', { quality: 92, subsampling: 0 });
  pil('422-q85', size, 'RGB', { quality: 85, subsampling: 1 });
  pil('420-q50', size, 'RGB', { quality: 50, subsampling: 2 });
  pil('progressive', size, 'RGB', { quality: 80, progressive: true }, { progressive: true });
  pil('L', size, 'L', { quality: 80 });
  pil('CMYK', size, 'CMYK', { quality: 90 }, { adobe: 0 });
  cjpeg('2x2', size, ['-quality', '85', '-sample', '2x2']);
  cjpeg('1x2', size, ['-quality', '85', '-sample', '1x2'], { mozjpegDiffers: H1V2 });
  cjpeg('4x1', size, ['-quality', '85', '-sample', '4x1']);
  cjpeg('progressive', size, ['-progressive'], { progressive: true });
  cjpeg('arithmetic', size, ['-arithmetic'], { arithmetic: true });
  cjpeg('arithmetic-progressive', size, ['-arithmetic', '-progressive'], { arithmetic: true, progressive: true });
  cjpeg('restart-1', size, ['-restart', '1', '-sample', '2x1']);
  ours('YCCK', size, (p) => ({ planes: [p.Y, p.Cb, p.Cr, p.K], adobeTransform: 2 }));
  ours('CMYK-adobe0', size, (p) => ({ planes: [p.R, p.G, p.B, p.K], adobeTransform: 0 }));
}
for (const size of [[225, 171], BIG] as Size[]) {
  pil('q5', size, 'RGB', { quality: 5 });
  pil('q100-444', size, 'RGB', { quality: 100, subsampling: 0 });
  pil('optimize', size, 'RGB', { quality: 90, optimize: true });
  pil('progressive-optimize-444', size, 'RGB', { quality: 95, progressive: true, optimize: true, subsampling: 0 }, { progressive: true });
  pil('CMYK-progressive', size, 'CMYK', { quality: 85, progressive: true }, { progressive: true });
  pil('exif-orientation-6', size, 'RGB', { quality: 90, exif_orientation: 6 });
  pil('icc-70kB-comment', size, 'RGB', { quality: 90, icc_size: 70000, comment: 'a comment' });
  cjpeg('1x1', size, ['-quality', '95', '-sample', '1x1']);
  cjpeg('2x1', size, ['-sample', '2x1']);
  cjpeg('1x4', size, ['-sample', '1x4']);
  cjpeg('3x1', size, ['-sample', '3x1']);
  cjpeg('2x2,2x1,1x2', size, ['-sample', '2x2,2x1,1x2'], { mozjpegDiffers: H1V2 });
  cjpeg('1x2,1x1,1x1-progressive', size, ['-sample', '1x2,1x1,1x1', '-progressive'], { progressive: true, mozjpegDiffers: H1V2 });
  cjpeg('grayscale', size, ['-grayscale']);
  cjpeg('grayscale-progressive', size, ['-grayscale', '-progressive'], { progressive: true });
  cjpeg('optimize', size, ['-optimize', '-quality', '97']);
  cjpeg('rgb', size, ['-rgb'], { adobe: 0 });
  cjpeg('restart-3-progressive', size, ['-restart', '3', '-progressive'], { progressive: true });
  cjpeg('restart-2-arithmetic', size, ['-restart', '2', '-arithmetic'], { arithmetic: true });
}
ours('YCCK-restart', BIG, (p) => ({ planes: [p.Y, p.Cb, p.Cr, p.K], adobeTransform: 2, restartInterval: 3 }));
for (const size of [[7, 5], [225, 171]] as Size[]) {
  ours('YCCK-transform-1', size, (p) => ({ planes: [p.Y, p.Cb, p.Cr, p.K], adobeTransform: 1 }));
  ours('CMYK-no-adobe', size, (p) => ({ planes: [p.R, p.G, p.B, p.K] }));
  ours('YCCK-planes-as-CMYK', size, (p) => ({ planes: [p.Y, p.Cb, p.Cr, p.K], adobeTransform: 0 }));
  ours('RGB-adobe0', size, (p) => ({ planes: [p.R, p.G, p.B], adobeTransform: 0 }));
  ours('RGB-adobe0-with-JFIF', size, (p) => ({ planes: [p.R, p.G, p.B], adobeTransform: 0, jfif: true }));
  ours('RGB-ids', size, (p) => ({ planes: [p.R, p.G, p.B], ids: [82, 71, 66] }));
  ours('YCbCr-ids-0-1-2', size, (p) => ({ planes: [p.Y, p.Cb, p.Cr], ids: [0, 1, 2] }));
  ours('no-Huffman-tables', size, (p) => ({ planes: [p.Y, p.Cb, p.Cr], jfif: true, omitHuffmanTables: true }));
  ours('gray-no-Huffman-tables', size, (p) => ({ planes: [p.Y], omitHuffmanTables: true }));
}

// Scan scripts (cjpeg -scans). Sequential ones make several non-interleaved scans; progressive ones
// that never finish the first nine AC coefficients make libjpeg smooth the blocks (jdcoefct.c).
const SCRIPTS: Record<string, { text: string; progressive: boolean }> = {
  'sequential-one-scan-per-component': { text: '0: 0 63 0 0;\n1: 0 63 0 0;\n2: 0 63 0 0;\n', progressive: false },
  'sequential-Y+Cr-then-Cb': { text: '0,2: 0 63 0 0;\n1: 0 63 0 0;\n', progressive: false },
  'progressive-DC-only': { text: '0,1,2: 0 0 0 0;\n', progressive: true },
  'progressive-5-AC-of-Y-only': { text: '0,1,2: 0 0 0 0;\n0: 1 5 0 0;\n', progressive: true },
  'progressive-unrefined': { text: '0,1,2: 0 0 0 1;\n0: 1 63 0 2;\n1: 1 63 0 1;\n2: 1 63 0 1;\n0: 1 63 2 1;\n', progressive: true },
  'progressive-split-complete': {
    text: '0: 0 0 0 2;\n1,2: 0 0 0 0;\n0: 0 0 2 1;\n0: 1 9 0 0;\n0: 10 63 0 0;\n1: 1 63 0 0;\n2: 1 63 0 0;\n0: 0 0 1 0;\n',
    progressive: true,
  },
};
for (const [name, { text, progressive }] of Object.entries(SCRIPTS))
  for (const size of [[37, 23], [225, 171]] as Size[]) {
    let script = '';
    makers.unshift(() => void (script = scanScript(name, text)));
    for (const [variant, args] of [['', []], [' 4:4:4', ['-sample', '1x1']], [' arithmetic', ['-arithmetic']]] as const) {
      const path = join(dir, `cjpeg-scans-${name}${variant.replace(/\W/g, '-')}-${size[0]}x${size[1]}.jpg`);
      const smoothed = progressive && name !== 'progressive-split-complete';
      cases.push({
        name: `cjpeg -scans ${name}${variant} ${size[0]}×${size[1]}`,
        path,
        components: 3,
        progressive,
        arithmetic: variant === ' arithmetic',
        mozjpegDiffers: smoothed ? SMOOTH : undefined,
      });
      makers.push(() => writeFileSync(path, execFileSync('cjpeg', ['-scans', script, ...args, source(size).ppm])));
    }
  }

// wrjpgcom adds a COM marker to a cjpeg file.
const commented = join(dir, 'wrjpgcom-225x171.jpg');
cases.push({ name: 'wrjpgcom comment on cjpeg 2x2 225×171', path: commented, components: 3 });
afterEncoding.push(() => writeFileSync(commented, execFileSync('wrjpgcom', ['-comment', 'made by wrjpgcom', join(dir, 'cjpeg-2x2-225x171.jpg')])));

// jpegtran -progressive keeps the coefficients: Pillow's pixels must not change, and nor may ours.
const baselineForTran = join(dir, 'pil-q75-225x171.jpg');
const tran = join(dir, 'jpegtran-progressive-225x171.jpg');
cases.push({ name: 'jpegtran -progressive of Pillow q75 225×171', path: tran, components: 3, progressive: true });
afterEncoding.push(() => writeFileSync(tran, execFileSync('jpegtran', ['-progressive', baselineForTran])));

// Progressive files cut after a scan, EOI appended: valid files whose coefficients are incomplete.
const cuts: [string, string, number][] = [
  ['pil-progressive-225x171.jpg', 'Pillow progressive', 2],
  ['cjpeg-arithmetic-progressive-225x171.jpg', 'cjpeg arithmetic progressive', 3],
  ['pil-progressive-optimize-444-640x480.jpg', 'Pillow progressive 4:4:4', 5],
];
for (const [file, label, scans] of cuts) {
  const path = join(dir, `cut-${scans}-scans-${file}`);
  cases.push({ name: `${label}, only its first ${scans} scans`, path, components: 3, progressive: true, arithmetic: file.includes('arith'), mozjpegDiffers: SMOOTH });
  afterEncoding.push(() => {
    const b = readFileSync(join(dir, file));
    let at = -1;
    for (let i = 0, n = 0; i < b.length - 1; i++) if (b[i] === 0xff && b[i + 1] === 0xda && n++ === scans) at = i;
    writeFileSync(path, Buffer.concat([b.subarray(0, at), Buffer.from([0xff, 0xd9])]));
  });
}

// ---- Pillow ----------------------------------------------------------------------------------------

const PIL_ENCODE = `
import json, sys
from PIL import Image
for j in json.load(sys.stdin):
    with open(j['src'], 'rb') as f:
        im = Image.frombytes('RGB', (j['w'], j['h']), f.read())
    if j['mode'] != 'RGB':
        im = im.convert(j['mode'])
    kw = dict(j['opts'])
    if 'exif_orientation' in kw:
        exif = Image.Exif()
        exif[0x0112] = kw.pop('exif_orientation')
        kw['exif'] = exif.tobytes()
    if 'icc_size' in kw:
        kw['icc_profile'] = bytes((i * 7) & 255 for i in range(kw.pop('icc_size')))
    im.save(j['out'], 'JPEG', **kw)
`;

// One line of header per file ("OK w h n" or "ER n"), then n bytes: RGB pixels or the error.
const PIL_DECODE = `
import sys
from PIL import Image
out = sys.stdout.buffer
for p in sys.stdin.read().split('\\n'):
    if not p:
        continue
    try:
        im = Image.open(p).convert('RGB')
        b = im.tobytes()
        out.write(b'OK %d %d %d\\n' % (im.size[0], im.size[1], len(b)) + b)
    except Exception as e:
        m = repr(e).encode()
        out.write(b'ER %d\\n' % len(m) + m)
`;

type PilResult = { width: number; height: number; rgb: Uint8Array } | { error: string };

function pilDecode(paths: string[]): Map<string, PilResult> {
  const raw = execFileSync(PYTHON, ['-c', PIL_DECODE], { input: paths.join('\n'), maxBuffer: 1 << 30 });
  const results = new Map<string, PilResult>();
  let p = 0;
  for (const path of paths) {
    const nl = raw.indexOf(10, p);
    const head = raw.subarray(p, nl).toString().split(' ');
    const n = Number(head[head.length - 1]);
    const body = raw.subarray(nl + 1, nl + 1 + n);
    p = nl + 1 + n;
    results.set(path, head[0] === 'OK' ? { width: Number(head[1]), height: Number(head[2]), rgb: new Uint8Array(body) } : { error: body.toString() });
  }
  return results;
}

let reference = new Map<string, PilResult>();

beforeAll(() => {
  for (const make of makers) make();
  execFileSync(PYTHON, ['-c', PIL_ENCODE], { input: JSON.stringify(pilJobs) });
  for (const make of afterEncoding) make();
  reference = pilDecode(cases.map((c) => c.path));
});

/** Counts RGB samples that differ and names the first few. */
function compareRgb(rgba: Uint8Array, rgb: Uint8Array, width: number): { mismatches: number; first: string[] } {
  let mismatches = 0;
  const first: string[] = [];
  for (let i = 0; i < rgb.length / 3; i++)
    for (let c = 0; c < 3; c++)
      if (rgba[4 * i + c] !== rgb[3 * i + c] && mismatches++ < 5)
        first.push(`(${i % width},${Math.floor(i / width)}) ${'RGB'[c]}: ours ${rgba[4 * i + c]}, Pillow ${rgb[3 * i + c]}`);
  return { mismatches, first };
}

const decoded = new Map<string, Uint8Array>();

describe('JPEG decoding equals Pillow (keras.utils.load_img), pixel for pixel', () => {
  it.each(cases)('$name', (c) => {
    const ref = reference.get(c.path)!;
    if ('error' in ref) throw new Error(`Pillow could not decode ${c.path}: ${ref.error}`);
    const bytes = new Uint8Array(readFileSync(c.path));
    const header = readJpegHeader(bytes);
    expect(header).toMatchObject({ width: ref.width, height: ref.height, components: c.components, progressive: !!c.progressive, arithmetic: !!c.arithmetic, precision: 8 });
    if (c.adobe !== undefined) expect(header.adobeTransform).toBe(c.adobe === 'none' ? undefined : c.adobe);
    const img = decodeJpeg(bytes);
    expect([img.width, img.height]).toEqual([ref.width, ref.height]);
    const { mismatches, first } = compareRgb(img.data, ref.rgb, img.width);
    expect(mismatches, `first mismatches: ${first.join('; ')}`).toBe(0);
    let alpha = true;
    for (let i = 3; i < img.data.length; i += 4) if (img.data[i] !== 255) alpha = false;
    expect(alpha).toBe(true);
    decoded.set(c.path, img.data);
  });

  it('the colour transform is the marker’s: the same planes decode differently as YCCK and as CMYK, as RGB and as JFIF YCbCr', () => {
    const differ = (a: string, b: string) => {
      const [x, y] = [reference.get(join(dir, a)), reference.get(join(dir, b))] as { rgb: Uint8Array }[];
      return x.rgb.some((v, i) => v !== y.rgb[i]);
    };
    expect(differ('enc-YCCK-transform-1-225x171.jpg', 'enc-YCCK-planes-as-CMYK-225x171.jpg')).toBe(true);
    expect(differ('enc-RGB-adobe0-225x171.jpg', 'enc-RGB-adobe0-with-JFIF-225x171.jpg')).toBe(true);
  });

  it('block smoothing: Pillow smooths incomplete progressive files only (and so do we, matching above)', () => {
    const pixels = (name: string) => (reference.get(join(dir, name)) as { rgb: Uint8Array }).rgb;
    // A complete progressive file with the same coefficients as a baseline one: identical pixels.
    const [baseline, progressive] = [pixels('pil-q75-225x171.jpg'), pixels('jpegtran-progressive-225x171.jpg')];
    expect(baseline.length).toBe(progressive.length);
    expect(baseline.every((v, i) => v === progressive[i])).toBe(true);
    // DC only, 4:4:4: without smoothing every 8×8 block would be one flat colour; smoothed, it is not.
    const dcOnly = pixels('cjpeg-scans-progressive-DC-only-4-4-4-225x171.jpg');
    let flat = true;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) for (let c = 0; c < 3; c++) if (dcOnly[(y * 225 + 8 + x) * 3 + c] !== dcOnly[8 * 3 + c]) flat = false;
    expect(flat).toBe(false);
  });
});

// ---- mozjpeg (WebAssembly), the decoder the CLI used before ---------------------------------------

describe('the same pixels as mozjpeg in WebAssembly (@jsquash/jpeg) where it decodes the file', () => {
  it('every 1- and 3-component file mozjpeg can decode', async () => {
    // As src/hosts/node/images/imageFiles.ts set it up (its readImage will use jpegDecode.ts, so it is called
    // directly here): the emscripten glue returns `new ImageData(…)`, which Node lacks.
    if (!('ImageData' in globalThis))
      Object.defineProperty(globalThis, 'ImageData', {
        value: class {
          constructor(
            readonly data: Uint8ClampedArray,
            readonly width: number,
            readonly height: number,
          ) {}
        },
      });
    const require = createRequire(import.meta.url);
    const decPath = require.resolve('@jsquash/jpeg/decode.js');
    const { default: mozDecode, init } = await import('@jsquash/jpeg/decode.js');
    const wasm = await WebAssembly.compile(readFileSync(join(dirname(decPath), 'codec/dec/mozjpeg_dec.wasm')));
    // (init's declared type omits the module argument that its code takes first)
    await (init as (module: WebAssembly.Module, options: object) => Promise<void>)(wasm, { print: () => {}, printErr: () => {} });
    let compared = 0;
    const refused: string[] = [];
    const differ: string[] = [];
    let knownDiffer = 0;
    for (const c of cases) {
      if (c.components === 4) continue;
      const ours = decoded.get(c.path) ?? decodeJpeg(new Uint8Array(readFileSync(c.path))).data;
      const b = readFileSync(c.path);
      let moz: { data: Uint8ClampedArray; width: number };
      try {
        moz = await mozDecode(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer);
      } catch {
        refused.push(c.name);
        continue;
      }
      let mismatches = 0;
      for (let i = 0; i < ours.length; i++) if (ours[i] !== moz.data[i]) mismatches++;
      if (mismatches && !c.mozjpegDiffers) differ.push(`${c.name}: ${mismatches} samples differ`);
      if (mismatches && c.mozjpegDiffers) knownDiffer++;
      compared++;
    }
    expect(differ).toEqual([]);
    // Where mozjpeg is not libjpeg-turbo 2.1 (and so not Pillow), it shows: 4:4:0 and smoothed files.
    expect(knownDiffer).toBeGreaterThan(10);
    // mozjpeg is built without arithmetic decoding; everything else it must decode.
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.filter((name) => !name.includes('arithmetic'))).toEqual([]);
    expect(compared).toBeGreaterThan(100);
  });
});

// ---- Damaged and unsupported files -------------------------------------------------------------------

describe('damaged and unsupported JPEGs throw ImageFormatError in plain words', () => {
  const file = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
  const fails = (bytes: Uint8Array, message: RegExp) => {
    const t = performance.now();
    let error: unknown;
    try {
      decodeJpeg(bytes);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ImageFormatError);
    expect((error as Error).message).toMatch(message);
    expect(performance.now() - t).toBeLessThan(2000);
  };
  const without = (bytes: Uint8Array, marker: number) => {
    // drops every segment with this marker (before the first SOS)
    const parts: Uint8Array[] = [bytes.subarray(0, 2)];
    let p = 2;
    while (bytes[p] === 0xff && bytes[p + 1] !== 0xda) {
      const len = (bytes[p + 2] << 8) | bytes[p + 3];
      if (bytes[p + 1] !== marker) parts.push(bytes.subarray(p, p + 2 + len));
      p += 2 + len;
    }
    parts.push(bytes.subarray(p));
    return Uint8Array.from(Buffer.concat(parts));
  };
  const sosEnd = (bytes: Uint8Array) => {
    for (let i = 2; i < bytes.length; i++) if (bytes[i] === 0xff && bytes[i + 1] === 0xda) return i + 2 + ((bytes[i + 2] << 8) | bytes[i + 3]);
    throw new Error('no SOS');
  };

  it('not a JPEG', () => {
    for (const bytes of [Buffer.from('hello, world'), Buffer.from([0xff, 0xd8, 0x00, 0x10]), new Uint8Array(0)]) {
      expect(() => readJpegHeader(bytes)).toThrow(/^not a JPEG file \(.*\); pass a PNG or JPEG file$/);
      fails(bytes, /^not a JPEG file/);
    }
  });

  it('truncated in the header, in the scan data, and just before EOI', () => {
    const b = file('pil-q75-225x171.jpg');
    for (const n of [3, 10, 30, 100, sosEnd(b) - 3, sosEnd(b) + 50, Math.floor(b.length / 2), b.length - 2])
      fails(b.subarray(0, n), new RegExp(`^truncated JPEG: the file ends after ${n} bytes, (inside the \\w+ marker|before the end of the image); download or export it again$`));
    const p = file('pil-progressive-225x171.jpg');
    fails(p.subarray(0, Math.floor(p.length * 0.7)), /^truncated JPEG: the file ends after \d+ bytes, before the end of the image/);
    const a = file('cjpeg-arithmetic-225x171.jpg');
    fails(a.subarray(0, a.length - 40), /^truncated JPEG/);
    expect(() => readJpegHeader(b.subarray(0, 100))).toThrow(/^truncated JPEG: the file ends after 100 bytes, inside the DQT marker/);
  });

  it('scan data that stops at a marker (EOI appended to a cut file): libjpeg fills gray, we refuse', () => {
    const b = file('pil-q75-225x171.jpg');
    fails(Uint8Array.from([...b.subarray(0, b.length - 500), 0xff, 0xd9]), /^corrupt JPEG: the compressed data of a scan stops before the scan is complete/);
  });

  it('corrupt Huffman data', () => {
    const b = file('pil-q75-225x171.jpg');
    const at = sosEnd(b) + 20;
    const ones = Array.from({ length: 8 }, () => [0xff, 0x00]).flat(); // 64 one bits: never a Huffman code
    fails(Uint8Array.from([...b.subarray(0, at), ...ones, ...b.subarray(at)]), /^corrupt JPEG: the compressed data holds a bit pattern that is no Huffman code; download or export it again$/);
  });

  it('a restart marker out of order', () => {
    const b = file('cjpeg-restart-1-225x171.jpg').slice();
    const at = b.findIndex((v, i) => i > sosEnd(b) && v === 0xff && b[i + 1] === 0xd3);
    b[at + 1] = 0xd5;
    fails(b, /^corrupt JPEG: restart marker 3 is missing \(found restart marker 5 instead\)/);
  });

  it('missing tables', () => {
    fails(without(file('pil-q75-225x171.jpg'), 0xdb), /^corrupt JPEG: component 1 uses quantization table 0, which the file never defines/);
    fails(without(file('pil-progressive-225x171.jpg'), 0xc4), /^corrupt JPEG: a scan uses Huffman table 0, which the file never defines/);
  });

  it('bad marker lengths', () => {
    const b = file('pil-q75-225x171.jpg').slice();
    const dqt = b.findIndex((v, i) => v === 0xff && b[i + 1] === 0xdb);
    const wrong = b.slice();
    wrong[dqt + 3] -= 1; // DQT one byte shorter than its table
    fails(wrong, /^corrupt JPEG: the DQT marker is shorter than its tables/);
    const tiny = b.slice();
    tiny[dqt + 2] = 0;
    tiny[dqt + 3] = 1;
    fails(tiny, /^corrupt JPEG: the DQT marker has an impossible length \(1\)/);
    const huge = Uint8Array.from([0xff, 0xd8, 0xff, 0xe1, 0xff, 0xf0, 1, 2, 3]);
    fails(huge, /^truncated JPEG: the file ends after 9 bytes, inside the APP1 marker/);
  });

  const header = (sof: number, precision: number, width: number, height: number, components = 3) =>
    Uint8Array.from([0xff, 0xd8, 0xff, sof, 0, 8 + 3 * components, precision, height >> 8, height & 255, width >> 8, width & 255, components, ...Array.from({ length: components }, (_, i) => [i + 1, 0x11, 0]).flat()]);

  it('12-bit, lossless and hierarchical JPEGs are refused from the header', () => {
    for (const read of [readJpegHeader, decodeJpeg]) {
      expect(() => read(header(0xc1, 12, 64, 64))).toThrow(/^unsupported JPEG: 12-bit JPEG is not supported; re-save it as an 8-bit JPEG or PNG$/);
      expect(() => read(header(0xc3, 8, 64, 64))).toThrow(/^unsupported JPEG: lossless JPEG \(SOF3\) is not supported by libjpeg or Pillow; re-save it/);
      expect(() => read(header(0xc5, 8, 64, 64))).toThrow(/^unsupported JPEG: hierarchical JPEG \(SOF5\)/);
      expect(() => read(header(0xc0, 8, 64, 64, 2))).toThrow(/^unsupported JPEG: 2 colour components/);
      expect(() => read(header(0xc0, 8, 64, 0))).toThrow(/DNL marker/);
    }
  });

  it('a huge declared size is read from the header alone, and decodeJpeg refuses it before allocating', () => {
    // SOF holds 16-bit sizes, so 65535×65535 (4.3 gigapixels) is the largest a JPEG can declare.
    const bytes = header(0xc0, 8, 65535, 65535);
    expect(readJpegHeader(bytes)).toEqual({ width: 65535, height: 65535, components: 3, progressive: false, arithmetic: false, precision: 8 });
    fails(bytes, /^65535×65535 is 4294\.9 megapixels, over the 40-megapixel limit; downscale it first$/);
    expect(() => decodeJpeg(header(0xc0, 8, 8000, 6000), { maxPixels: 20e6 })).toThrow(/^8000×6000 is 48 megapixels, over the 20-megapixel limit/);
  });

  it('random damage never hangs, crashes or throws anything but ImageFormatError', () => {
    const originals = ['pil-q75-225x171.jpg', 'pil-progressive-225x171.jpg', 'cjpeg-arithmetic-progressive-37x23.jpg', 'cjpeg-restart-1-37x23.jpg', 'enc-YCCK-37x23.jpg', 'cjpeg-scans-progressive-unrefined-37x23.jpg'].map(file);
    let seed = 20240607;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    let decodedCount = 0;
    const t = performance.now();
    for (let i = 0; i < 400; i++) {
      let b = originals[i % originals.length].slice();
      for (let j = 0, n = 1 + rnd(4); j < n; j++) {
        const at = rnd(b.length);
        const kind = rnd(3);
        if (kind === 0) b[at] = rnd(256);
        else if (kind === 1) b[at] ^= 1 << rnd(8);
        else b = Uint8Array.from([...b.subarray(0, at), 0xff, rnd(256), ...b.subarray(at)]);
      }
      try {
        const img = decodeJpeg(b);
        expect(img.data.length).toBe(img.width * img.height * 4);
        decodedCount++;
      } catch (e) {
        if (!(e instanceof ImageFormatError)) throw e;
        expect(e.message).toMatch(/^(corrupt|truncated|unsupported) JPEG: .*; (download or export it again|re-save it .*)$|^not a JPEG file|^\d+×\d+ is [\d.]+ megapixels/);
      }
    }
    expect(decodedCount).toBeGreaterThan(0);
    expect(performance.now() - t).toBeLessThan(15000);
  });
});
