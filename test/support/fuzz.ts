// Seeded fuzzing of every parser a user's file reaches: Keras .h5 (through the guarded h5wasm reader),
// PNG and JPEG (through readImage, as the CLI reads images), a converted weights directory's
// manifest.json (readWeightsManifest) and .npy reference tensors (decodeNpy, as `npm run verify` reads
// them). Each case is a valid seed file changed by a seeded mutation: generic ones (bit flips, bytes set
// to 0/0xFF/0x7F/0x80, truncation, a range duplicated or removed) and format-aware ones that reach past
// the first checks: HDF5 superblock fields and object-header message lengths and addresses (checksums of
// v2 structures recomputed), PNG chunk lengths and IHDR fields (CRC recomputed) and the inflated rows,
// JPEG marker lengths, SOF dimensions, DHT counts and SOS fields, manifest fields of the wrong type or
// value, .npy header fields. A case passes when the parser returns a result that passes a sanity check,
// or throws our own error: an Error (or ImageFormatError) with one short line that names the file. Every
// other end is a failure: another exception class (TypeError, RangeError… from deep inside), a message
// of several lines or without the file's name, a time over the limit (2 s, plus 250 ms per megapixel of
// a decoded image: a tiny file may declare a large image that decodes; 5 s for .h5, whose case may wait
// for a call into HDF5 to time out after 1 s), or a rise of the process' peak memory by more than
// 512 MiB, which only an unchecked allocation makes. JavaScript parsers run in this thread: a case that
// never ends stops the run (`npm run fuzz` leaves its input in the cases directory it prints).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import h5wasm, { File as H5File, Group } from 'h5wasm/node';
import { elementCount, inferShapes, MODELS, VGG16, VGG19, weightSpecs, type ModelSpec } from '../../src/engine/model.js';
import type { ImageInput } from '../../src/engine/network.js';
import { decodeNpy, encodeNpy } from '../../src/engine/npy.js';
import { heNormalWeights, mulberry32, syntheticPhoto } from '../../src/engine/synthetic.js';
import { layoutManifest, MANIFEST_FILE, type WeightsManifest } from '../../src/engine/weights/format.js';
import { MAX_DECODED_PIXELS, readImage } from '../../src/hosts/node/images/imageFiles.js';
import { h5GuardCounts } from '../../src/hosts/node/keras/h5Reader.js';
import { openKerasWeights } from '../../src/hosts/node/keras/kerasH5.js';
import { writeSyntheticKerasH5 } from '../../src/hosts/node/keras/syntheticH5.js';
import { readWeightsManifest } from '../../src/hosts/node/weights.js';
import { encodeBaselineJpeg } from './jpegEncoder.js';
import { TINY_VGG } from './tinyVgg.js';

// ---------------------------------------------------------------------------------------------------
// Random choices and byte-level mutations
// ---------------------------------------------------------------------------------------------------

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed >>> 0);
  }
  float(): number {
    return this.next();
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** A mutated file and what was done to it (for the reproduction log). */
export interface Mutant {
  bytes: Uint8Array;
  what: string;
}

/** An unsigned integer of `size` bytes at `at`, the kind of field a format-aware mutation rewrites. */
export interface Field {
  at: number;
  size: number;
  /** Byte order: HDF5 is little-endian, PNG and JPEG big-endian. */
  le: boolean;
  what: string;
}

export function readField(b: Uint8Array, f: Field): bigint {
  let v = 0n;
  for (let i = 0; i < f.size; i++) v |= BigInt(b[f.at + (f.le ? i : f.size - 1 - i)] ?? 0) << BigInt(8 * i);
  return v;
}

export function writeField(b: Uint8Array, f: Field, v: bigint): void {
  const mask = (1n << BigInt(8 * f.size)) - 1n;
  v &= mask;
  for (let i = 0; i < f.size; i++) {
    const at = f.at + (f.le ? i : f.size - 1 - i);
    if (at < b.length) b[at] = Number((v >> BigInt(8 * i)) & 0xffn);
  }
}

/** The values that break parsers: the extremes, off-by-ones, sizes of the file itself, random. */
function interestingValue(f: Field, current: bigint, fileSize: number, rng: Rng): bigint {
  const max = (1n << BigInt(8 * f.size)) - 1n;
  const small = BigInt(1 + rng.int(16));
  const choices: (() => bigint)[] = [
    () => 0n,
    () => 1n,
    () => max,
    () => max >> 1n, // 0x7F…
    () => 1n << BigInt(8 * f.size - 1), // 0x80…
    () => current + 1n,
    () => current - 1n,
    () => current + small,
    () => current - small,
    () => current * 2n,
    () => current / 2n,
    () => current << BigInt(8 * (1 + rng.int(Math.min(4, f.size)))),
    () => BigInt(fileSize),
    () => BigInt(fileSize) + small,
    () => BigInt(fileSize) - small,
    () => BigInt(rng.int(256)),
    () => BigInt(Math.floor(rng.float() * 2 ** 32)) & max,
  ];
  return rng.pick(choices)() & max;
}

export function mutateField(b: Uint8Array, f: Field, rng: Rng): string {
  const before = readField(b, f);
  const after = interestingValue(f, before, b.length, rng);
  writeField(b, f, after);
  return `${f.what} @${f.at}: ${before} → ${after}`;
}

const BOUNDARY = [0x00, 0xff, 0x7f, 0x80];

/** Mutations that know nothing of the format. */
export function mutateBytes(seed: Uint8Array, rng: Rng): Mutant {
  const n = seed.length;
  const at = rng.int(n);
  switch (rng.int(8)) {
    case 0: {
      const b = Uint8Array.from(seed);
      const flips = 1 + rng.int(4);
      const where: number[] = [];
      for (let i = 0; i < flips; i++) {
        const p = rng.int(n);
        b[p] ^= 1 << rng.int(8);
        where.push(p);
      }
      return { bytes: b, what: `bit flips at ${where.join(', ')}` };
    }
    case 1: {
      const b = Uint8Array.from(seed);
      const v = rng.pick(BOUNDARY);
      const len = 1 + rng.int(8);
      b.fill(v, at, Math.min(n, at + len));
      return { bytes: b, what: `${len} bytes at ${at} set to 0x${v.toString(16)}` };
    }
    case 2: {
      const b = Uint8Array.from(seed);
      b[at] = rng.int(256);
      return { bytes: b, what: `byte ${at} set to ${b[at]}` };
    }
    case 3: {
      const cut = rng.chance(0.5) ? rng.int(n) : Math.max(0, n - 1 - rng.int(64));
      return { bytes: seed.slice(0, cut), what: `truncated to ${cut} bytes` };
    }
    case 4: {
      const len = 1 + rng.int(Math.min(256, n - at));
      const to = rng.int(n);
      return { bytes: concat(seed.subarray(0, to), seed.subarray(at, at + len), seed.subarray(to)), what: `bytes ${at}+${len} duplicated at ${to}` };
    }
    case 5: {
      const len = 1 + rng.int(Math.min(256, n - at));
      return { bytes: concat(seed.subarray(0, at), seed.subarray(at + len)), what: `bytes ${at}+${len} removed` };
    }
    case 6: {
      const b = Uint8Array.from(seed);
      const len = 1 + rng.int(64);
      for (let i = at; i < Math.min(n, at + len); i++) b[i] = rng.int(256);
      return { bytes: b, what: `bytes ${at}+${len} randomized` };
    }
    default: {
      const len = 1 + rng.int(32);
      const junk = new Uint8Array(len).map(() => (rng.chance(0.5) ? rng.pick(BOUNDARY) : rng.int(256)));
      return { bytes: concat(seed.subarray(0, at), junk, seed.subarray(at)), what: `${len} random bytes inserted at ${at}` };
    }
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// HDF5: the structure a mutation aims at
// ---------------------------------------------------------------------------------------------------

/** Jenkins' lookup3 hashlittle, as HDF5's H5_checksum_lookup3 computes its metadata checksums. */
export function lookup3(k: Uint8Array, start: number, end: number, initval = 0): number {
  const rot = (x: number, r: number) => (x << r) | (x >>> (32 - r));
  let length = end - start;
  let a = (0xdeadbeef + length + initval) | 0;
  let b = a;
  let c = a;
  let o = start;
  while (length > 12) {
    a = (a + (k[o] | (k[o + 1] << 8) | (k[o + 2] << 16) | (k[o + 3] << 24))) | 0;
    b = (b + (k[o + 4] | (k[o + 5] << 8) | (k[o + 6] << 16) | (k[o + 7] << 24))) | 0;
    c = (c + (k[o + 8] | (k[o + 9] << 8) | (k[o + 10] << 16) | (k[o + 11] << 24))) | 0;
    a = (a - c) | 0; a ^= rot(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rot(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 4); b = (b + a) | 0;
    length -= 12;
    o += 12;
  }
  if (length === 0) return c >>> 0;
  // The tail, as the C switch falls through from 12 down to 1.
  const byte = (i: number) => (i < length ? k[o + i] : 0);
  c = (c + (byte(8) | (byte(9) << 8) | (byte(10) << 16) | (byte(11) << 24))) | 0;
  b = (b + (byte(4) | (byte(5) << 8) | (byte(6) << 16) | (byte(7) << 24))) | 0;
  a = (a + (byte(0) | (byte(1) << 8) | (byte(2) << 16) | (byte(3) << 24))) | 0;
  c ^= b; c = (c - rot(b, 14)) | 0;
  a ^= c; a = (a - rot(c, 11)) | 0;
  b ^= a; b = (b - rot(a, 25)) | 0;
  c ^= b; c = (c - rot(b, 16)) | 0;
  a ^= c; a = (a - rot(c, 4)) | 0;
  b ^= a; b = (b - rot(a, 14)) | 0;
  c ^= b; c = (c - rot(b, 24)) | 0;
  return c >>> 0;
}

/** A checksummed HDF5 structure: lookup3 of [start, end) stored little-endian at end. */
interface Checksummed {
  start: number;
  end: number;
}

export interface Hdf5Layout {
  fields: Field[];
  checksums: Checksummed[];
  /** Where the superblock's end-of-file address is (to keep it consistent with a truncation). */
  eof?: Field;
}

const SIGNATURES = ['TREE', 'HEAP', 'SNOD', 'GCOL', 'OHDR', 'OCHK', 'FRHP', 'FHDB', 'FHIB', 'BTHD', 'BTLF', 'BTIN', 'FSHD', 'FSSE', 'SMTB', 'SMLI'];

/**
 * Finds the fields worth mutating in an HDF5 file: the superblock's, every object header's (v1, and v2
 * with its checksum) and their messages' lengths, addresses and sizes (dataspace, datatype, layout,
 * attribute, symbol table, link, continuation), the symbol-table B-trees, heaps and nodes they lead to,
 * and the headers of the other signed structures found by their signatures.
 */
export function scanHdf5(b: Uint8Array): Hdf5Layout {
  const fields: Field[] = [];
  const checksums: Checksummed[] = [];
  const u = (at: number, size: number) => (at + size <= b.length ? Number(readField(b, { at, size, le: true, what: '' })) : NaN);
  const add = (at: number, size: number, what: string) => {
    if (at >= 0 && at + size <= b.length) fields.push({ at, size, le: true, what });
  };
  const version = b[8];
  const O = version <= 1 ? b[13] : b[9];
  const L = version <= 1 ? b[14] : b[10];
  if (![2, 4, 8].includes(O) || ![2, 4, 8].includes(L)) return { fields, checksums };
  add(8, 1, 'superblock version');
  const objects: number[] = [];
  let eof: Field | undefined;
  if (version <= 1) {
    ['free-space version', 'root group symbol table version', 'reserved', 'shared header version', 'size of offsets', 'size of lengths'].forEach((w, i) => add(9 + i, 1, `superblock ${w}`));
    add(16, 2, 'superblock group leaf node K');
    add(18, 2, 'superblock group internal node K');
    add(20, 4, 'superblock consistency flags');
    let p = version === 1 ? 28 : 24;
    if (version === 1) add(24, 2, 'superblock indexed storage K');
    for (const w of ['base address', 'free-space address', 'end-of-file address', 'driver info address']) {
      add(p, O, `superblock ${w}`);
      if (w === 'end-of-file address') eof = { at: p, size: O, le: true, what: 'superblock end-of-file address' };
      p += O;
    }
    symbolEntry(p, 'root group');
  } else {
    add(9, 1, 'superblock size of offsets');
    add(10, 1, 'superblock size of lengths');
    add(11, 1, 'superblock consistency flags');
    let p = 12;
    for (const w of ['base address', 'extension address', 'end-of-file address', 'root group object header address']) {
      add(p, O, `superblock ${w}`);
      if (w === 'end-of-file address') eof = { at: p, size: O, le: true, what: 'superblock end-of-file address' };
      if (w.startsWith('root')) objects.push(u(p, O));
      p += O;
    }
    checksums.push({ start: 0, end: p });
  }

  function symbolEntry(p: number, what: string): void {
    add(p, O, `${what} link name offset`);
    add(p + O, O, `${what} object header address`);
    add(p + 2 * O, 4, `${what} cache type`);
    add(p + 2 * O + 8, O, `${what} cached B-tree address`);
    add(p + 3 * O + 8, O, `${what} cached heap address`);
    objects.push(u(p + O, O));
  }

  const seen = new Set<number>();
  const once = (at: number) => {
    if (!Number.isFinite(at) || at <= 0 || at >= b.length || seen.has(at)) return false;
    seen.add(at);
    return true;
  };
  const sig = (at: number) => String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);

  function message(type: number, d: number, size: number, where: string): void {
    const w = `${where} message 0x${type.toString(16)}`;
    switch (type) {
      case 0x01: {
        // Dataspace: version, rank, flags; dimensions (and maxima) of L bytes each.
        add(d, 1, `${w} (dataspace) version`);
        add(d + 1, 1, `${w} (dataspace) rank`);
        add(d + 2, 1, `${w} (dataspace) flags`);
        const dims = b[d] === 1 ? d + 8 : d + 4;
        for (let i = 0; i < Math.min(b[d + 1], 4); i++) add(dims + i * L, L, `${w} (dataspace) dimension ${i}`);
        return;
      }
      case 0x03:
        datatype(d, `${w} (datatype)`);
        return;
      case 0x08:
        add(d, 1, `${w} (layout) version`);
        add(d + 1, 1, `${w} (layout) class`);
        if (b[d] === 3 && b[d + 1] === 1) {
          add(d + 2, O, `${w} (layout) data address`);
          add(d + 2 + O, L, `${w} (layout) data size`);
        } else if (b[d] === 3 && b[d + 1] === 0) add(d + 2, 2, `${w} (layout) compact size`);
        else if (b[d] === 3 && b[d + 1] === 2) {
          add(d + 2, 1, `${w} (layout) chunk rank`);
          add(d + 3, O, `${w} (layout) chunk index address`);
          for (let i = 0; i < Math.min(b[d + 2], 4); i++) add(d + 3 + O + 4 * i, 4, `${w} (layout) chunk dimension ${i}`);
        }
        return;
      case 0x0c: {
        // Attribute: name, datatype and dataspace sizes; v1 pads each part to 8 bytes.
        const v = b[d];
        add(d, 1, `${w} (attribute) version`);
        add(d + 2, 2, `${w} (attribute) name size`);
        add(d + 4, 2, `${w} (attribute) datatype size`);
        add(d + 6, 2, `${w} (attribute) dataspace size`);
        const pad = (n: number) => (v === 1 ? (n + 7) & ~7 : n);
        const name = d + (v === 3 ? 9 : 8);
        const dt = name + pad(u(d + 2, 2));
        const ds = dt + pad(u(d + 4, 2));
        datatype(dt, `${w} (attribute) datatype`);
        add(ds + 1, 1, `${w} (attribute) dataspace rank`);
        add((b[ds] === 1 ? ds + 8 : ds + 4), L, `${w} (attribute) dimension 0`);
        return;
      }
      case 0x11:
        add(d, O, `${w} (symbol table) B-tree address`);
        add(d + O, O, `${w} (symbol table) local heap address`);
        btree(u(d, O));
        heap(u(d + O, O));
        return;
      case 0x10:
        add(d, O, `${w} (continuation) address`);
        add(d + O, L, `${w} (continuation) length`);
        continuation(u(d, O), u(d + O, L));
        return;
      case 0x06: {
        // Link: flags say which optional fields are there and how wide the name length is.
        const flags = b[d + 1];
        add(d + 1, 1, `${w} (link) flags`);
        let p = d + 2;
        const hardLink = !(flags & 0x08) || b[p] === 0;
        if (flags & 0x08) add(p++, 1, `${w} (link) type`);
        if (flags & 0x04) p += 8;
        if (flags & 0x10) p++;
        const lenSize = 1 << (flags & 3);
        add(p, lenSize, `${w} (link) name length`);
        const nameLen = u(p, lenSize);
        p += lenSize + nameLen;
        if (hardLink) {
          add(p, O, `${w} (link) object address`);
          objects.push(u(p, O));
        }
        return;
      }
      case 0x02: {
        const flags = b[d + 1];
        add(d + 1, 1, `${w} (link info) flags`);
        const p = d + 2 + (flags & 1 ? 8 : 0);
        add(p, O, `${w} (link info) fractal heap address`);
        add(p + O, O, `${w} (link info) name index address`);
        return;
      }
      default:
        if (size >= 1) add(d, 1, `${w} first byte`);
    }
  }

  function datatype(d: number, w: string): void {
    add(d, 1, `${w} class and version`);
    add(d + 1, 1, `${w} bit field`);
    add(d + 4, 4, `${w} size`);
    if ((b[d] & 0x0f) === 1) {
      add(d + 8, 2, `${w} bit offset`);
      add(d + 10, 2, `${w} precision`);
      add(d + 12, 1, `${w} exponent location`);
      add(d + 13, 1, `${w} exponent size`);
      add(d + 15, 1, `${w} mantissa size`);
    }
  }

  function v1Header(a: number): void {
    if (!once(a) || b[a] !== 1) return;
    add(a, 1, 'object header version');
    add(a + 2, 2, 'object header message count');
    add(a + 8, 4, 'object header size');
    v1Messages(a + 16, u(a + 8, 4), `object header @${a}`);
  }

  function v1Messages(p: number, size: number, where: string): void {
    const end = Math.min(b.length, p + size);
    while (p + 8 <= end) {
      const type = u(p, 2);
      const len = u(p + 2, 2);
      add(p, 2, `${where} message type`);
      add(p + 2, 2, `${where} message size`);
      add(p + 4, 1, `${where} message flags`);
      message(type, p + 8, len, where);
      p += 8 + len;
    }
  }

  function v2Header(a: number): void {
    if (!once(a)) return;
    const flags = b[a + 5];
    add(a + 4, 1, 'OHDR version');
    add(a + 5, 1, 'OHDR flags');
    let p = a + 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
    const sizeBytes = 1 << (flags & 3);
    add(p, sizeBytes, 'OHDR chunk size');
    const chunk = u(p, sizeBytes);
    p += sizeBytes;
    const end = p + chunk;
    if (end + 4 <= b.length) checksums.push({ start: a, end });
    v2Messages(p, end, flags, `OHDR @${a}`);
  }

  function v2Messages(p: number, end: number, flags: number, where: string): void {
    const header = 4 + (flags & 0x04 ? 2 : 0);
    while (p + header <= Math.min(end, b.length)) {
      const type = b[p];
      const len = u(p + 1, 2);
      add(p, 1, `${where} message type`);
      add(p + 1, 2, `${where} message size`);
      add(p + 3, 1, `${where} message flags`);
      message(type, p + header, len, where);
      p += header + len;
    }
  }

  function continuation(at: number, length: number): void {
    if (!once(at) || !Number.isFinite(length)) return;
    if (sig(at) === 'OCHK') {
      add(at + 4, 1, 'OCHK version');
      if (at + length <= b.length) checksums.push({ start: at, end: at + length - 4 });
      // The flags of the header this continues decide the message header size; creation order is rare.
      v2Messages(at + 4, at + length - 4, 0, `OCHK @${at}`);
    } else v1Messages(at, length, `continuation @${at}`);
  }

  function btree(at: number): void {
    if (!once(at) || sig(at) !== 'TREE') return;
    add(at + 4, 1, 'B-tree node type');
    add(at + 5, 1, 'B-tree node level');
    add(at + 6, 2, 'B-tree entries used');
    add(at + 8, O, 'B-tree left sibling');
    add(at + 8 + O, O, 'B-tree right sibling');
    const level = b[at + 5];
    const entries = u(at + 6, 2);
    let p = at + 8 + 2 * O;
    for (let i = 0; i < Math.min(entries, 64); i++) {
      p += L; // the key: an offset into the local heap
      add(p, O, `B-tree child ${i}`);
      const child = u(p, O);
      if (level > 0) btree(child);
      else snod(child);
      p += O;
    }
  }

  function heap(at: number): void {
    if (!once(at) || sig(at) !== 'HEAP') return;
    add(at + 4, 1, 'local heap version');
    add(at + 8, L, 'local heap data size');
    add(at + 8 + L, L, 'local heap free list offset');
    add(at + 8 + 2 * L, O, 'local heap data address');
  }

  function snod(at: number): void {
    if (!once(at) || sig(at) !== 'SNOD') return;
    add(at + 4, 1, 'symbol node version');
    add(at + 6, 2, 'symbol node entry count');
    const n = u(at + 6, 2);
    for (let i = 0; i < Math.min(n, 64); i++) symbolEntry(at + 8 + i * (2 * O + 24), `symbol ${i}`);
  }

  for (let i = 0; i < objects.length; i++) {
    const a = objects[i];
    if (!Number.isFinite(a) || a <= 0 || a + 16 > b.length) continue;
    if (sig(a) === 'OHDR') v2Header(a);
    else v1Header(a);
  }
  // Whatever else carries a signature (global heaps, fractal heaps, v2 B-trees, free-space managers).
  for (let at = 0; at + 16 <= b.length; at++) {
    if (b[at] < 0x41 || b[at] > 0x5a) continue;
    const s = sig(at);
    if (!SIGNATURES.includes(s) || seen.has(at)) continue;
    add(at + 4, 1, `${s} version`);
    if (s === 'GCOL') {
      add(at + 8, L, 'global heap collection size');
      let p = at + 8 + L;
      for (let i = 0; i < 8 && p + 8 + L <= b.length; i++) {
        add(p, 2, `global heap object ${i} index`);
        add(p + 8, L, `global heap object ${i} size`);
        const size = u(p + 8, L);
        if (!Number.isFinite(size) || size > b.length) break;
        p += 8 + L + ((size + 7) & ~7);
      }
    } else {
      add(at + 5, 1, `${s} byte 5`);
      add(at + 6, O, `${s} field at 6`);
    }
  }
  // Only checksums that hold in the seed are worth keeping true after a mutation.
  const valid = checksums.filter((c) => c.end + 4 <= b.length && lookup3(b, c.start, c.end) === u(c.end, 4));
  return { fields, checksums: valid, eof };
}

/** Recomputes the checksums of the structures that contain a changed byte, so that HDF5 reads past them. */
function fixChecksums(b: Uint8Array, layout: Hdf5Layout, changed: Field): void {
  for (const c of layout.checksums) {
    if (changed.at + changed.size <= c.start || changed.at >= c.end || c.end + 4 > b.length) continue;
    writeField(b, { at: c.end, size: 4, le: true, what: '' }, BigInt(lookup3(b, c.start, c.end)));
  }
}

export function mutateHdf5(seed: Uint8Array, layout: Hdf5Layout, rng: Rng): Mutant {
  const r = rng.float();
  if (r < 0.55 && layout.fields.length) {
    const b = Uint8Array.from(seed);
    const whats: string[] = [];
    const count = rng.chance(0.8) ? 1 : 2 + rng.int(3);
    for (let i = 0; i < count; i++) {
      const f = rng.pick(layout.fields);
      whats.push(mutateField(b, f, rng));
      if (rng.chance(0.9)) fixChecksums(b, layout, f);
    }
    return { bytes: b, what: whats.join('; ') };
  }
  if (r < 0.65 && layout.eof) {
    // A truncation the superblock agrees with: HDF5 then meets addresses past the end.
    const cut = 48 + rng.int(seed.length - 48);
    const b = seed.slice(0, cut);
    writeField(b, layout.eof, BigInt(cut));
    if (layout.checksums[0]?.start === 0 && layout.checksums[0].end + 4 <= cut) fixChecksums(b, layout, layout.eof);
    return { bytes: b, what: `truncated to ${cut} bytes, end-of-file address set to match` };
  }
  return mutateBytes(seed, rng);
}

// ---------------------------------------------------------------------------------------------------
// PNG
// ---------------------------------------------------------------------------------------------------

let crcTable: Uint32Array | undefined;
export function crc32(b: Uint8Array, start = 0, end = b.length): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = crcTable[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

interface PngChunkAt {
  type: string;
  /** Offset of the length field. */
  at: number;
  length: number;
}

function pngChunks(b: Uint8Array): PngChunkAt[] {
  const out: PngChunkAt[] = [];
  for (let at = 8; at + 12 <= b.length; ) {
    const length = new DataView(b.buffer, b.byteOffset).getUint32(at);
    out.push({ type: String.fromCharCode(...b.subarray(at + 4, at + 8)), at, length });
    at += 12 + length;
  }
  return out;
}

const fixCrc = (b: Uint8Array, c: PngChunkAt) => {
  if (c.at + 12 + c.length <= b.length) new DataView(b.buffer, b.byteOffset).setUint32(c.at + 8 + c.length, crc32(b, c.at + 4, c.at + 8 + c.length));
};

/** A PNG of any kind from seeded samples (gray 1–16-bit, RGB, palette, gray + alpha, RGBA; Adam7 or not). */
export function encodePng(o: { width: number; height: number; colorType: 0 | 2 | 3 | 4 | 6; bitDepth: number; interlaced?: boolean; seed: number; idatChunks?: number }): Uint8Array {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[o.colorType];
  const rng = new Rng(o.seed);
  const bits = channels * o.bitDepth;
  const passes = o.interlaced
    ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]
    : [[0, 0, 1, 1]];
  const rows: number[] = [];
  for (const [x0, y0, dx, dy] of passes) {
    const w = o.width > x0 ? Math.ceil((o.width - x0) / dx) : 0;
    const h = o.height > y0 ? Math.ceil((o.height - y0) / dy) : 0;
    if (!w || !h) continue;
    const rowBytes = Math.ceil((w * bits) / 8);
    for (let y = 0; y < h; y++) {
      rows.push(rng.int(5)); // every filter type
      for (let i = 0; i < rowBytes; i++) rows.push(rng.int(256));
    }
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, o.width);
  view.setUint32(4, o.height);
  ihdr.set([o.bitDepth, o.colorType, 0, 0, o.interlaced ? 1 : 0], 8);
  const z = deflateSync(Uint8Array.from(rows));
  const parts = [PNG_SIGNATURE, pngChunk('IHDR', ihdr)];
  if (o.colorType === 3) parts.push(pngChunk('PLTE', new Uint8Array(3 * (1 << o.bitDepth)).map(() => rng.int(256))));
  parts.push(pngChunk('tEXt', new TextEncoder().encode('Comment\0fuzz seed')));
  const n = o.idatChunks ?? 1;
  const step = Math.ceil(z.length / n);
  for (let i = 0; i < z.length; i += step) parts.push(pngChunk('IDAT', z.subarray(i, i + step)));
  parts.push(pngChunk('IEND', new Uint8Array(0)));
  return concat(...parts);
}

export function mutatePng(seed: Uint8Array, rng: Rng): Mutant {
  const chunks = pngChunks(seed);
  const b = Uint8Array.from(seed);
  const c = rng.pick(chunks);
  const crcFixed = rng.chance(0.9);
  switch (rng.int(10)) {
    case 0:
    case 1: {
      // IHDR: width, height, then one byte each for depth, colour type, compression, filter, interlace.
      const ihdr = chunks.find((k) => k.type === 'IHDR')!;
      const o = ihdr.at + 8;
      const f = rng.pick<Field>([
        { at: o, size: 4, le: false, what: 'IHDR width' },
        { at: o + 4, size: 4, le: false, what: 'IHDR height' },
        { at: o + 8, size: 1, le: false, what: 'IHDR bit depth' },
        { at: o + 9, size: 1, le: false, what: 'IHDR colour type' },
        { at: o + 10, size: 1, le: false, what: 'IHDR compression' },
        { at: o + 11, size: 1, le: false, what: 'IHDR filter method' },
        { at: o + 12, size: 1, le: false, what: 'IHDR interlace' },
      ]);
      const what = mutateField(b, f, rng);
      if (crcFixed) fixCrc(b, ihdr);
      return { bytes: b, what: `${what}${crcFixed ? ' (CRC fixed)' : ''}` };
    }
    case 2:
      return { bytes: b, what: mutateField(b, { at: c.at, size: 4, le: false, what: `${c.type} length` }, rng) };
    case 3: {
      const whole = seed.subarray(c.at, c.at + 12 + c.length);
      const to = rng.pick(chunks).at;
      return { bytes: concat(seed.subarray(0, to), whole, seed.subarray(to)), what: `${c.type} chunk duplicated at ${to}` };
    }
    case 4:
      return { bytes: concat(seed.subarray(0, c.at), seed.subarray(c.at + 12 + c.length)), what: `${c.type} chunk removed` };
    case 5: {
      // The inflated rows changed and deflated again: filter types, missing or extra rows.
      const idats = chunks.filter((k) => k.type === 'IDAT');
      const z = concat(...idats.map((k) => seed.subarray(k.at + 8, k.at + 8 + k.length)));
      let raw: Uint8Array = inflateSync(z);
      let what: string;
      const r = rng.int(4);
      if (r === 0) {
        raw = Uint8Array.from(raw);
        const at = rng.int(raw.length);
        raw[at] = rng.pick([5, 6, 0xff, rng.int(256)]);
        what = `inflated byte ${at} set to ${raw[at]}`;
      } else if (r === 1) {
        const cut = rng.int(raw.length);
        raw = raw.slice(0, cut);
        what = `inflated rows cut to ${cut} bytes`;
      } else if (r === 2) {
        raw = concat(raw, new Uint8Array(1 + rng.int(4096)).map(() => rng.int(5)));
        what = 'bytes appended to the inflated rows';
      } else {
        raw = new Uint8Array(0);
        what = 'no inflated rows';
      }
      const idat = pngChunk('IDAT', deflateSync(raw));
      const first = idats[0];
      const last = idats[idats.length - 1];
      return { bytes: concat(seed.subarray(0, first.at), idat, seed.subarray(last.at + 12 + last.length)), what };
    }
    case 6: {
      if (c.length === 0) return mutateBytes(seed, rng);
      const at = c.at + 8 + rng.int(c.length);
      b[at] = rng.chance(0.5) ? rng.pick(BOUNDARY) : rng.int(256);
      if (crcFixed) fixCrc(b, c);
      return { bytes: b, what: `${c.type} data byte ${at} set to ${b[at]}${crcFixed ? ' (CRC fixed)' : ''}` };
    }
    case 7: {
      const name = rng.chance(0.7) ? rng.pick(['PLTE', 'IHDR', 'IEND', 'IDAT', 'tRNS', 'zzZz', 'gAMA']) : String.fromCharCode(...[0, 1, 2, 3].map(() => rng.int(256)));
      const data = new Uint8Array(rng.int(800)).map(() => rng.int(256));
      const to = rng.pick(chunks).at;
      return { bytes: concat(seed.subarray(0, to), pngChunk(name, data), seed.subarray(to)), what: `chunk ${JSON.stringify(name)} of ${data.length} bytes inserted at ${to}` };
    }
    case 8: {
      const a = rng.pick(chunks);
      const [x, y] = a.at < c.at ? [a, c] : [c, a];
      if (x === y) return mutateBytes(seed, rng);
      const part = (k: PngChunkAt) => seed.subarray(k.at, k.at + 12 + k.length);
      return {
        bytes: concat(seed.subarray(0, x.at), part(y), seed.subarray(x.at + 12 + x.length, y.at), part(x), seed.subarray(y.at + 12 + y.length)),
        what: `${x.type} and ${y.type} swapped`,
      };
    }
    default:
      return mutateBytes(seed, rng);
  }
}

// ---------------------------------------------------------------------------------------------------
// JPEG
// ---------------------------------------------------------------------------------------------------

interface JpegSegment {
  marker: number;
  /** Offset of the 0xFF. */
  at: number;
  /** The length field's value (0 for markers without one). */
  length: number;
}

function jpegSegments(b: Uint8Array): { segments: JpegSegment[]; scans: { start: number; end: number }[] } {
  const segments: JpegSegment[] = [];
  const scans: { start: number; end: number }[] = [];
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) {
      p++;
      continue;
    }
    const marker = b[p + 1];
    if (marker === 0xff || marker === 0 || (marker >= 0xd0 && marker <= 0xd7)) {
      p++;
      continue;
    }
    if (marker === 0xd9) break;
    const length = (b[p + 2] << 8) | b[p + 3];
    segments.push({ marker, at: p, length });
    p += 2 + length;
    if (marker === 0xda) {
      // Entropy-coded data up to the next marker that is not a restart or stuffing.
      const start = p;
      while (p + 1 < b.length && !(b[p] === 0xff && b[p + 1] !== 0 && !(b[p + 1] >= 0xd0 && b[p + 1] <= 0xd7))) p++;
      scans.push({ start, end: p });
    }
  }
  return { segments, scans };
}

export function mutateJpeg(seed: Uint8Array, rng: Rng): Mutant {
  const { segments, scans } = jpegSegments(seed);
  const b = Uint8Array.from(seed);
  const s = rng.pick(segments);
  const name = `marker 0xFF${s.marker.toString(16).toUpperCase()} @${s.at}`;
  const body = s.at + 4;
  const byType = (m: (x: number) => boolean) => segments.filter((x) => m(x.marker));
  switch (rng.int(9)) {
    case 0:
      return { bytes: b, what: mutateField(b, { at: s.at + 2, size: 2, le: false, what: `${name} length` }, rng) };
    case 1: {
      const sof = byType((m) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xcc)[0];
      if (!sof) return mutateBytes(seed, rng);
      const o = sof.at + 4;
      const n = b[o + 5];
      const f = rng.pick<Field>([
        { at: o, size: 1, le: false, what: 'SOF precision' },
        { at: o + 1, size: 2, le: false, what: 'SOF height' },
        { at: o + 3, size: 2, le: false, what: 'SOF width' },
        { at: o + 5, size: 1, le: false, what: 'SOF component count' },
        ...Array.from({ length: n }, (_, i) => [
          { at: o + 6 + 3 * i, size: 1, le: false, what: `SOF component ${i} id` },
          { at: o + 7 + 3 * i, size: 1, le: false, what: `SOF component ${i} sampling` },
          { at: o + 8 + 3 * i, size: 1, le: false, what: `SOF component ${i} quantization table` },
        ]).flat(),
        { at: sof.at + 1, size: 1, le: false, what: 'SOF marker' },
      ]);
      return { bytes: b, what: mutateField(b, f, rng) };
    }
    case 2: {
      const dht = byType((m) => m === 0xc4);
      if (!dht.length) return mutateBytes(seed, rng);
      const d = rng.pick(dht).at + 4;
      const f = rng.chance(0.3) ? { at: d, size: 1, le: false, what: 'DHT class and id' } : { at: d + 1 + rng.int(16), size: 1, le: false, what: 'DHT code count' };
      return { bytes: b, what: mutateField(b, f, rng) };
    }
    case 3: {
      const sos = byType((m) => m === 0xda);
      if (!sos.length) return mutateBytes(seed, rng);
      const d = rng.pick(sos).at + 4;
      const n = b[d];
      const f = rng.pick<Field>([
        { at: d, size: 1, le: false, what: 'SOS component count' },
        ...Array.from({ length: n }, (_, i) => [
          { at: d + 1 + 2 * i, size: 1, le: false, what: `SOS component ${i} selector` },
          { at: d + 2 + 2 * i, size: 1, le: false, what: `SOS component ${i} tables` },
        ]).flat(),
        { at: d + 1 + 2 * n, size: 1, le: false, what: 'SOS spectral start' },
        { at: d + 2 + 2 * n, size: 1, le: false, what: 'SOS spectral end' },
        { at: d + 3 + 2 * n, size: 1, le: false, what: 'SOS successive approximation' },
      ]);
      return { bytes: b, what: mutateField(b, f, rng) };
    }
    case 4: {
      const q = byType((m) => m === 0xdb || m === 0xdd || m === 0xcc);
      if (!q.length) return mutateBytes(seed, rng);
      const x = rng.pick(q);
      return { bytes: b, what: mutateField(b, { at: x.at + 4 + rng.int(Math.max(1, Math.min(4, x.length - 2))), size: 1, le: false, what: `${name} field` }, rng) };
    }
    case 5: {
      // The entropy-coded data: flipped bits, markers dropped in, cut short.
      if (!scans.length) return mutateBytes(seed, rng);
      const scan = rng.pick(scans);
      const at = scan.start + rng.int(Math.max(1, scan.end - scan.start));
      const r = rng.int(3);
      if (r === 0) {
        b[at] ^= 1 << rng.int(8);
        return { bytes: b, what: `scan data bit flip at ${at}` };
      }
      if (r === 1) {
        const marker = rng.pick([0xd0 + rng.int(8), 0xd9, 0xd8, 0xda, 0xc4, 0xff, 0x00]);
        return { bytes: concat(seed.subarray(0, at), Uint8Array.of(0xff, marker), seed.subarray(at)), what: `0xFF${marker.toString(16)} inserted in scan data at ${at}` };
      }
      return { bytes: concat(seed.subarray(0, at), Uint8Array.of(0xff, 0xd9)), what: `scan data cut at ${at}, EOI appended` };
    }
    case 6: {
      const whole = seed.subarray(s.at, s.at + 2 + s.length);
      if (rng.chance(0.5)) return { bytes: concat(seed.subarray(0, s.at), seed.subarray(s.at + 2 + s.length)), what: `${name} removed` };
      const to = rng.pick(segments).at;
      return { bytes: concat(seed.subarray(0, to), whole, seed.subarray(to)), what: `${name} duplicated at ${to}` };
    }
    case 7: {
      if (s.length <= 2) return mutateBytes(seed, rng);
      const at = body + rng.int(s.length - 2);
      b[at] = rng.chance(0.5) ? rng.pick(BOUNDARY) : rng.int(256);
      return { bytes: b, what: `${name} byte ${at} set to ${b[at]}` };
    }
    default:
      return mutateBytes(seed, rng);
  }
}

// ---------------------------------------------------------------------------------------------------
// manifest.json
// ---------------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const STRANGE_VALUES: Json[] = [
  -1, 0, 1, -0, 0.5, 1e308, -1e308, 2 ** 53 + 2, 2 ** 32, 4.000000001, 'NaN', 'Infinity', '-1', '1e999', '0x10', '', 'a\nb\u2028c',
  'x'.repeat(5000), null, true, false, [], {}, [null], { length: 3 }, '../shard-000.bin', '/etc/passwd', 'a/b', '__proto__', 'constructor',
];

function jsonPaths(v: Json, path: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(path);
  if (Array.isArray(v)) v.forEach((x, i) => jsonPaths(x, [...path, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) jsonPaths(v[k], [...path, k], out);
  return out;
}

/** JSON text of `doc` with one value replaced, removed or multiplied, or the text itself damaged. */
export function mutateManifest(seed: Uint8Array, rng: Rng): Mutant {
  if (rng.chance(0.15)) return mutateBytes(seed, rng);
  const doc = JSON.parse(new TextDecoder().decode(seed)) as Json;
  const paths = jsonPaths(doc).filter((p) => p.length > 0);
  const whats: string[] = [];
  const count = rng.chance(0.8) ? 1 : 2 + rng.int(3);
  let root: Json = doc;
  for (let i = 0; i < count; i++) {
    const path = rng.pick(paths);
    const parentPath = path.slice(0, -1);
    const key = path[path.length - 1];
    const parent = parentPath.reduce<Json>((v, k) => (v && typeof v === 'object' ? (v as Record<string | number, Json>)[k] : undefined) ?? null, root);
    if (!parent || typeof parent !== 'object') continue;
    const container = parent as Record<string | number, Json>;
    const old = container[key];
    const where = path.join('.');
    const r = rng.int(6);
    if (r === 0) {
      if (Array.isArray(container)) container.splice(Number(key), 1);
      else delete container[key];
      whats.push(`${where} removed`);
    } else if (r === 1 && Array.isArray(container)) {
      container.splice(Number(key), 0, structuredClone(old));
      whats.push(`${where} duplicated`);
    } else if (r === 2 && typeof old === 'number') {
      const v = rng.pick([old + 4, old - 4, old + 1, -old, old * 2, old * 2 ** 20, old + 2 ** 31, old + 0.5]);
      container[key] = v;
      whats.push(`${where}: ${old} → ${v}`);
    } else if (r === 3 && Array.isArray(old) && old.every((x) => typeof x === 'number')) {
      const v = rng.pick<Json>([[...old, 1], old.slice(1), old.map((x) => x * 2), [0, ...old.slice(1)], [-1, ...old.slice(1)], [2 ** 31, ...old.slice(1)]]);
      container[key] = v;
      whats.push(`${where}: [${old}] → ${JSON.stringify(v).slice(0, 80)}`);
    } else {
      const v = structuredClone(rng.pick(STRANGE_VALUES));
      container[key] = v;
      whats.push(`${where} → ${JSON.stringify(v).slice(0, 40)}`);
    }
  }
  if (rng.chance(0.05)) {
    root = rng.pick<Json>([null, [], 'manifest', 1, [root]]);
    whats.push(`document replaced by ${JSON.stringify(root).slice(0, 40)}`);
  }
  return { bytes: new TextEncoder().encode(JSON.stringify(root, null, rng.chance(0.5) ? 1 : undefined)), what: whats.join('; ') || 'unchanged' };
}

/** A manifest as `npm run convert` writes it, for one of the known models, with made-up hashes. */
export function manifestSeed(model: ModelSpec, rng: Rng): Uint8Array {
  const m: WeightsManifest = layoutManifest(model, { file: `${model.name}.h5`, layout: 'keras1' });
  for (const s of m.shards) s.sha256 = Array.from({ length: 64 }, () => '0123456789abcdef'[rng.int(16)]).join('');
  return new TextEncoder().encode(`${JSON.stringify(m, null, 1)}\n`);
}

// ---------------------------------------------------------------------------------------------------
// .npy
// ---------------------------------------------------------------------------------------------------

/** A .npy with the given header text and body (numpy's format: magic, version, header length, header). */
export function npyWith(header: string, body: Uint8Array, major = 1): Uint8Array {
  const text = new TextEncoder().encode(header);
  const lengthBytes = major === 1 ? 2 : 4;
  const head = new Uint8Array(8 + lengthBytes);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(head.buffer);
  if (major === 1) view.setUint16(8, Math.min(text.length, 0xffff), true);
  else view.setUint32(8, text.length, true);
  return concat(head, text, body);
}

export function mutateNpy(seed: Uint8Array, rng: Rng): Mutant {
  const major = seed[6];
  const start = major === 1 ? 10 : 12;
  const headerLength = major === 1 ? seed[8] | (seed[9] << 8) : new DataView(seed.buffer, seed.byteOffset).getUint32(8, true);
  const header = new TextDecoder('latin1').decode(seed.subarray(start, start + headerLength));
  const body = seed.subarray(start + headerLength);
  const r = rng.int(8);
  if (r <= 2) {
    // The header dict's values.
    const shape = rng.pick([
      '()', '(0,)', '(-1,)', '(-4, 2)', '(2**40,)', '(1099511627776, 1099511627776)', '(4294967296,)', '(1e3,)', '(1.5,)', '(NaN,)', "('a',)",
      '(3,, 2)', '(,)', '(9007199254740993,)', `(${body.length / 4 + 1},)`, `(${Math.floor(body.length / 8)},)`, '(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)',
      `(${'9'.repeat(400)},)`, '(0x10,)', '( 2 , 3 )', '(True,)',
    ]);
    const descr = rng.pick(['<f4', '<f8', '>f4', '|u1', '<f2', '<i4', 'float32', '<f4 ', "<f4', 'x", '<c8', 'O', '']);
    const fortran = rng.pick(['False', 'True', 'false', '0', 'None']);
    let h = header;
    const which = rng.int(4);
    if (which === 0) h = h.replace(/'shape':\s*\([^)]*\)/, `'shape': ${shape}`);
    else if (which === 1) h = h.replace(/'descr':\s*'[^']*'/, `'descr': '${descr}'`);
    else if (which === 2) h = h.replace(/'fortran_order':\s*\w+/, `'fortran_order': ${fortran}`);
    else h = h.replace(rng.pick([/'shape':\s*\([^)]*\),?/, /'descr':\s*'[^']*',?/, /'fortran_order':\s*\w+,?/]), '');
    return { bytes: npyWith(h, body, major), what: `header ${JSON.stringify(h.trim())}` };
  }
  if (r === 3) {
    const b = Uint8Array.from(seed);
    const f: Field = major === 1 ? { at: 8, size: 2, le: true, what: 'header length' } : { at: 8, size: 4, le: true, what: 'header length' };
    return { bytes: b, what: mutateField(b, f, rng) };
  }
  if (r === 4) {
    const b = Uint8Array.from(seed);
    return { bytes: b, what: mutateField(b, { at: rng.pick([6, 7]), size: 1, le: true, what: 'format version byte' }, rng) };
  }
  if (r === 5) {
    const cut = start + headerLength + rng.int(Math.max(1, body.length));
    return { bytes: seed.slice(0, cut), what: `body cut at ${cut}` };
  }
  if (r === 6) {
    // The same header in the other format version (4-byte header length), or none at all.
    return rng.chance(0.7)
      ? { bytes: npyWith(header, body, major === 1 ? 2 : 1), what: `format version ${major === 1 ? 2 : 1}` }
      : { bytes: npyWith(header.slice(0, rng.int(header.length)), new Uint8Array(0), major), what: 'header cut' };
  }
  return mutateBytes(seed, rng);
}

// ---------------------------------------------------------------------------------------------------
// Targets and the runner
// ---------------------------------------------------------------------------------------------------

export type ParserName = 'h5' | 'png' | 'jpeg' | 'manifest' | 'npy';
export const PARSERS: readonly ParserName[] = ['h5', 'png', 'jpeg', 'manifest', 'npy'];

export interface Seed {
  name: string;
  bytes: Uint8Array;
  /** Prepared once per seed (HDF5: the fields worth mutating). */
  hdf5?: Hdf5Layout;
}

export interface FuzzTarget {
  parser: ParserName;
  seeds: Seed[];
  /** The file a case is written to, under the case directory. */
  fileName: string;
  mutate(seed: Seed, rng: Rng): Mutant;
  /**
   * Reads the file at `path` (where the case was written) as the user's command would; resolves to
   * what fails the result's sanity check (undefined: nothing) and, for images, its size in megapixels.
   */
  parse(path: string, dir: string): Promise<Checked>;
  /** The one place in the message that must name the file (the path the user gave). */
  names(path: string, dir: string): string;
  /** Limits of this target that differ from DEFAULT_LIMITS. */
  limits?: Partial<Limits>;
}

/** What a parse gave: a problem with its result, if any, and the megapixels of a decoded image. */
export interface Checked {
  problem?: string;
  megapixels?: number;
}

export interface Limits {
  /** Per case, in milliseconds. */
  timeMs: number;
  /** Added to timeMs per megapixel of a decoded image: a small file may declare a large image that decodes (40 MP at most). */
  msPerMegapixel: number;
  /** Rise of the process' peak resident memory during one case that counts as an unchecked allocation. */
  peakRiseBytes: number;
  /** Passed to the HDF5 reader: how long one call into HDF5 may take. */
  h5CallMs: number;
}

export const DEFAULT_LIMITS: Limits = { timeMs: 2000, msPerMegapixel: 250, peakRiseBytes: 512 << 20, h5CallMs: 1000 };

export type Verdict = 'ok' | 'error' | 'failure';

export interface CaseResult {
  verdict: Verdict;
  /** For 'error' the message; for 'failure' what was wrong. */
  detail: string;
  ms: number;
  what: string;
  seed: string;
}

/** Our error: an Error (ImageFormatError included) whose message is one short line naming the file. */
export function judgeError(e: unknown, names: string): { verdict: Verdict; detail: string } {
  if (!(e instanceof Error)) return { verdict: 'failure', detail: `threw a non-Error: ${String(e).slice(0, 200)}` };
  const message = e.message;
  if (e.name !== 'Error' && e.name !== 'ImageFormatError')
    return { verdict: 'failure', detail: `${e.name}: ${message.split('\n')[0].slice(0, 300)}${e.stack ? ` at ${e.stack.split('\n')[1]?.trim()}` : ''}` };
  if (/[\n\r\u2028\u2029]/.test(message)) return { verdict: 'failure', detail: `message of several lines: ${JSON.stringify(message.slice(0, 300))}` };
  if (message.length > 1000) return { verdict: 'failure', detail: `message of ${message.length} characters: ${message.slice(0, 200)}…` };
  if (!message.includes(names)) return { verdict: 'failure', detail: `message does not name the file: ${message.slice(0, 300)}` };
  if (/please report this/.test(message)) return { verdict: 'failure', detail: `an internal error reached the user: ${message.slice(0, 300)}` };
  return { verdict: 'error', detail: message };
}

const peakRss = () => process.resourceUsage().maxRSS * 1024;

/** Writes one case to `dir` and runs the parser on it, classified. */
export async function runCase(target: FuzzTarget, mutant: Mutant, seed: Seed, dir: string, limits: Limits): Promise<CaseResult> {
  const path = join(dir, target.fileName);
  writeFileSync(path, mutant.bytes);
  const peak0 = peakRss();
  const t0 = performance.now();
  let verdict: Verdict;
  let detail: string;
  let limitMs = limits.timeMs;
  try {
    const checked = await target.parse(path, dir);
    [verdict, detail] = checked.problem ? ['failure', `result fails its sanity check: ${checked.problem}`] : ['ok', ''];
    limitMs += limits.msPerMegapixel * (checked.megapixels ?? 0);
  } catch (e) {
    ({ verdict, detail } = judgeError(e, target.names(path, dir)));
  }
  const ms = performance.now() - t0;
  const rise = peakRss() - peak0;
  if (verdict !== 'failure' && ms > limitMs) [verdict, detail] = ['failure', `took ${ms.toFixed(0)} ms (limit ${limitMs.toFixed(0)} ms); ${detail}`];
  if (verdict !== 'failure' && rise > limits.peakRiseBytes)
    [verdict, detail] = ['failure', `peak memory rose by ${(rise / 2 ** 20).toFixed(0)} MiB during the case; ${detail}`];
  return { verdict, detail, ms, what: mutant.what, seed: seed.name };
}

export interface FuzzRun {
  parser: ParserName;
  cases: number;
  ok: number;
  errors: number;
  failures: CaseResult[];
  /** The slowest case, in milliseconds. */
  slowestMs: number;
  seconds: number;
  /** Distinct error messages (numbers elided), with counts: what users see. */
  messages: Map<string, number>;
  /** .h5: how often the guard around h5wasm stopped a call at its time limit, or retired HDF5 after an abort. */
  guard?: { timeouts: number; aborts: number };
}

export interface FuzzOptions {
  cases: number;
  /** Number of the first case (default 0). */
  first?: number;
  seed: number;
  limits?: Partial<Limits>;
  /** Called with every failing case and its input (the script saves them for reproduction). */
  onFailure?: (r: CaseResult, bytes: Uint8Array, index: number) => void;
  onProgress?: (done: number) => void;
}

/** `cases` seeded mutations of the target's seeds from case `first` on, case i from seed `seed * 1_000_003 + i`. */
export async function fuzz(target: FuzzTarget, dir: string, options: FuzzOptions): Promise<FuzzRun> {
  const limits = { ...DEFAULT_LIMITS, ...target.limits, ...options.limits };
  mkdirSync(dir, { recursive: true });
  const run: FuzzRun = { parser: target.parser, cases: 0, ok: 0, errors: 0, failures: [], slowestMs: 0, seconds: 0, messages: new Map() };
  const t0 = performance.now();
  const guard0 = h5GuardCounts();
  const first = options.first ?? 0;
  for (let i = first; i < first + options.cases; i++) {
    const rng = new Rng(Math.imul(options.seed, 1_000_003) + i);
    const seed = target.seeds[i % target.seeds.length];
    const mutant = target.mutate(seed, rng);
    const r = await runCase(target, mutant, seed, dir, limits);
    run.cases++;
    run.slowestMs = Math.max(run.slowestMs, r.ms);
    if (r.verdict === 'ok') run.ok++;
    else if (r.verdict === 'error') {
      run.errors++;
      const key = r.detail.replace(dir, '<dir>').replace(/starts with bytes [^)]*/, 'starts with bytes …').replace(/\b\d+\b/g, 'N');
      run.messages.set(key, (run.messages.get(key) ?? 0) + 1);
    } else {
      run.failures.push({ ...r, detail: `case ${i} (${r.seed}: ${r.what}): ${r.detail}` });
      options.onFailure?.(r, mutant.bytes, i);
    }
    options.onProgress?.(i + 1 - first);
  }
  run.seconds = (performance.now() - t0) / 1000;
  if (target.parser === 'h5') {
    const guard = h5GuardCounts();
    run.guard = { timeouts: guard.timeouts - guard0.timeouts, aborts: guard.aborts - guard0.aborts };
  }
  rmSync(dir, { recursive: true, force: true });
  return run;
}

// ---------------------------------------------------------------------------------------------------
// The five targets, with their seeds
// ---------------------------------------------------------------------------------------------------

/** TINY_VGG in the three Keras layouts: h5py-like v0 superblocks, and HDF5's latest format (v3, OHDR with checksums). */
async function h5Seeds(dir: string): Promise<Seed[]> {
  mkdirSync(dir, { recursive: true });
  const keras1 = join(dir, 'keras1.h5');
  await writeSyntheticKerasH5(keras1, TINY_VGG, { seed: 1 });
  const keras2 = join(dir, 'keras2.h5');
  const keras3 = join(dir, 'keras3.h5');
  await h5wasm.ready;
  const weights = heNormalWeights(TINY_VGG, { seed: 2 });
  const layers = inferShapes(TINY_VGG);
  // Keras 2 as h5py 3 writes it: variable-length string attributes (a global heap), nested datasets, float64.
  let f = new H5File(keras2, 'w');
  try {
    f.create_attribute('layer_names', layers.map((l) => l.layer.name));
    f.create_attribute('backend', 'tensorflow');
    for (const l of layers) {
      const g = f.create_group(l.layer.name);
      g.create_attribute('weight_names', l.weights.map((w) => `${w.name}:0`));
      if (l.weights.length) g.create_group(l.layer.name);
      for (const w of l.weights) g.create_dataset({ name: `${w.name}:0`, data: Float64Array.from(weights.get(w.name)!), shape: w.shape, dtype: '<d' });
    }
  } finally {
    f.close();
  }
  // Keras 3 .weights.h5 in HDF5's latest file format.
  f = new H5File(keras3, 'w', { libver: ['latest', 'latest'] });
  try {
    const root = f.create_group('layers');
    const counters = new Map<string, number>();
    for (const l of layers) {
      const cls = { conv3x3: 'conv2d', maxpool2x2: 'max_pooling2d', flatten: 'flatten', dense: 'dense' }[l.layer.kind];
      const n = counters.get(cls) ?? 0;
      counters.set(cls, n + 1);
      const vars = root.create_group(n === 0 ? cls : `${cls}_${n}`).create_group('vars');
      l.weights.forEach((w, i) => vars.create_dataset({ name: String(i), data: weights.get(w.name)!, shape: w.shape, dtype: '<f' }));
    }
    const opt = f.create_group('optimizer').create_group('vars');
    opt.create_attribute('name', 'adam');
    if (!(f.get('layers') instanceof Group)) throw new Error('keras3 seed: no /layers');
  } finally {
    f.close();
  }
  return [keras1, keras2, keras3].map((file) => {
    const bytes = new Uint8Array(readFileSync(file));
    return { name: file.slice(dir.length + 1), bytes, hdf5: scanHdf5(bytes) };
  });
}

export async function h5Target(seedDir: string, limits: Partial<Limits> = {}): Promise<FuzzTarget> {
  const seeds = await h5Seeds(seedDir);
  const callMs = limits.h5CallMs ?? DEFAULT_LIMITS.h5CallMs;
  return {
    parser: 'h5',
    seeds,
    fileName: 'weights.h5',
    mutate: (seed, rng) => mutateHdf5(seed.bytes, seed.hdf5!, rng),
    names: (path) => path,
    // A case may wait for one call into HDF5 to time out (h5CallMs), and for the reader's worker to be
    // started again after the case before stopped it (about half a second).
    limits: { timeMs: 5000, h5CallMs: callMs },
    async parse(path) {
      const k = await openKerasWeights(path, [TINY_VGG], { timeoutMs: callMs });
      try {
        if (k.model !== TINY_VGG) return { problem: `model ${k.model.name}` };
        for (const t of k.tensors.values()) {
          const rows = t.readRows(0, t.shape[0]);
          if (rows.length !== elementCount(t.shape)) return { problem: `${t.name}: ${rows.length} values for shape ${t.shape}` };
        }
        return k.tensors.size === 8 ? {} : { problem: `${k.tensors.size} tensors` };
      } finally {
        k.close();
      }
    },
  };
}

/** Checks what an image decoder returned: a size within the limit and RGBA with alpha 255. */
function checkImage(img: ImageInput): Checked {
  const megapixels = (img.width * img.height) / 1e6;
  const problem = (() => {
    if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1) return `size ${img.width}×${img.height}`;
    if (img.width * img.height > MAX_DECODED_PIXELS) return `${img.width}×${img.height} is over the pixel limit`;
    if (img.data.length !== img.width * img.height * 4) return `${img.data.length} bytes for ${img.width}×${img.height}`;
    for (let i = 3; i < img.data.length; i += 4) if (img.data[i] !== 255) return `alpha ${img.data[i]} at pixel ${(i - 3) / 4}`;
    return undefined;
  })();
  return { problem, megapixels: Number.isFinite(megapixels) ? megapixels : 0 };
}

export function pngTarget(): FuzzTarget {
  const kinds: [0 | 2 | 3 | 4 | 6, number][] = [[0, 1], [0, 2], [0, 4], [0, 8], [0, 16], [2, 8], [2, 16], [3, 1], [3, 2], [3, 4], [3, 8], [4, 8], [4, 16], [6, 8], [6, 16]];
  const seeds = kinds.map(([colorType, bitDepth], i) => {
    const interlaced = i % 3 === 1;
    const [width, height] = [[13, 7], [1, 1], [33, 17], [8, 8], [5, 40]][i % 5];
    return { name: `png ct${colorType} ${bitDepth}-bit ${width}×${height}${interlaced ? ' Adam7' : ''}`, bytes: encodePng({ width, height, colorType, bitDepth, interlaced, seed: i, idatChunks: 1 + (i % 3) }) };
  });
  // What users pass instead of an image, for the sniffing that names the format (mutated byte-wise).
  const text = (s: string) => new TextEncoder().encode(s);
  const others: [string, Uint8Array][] = [
    ['GIF', concat(text('GIF89a'), new Uint8Array(40).fill(1))],
    ['WebP', concat(text('RIFF'), Uint8Array.of(40, 0, 0, 0), text('WEBPVP8 '), new Uint8Array(28))],
    ['BMP', concat(text('BM'), new Uint8Array(12), Uint8Array.of(40, 0, 0, 0), new Uint8Array(36))],
    ['HTML page', text('<!doctype html><html><head><title>cat.jpg</title></head><body>é</body></html>\n')],
    ['SVG', text('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>')],
    ['AVIF', concat(Uint8Array.of(0, 0, 0, 28), text('ftypavif'), new Uint8Array(16))],
    ['PNG signature only', PNG_SIGNATURE],
  ];
  seeds.push(...others.map(([name, bytes]) => ({ name: `not PNG: ${name}`, bytes })));
  return {
    parser: 'png',
    seeds,
    fileName: 'image.png',
    mutate: (seed, rng) => (seed.name.startsWith('not PNG') ? mutateBytes(seed.bytes, rng) : mutatePng(seed.bytes, rng)),
    names: (path) => path,
    parse: async (path) => checkImage(await readImage(path)),
  };
}

/**
 * What our encoder does not write, from Debian's cjpeg (libjpeg-turbo-progs, which test/jpeg-pil.test.ts
 * also needs): chroma subsampling, progressive and arithmetic coding, restart markers.
 */
export function cjpegSeeds(dir: string): Seed[] {
  mkdirSync(dir, { recursive: true });
  const [w, h] = [21, 14];
  const img = syntheticPhoto(w, h, 5);
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) rgb.set(img.data.subarray(4 * i, 4 * i + 3), 3 * i);
  const ppm = join(dir, 'source.ppm');
  writeFileSync(ppm, concat(new TextEncoder().encode(`P6\n${w} ${h}\n255\n`), rgb));
  const variants: [string, string[]][] = [
    ['4:2:0 progressive', ['-sample', '2x2', '-progressive']],
    ['4:2:2 arithmetic', ['-sample', '2x1', '-arithmetic']],
    ['4:2:0 progressive arithmetic', ['-sample', '2x2', '-progressive', '-arithmetic']],
    ['1x2 restarts optimized', ['-sample', '1x2', '-restart', '1', '-optimize']],
    ['gray progressive', ['-grayscale', '-progressive']],
  ];
  return variants.map(([name, args]) => {
    try {
      return { name: `cjpeg ${name}`, bytes: new Uint8Array(execFileSync('cjpeg', [...args, ppm], { maxBuffer: 1 << 20 })) };
    } catch (e) {
      throw new Error(`cjpeg ${args.join(' ')} failed (${e instanceof Error ? e.message.split('\n')[0] : e}); install Debian's libjpeg-turbo-progs`);
    }
  });
}

export function jpegTarget(extraSeeds: Seed[] = []): FuzzTarget {
  const seeds: Seed[] = [];
  const photo = (w: number, h: number, s: number) => syntheticPhoto(w, h, s);
  const planes = (w: number, h: number, s: number, n: number) => {
    const img = photo(w, h, s);
    return Array.from({ length: n }, (_, c) => {
      const p = new Uint8Array(w * h);
      for (let i = 0; i < w * h; i++) p[i] = img.data[4 * i + Math.min(c, 2)];
      return p;
    });
  };
  const jpeg = (name: string, w: number, h: number, n: number, extra: Partial<Parameters<typeof encodeBaselineJpeg>[0]> = {}) =>
    seeds.push({ name, bytes: encodeBaselineJpeg({ width: w, height: h, planes: planes(w, h, seeds.length, n), ...extra }) });
  jpeg('jpeg gray 17×9', 17, 9, 1);
  jpeg('jpeg 3 components 24×16 JFIF', 24, 16, 3, { jfif: true, quality: 50 });
  jpeg('jpeg YCbCr 4:4:4 9×9 restarts', 9, 9, 3, { restartInterval: 1 });
  jpeg('jpeg CMYK 8×8 Adobe', 8, 8, 4, { adobeTransform: 0 });
  jpeg('jpeg no Huffman tables 16×8', 16, 8, 3, { omitHuffmanTables: true });
  seeds.push(...extraSeeds);
  return {
    parser: 'jpeg',
    seeds,
    fileName: 'image.jpg',
    mutate: (seed, rng) => mutateJpeg(seed.bytes, rng),
    names: (path) => path,
    parse: async (path) => checkImage(await readImage(path)),
  };
}

export function manifestTarget(): FuzzTarget {
  const rng = new Rng(7);
  const seeds = [VGG16, VGG19].map((m) => ({ name: `manifest ${m.name}`, bytes: manifestSeed(m, rng) }));
  return {
    parser: 'manifest',
    seeds,
    fileName: MANIFEST_FILE,
    mutate: (seed, r) => mutateManifest(seed.bytes, r),
    names: (path) => path,
    async parse(_path, dir) {
      const { manifest, model } = readWeightsManifest(dir);
      // What the loaders rely on once the manifest is accepted.
      const problem = (() => {
        if (MODELS[manifest.model] !== model) return `model ${manifest.model}`;
        const total = manifest.shards.reduce((n, s) => n + s.bytes, 0);
        for (const s of manifest.shards) if (!/^[\w.-]+$/.test(s.file) || !Number.isSafeInteger(s.bytes) || s.bytes <= 0) return `shard ${JSON.stringify(s).slice(0, 100)}`;
        if (!Number.isSafeInteger(total)) return `shards of ${total} bytes`;
        const names = new Set(manifest.tensors.map((t) => t.name));
        if (names.size !== manifest.tensors.length || manifest.tensors.length !== weightSpecs(model).length) return `${manifest.tensors.length} tensor entries, ${names.size} names`;
        let end = 0;
        for (const t of [...manifest.tensors].sort((a, b) => a.offset - b.offset)) {
          if (!Number.isSafeInteger(t.offset) || t.offset < end || t.offset % 4 || t.offset + t.bytes > total) return `tensor ${t.name} at ${t.offset}+${t.bytes} of ${total} (previous ends at ${end})`;
          if (t.bytes !== 4 * elementCount(t.shape)) return `tensor ${t.name}: ${t.bytes} bytes for shape ${t.shape}`;
          end = t.offset + t.bytes;
        }
        return undefined;
      })();
      return { problem };
    },
  };
}

export function npyTarget(): FuzzTarget {
  const rng = new Rng(11);
  const seeds: Seed[] = [
    { name: 'npy float32 (2, 3, 4)', bytes: encodeNpy(new Float32Array(24).map(() => rng.float()), [2, 3, 4]) },
    { name: 'npy float32 (1, 10)', bytes: encodeNpy(new Float32Array(10).map(() => rng.float()), [1, 10]) },
    { name: 'npy float32 scalar', bytes: encodeNpy(Float32Array.of(3), []) },
    { name: 'npy float64 (5,) v2', bytes: npyWith(`{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }${' '.repeat(54)}\n`, new Uint8Array(Float64Array.of(1, 2, 3, 4, 5).buffer), 2) },
  ];
  return {
    parser: 'npy',
    seeds,
    fileName: 'block5_conv3.npy',
    mutate: (seed, r) => mutateNpy(seed.bytes, r),
    names: (path) => path,
    async parse(path) {
      const a = decodeNpy(readFileSync(path), path);
      if (!a.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return { problem: `shape [${a.shape}]` };
      if (a.data.length !== a.shape.reduce((x, y) => x * y, 1)) return { problem: `${a.data.length} values for shape [${a.shape}]` };
      return a.data instanceof Float32Array ? {} : { problem: 'not a Float32Array' };
    },
  };
}

/** The target of one parser, its seed files written under seedDir. */
export async function fuzzTarget(parser: ParserName, seedDir: string, limits: Partial<Limits> = {}): Promise<FuzzTarget> {
  switch (parser) {
    case 'h5':
      return h5Target(join(seedDir, 'h5'), limits);
    case 'png':
      return pngTarget();
    case 'jpeg':
      return jpegTarget(cjpegSeeds(join(seedDir, 'jpeg')));
    case 'manifest':
      return manifestTarget();
    case 'npy':
      return npyTarget();
  }
}
