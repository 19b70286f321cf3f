// A small baseline JPEG encoder for tests: files that neither Pillow nor cjpeg writes (YCCK, CMYK or
// RGB with a chosen Adobe transform, odd component ids, no JFIF marker, missing Huffman tables). It
// encodes the given sample planes as they are (no colour conversion, 1×1 sampling, any number of
// components), with the Annex K.1 quantization tables scaled as libjpeg scales them for a quality,
// and the Annex K.3 Huffman tables. It needs only to be valid: the decoded pixels are compared with
// Pillow's decode of the same file, not with the planes. Written independently of the decoder.

export interface EncodeOptions {
  width: number;
  height: number;
  /** One plane of width × height samples per component. */
  planes: Uint8Array[];
  /** Component ids (default 1, 2, 3, …). */
  ids?: number[];
  /** 1..100, as libjpeg's jpeg_quality_scaling (default 90). */
  quality?: number;
  /** Write a JFIF APP0 marker (default false). */
  jfif?: boolean;
  /** Write an Adobe APP14 marker with this transform byte (0 none, 1 YCbCr, 2 YCCK). */
  adobeTransform?: number;
  /** Restart interval in MCUs (default none). */
  restartInterval?: number;
  /** Leave out the DHT segment (decoders must fall back on the Annex K tables, as for Motion-JPEG). */
  omitHuffmanTables?: boolean;
}

const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55,
  62, 63,
];

// Annex K.1 (natural order).
const LUMA_Q = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87,
  80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92,
  95, 98, 112, 100, 103, 99,
];
const CHROMA_Q = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99,
];

// Annex K.3: counts of codes of each length 1..16, then the symbols.
const DC_LUMA = { counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], symbols: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] };
const DC_CHROMA = { counts: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], symbols: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] };
const AC_LUMA = {
  counts: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
  symbols: [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14,
    0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09,
    0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a,
    0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65,
    0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
    0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9,
    0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca,
    0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
    0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
  ],
};
const AC_CHROMA = {
  counts: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
  symbols: [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32,
    0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16,
    0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39,
    0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64,
    0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86,
    0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8,
    0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9,
    0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
  ],
};

type Spec = { counts: number[]; symbols: number[] };

/** Canonical codes (Annex C): code[symbol] and length[symbol] (length 0: no code). */
function codes(spec: Spec): Codes {
  const code = new Int32Array(256), length = new Int32Array(256);
  let c = 0, k = 0;
  for (let len = 1; len <= 16; len++) {
    for (let i = 0; i < spec.counts[len - 1]; i++, k++) {
      code[spec.symbols[k]] = c++;
      length[spec.symbols[k]] = len;
    }
    c <<= 1;
  }
  return { code, length };
}

function scaledQuant(base: number[], quality: number): number[] {
  const q = Math.min(100, Math.max(1, quality));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - q * 2;
  return base.map((v) => Math.min(255, Math.max(1, Math.floor((v * scale + 50) / 100))));
}

class BitWriter {
  readonly out: number[] = [];
  private acc = 0;
  private n = 0;
  write(value: number, length: number): void {
    this.acc = ((this.acc << length) | (value & ((1 << length) - 1))) & 0xffffff;
    this.n += length;
    while (this.n >= 8) {
      const byte = (this.acc >> (this.n - 8)) & 0xff;
      this.out.push(byte);
      if (byte === 0xff) this.out.push(0); // byte stuffing
      this.n -= 8;
    }
  }
  /** Pads the last byte with 1 bits. */
  align(): void {
    if (this.n > 0) this.write(0xff, 8 - this.n);
  }
}

const COS = Array.from({ length: 64 }, (_, i) => {
  const u = i >> 3, x = i & 7;
  return (u === 0 ? Math.SQRT1_2 : 1) * Math.cos(((2 * x + 1) * u * Math.PI) / 16) / 2;
});

const fdctTmp = new Float64Array(64);
/** Float forward DCT of one 8×8 block (level-shifted samples) into out, separable, F(0,0) = 8·mean. */
function fdct(block: Float64Array, out: Float64Array): void {
  const tmp = fdctTmp;
  for (let y = 0; y < 8; y++)
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let x = 0; x < 8; x++) s += block[y * 8 + x] * COS[u * 8 + x];
      tmp[y * 8 + u] = s;
    }
  for (let u = 0; u < 8; u++)
    for (let v = 0; v < 8; v++) {
      let s = 0;
      for (let y = 0; y < 8; y++) s += tmp[y * 8 + u] * COS[v * 8 + y];
      out[v * 8 + u] = s;
    }
}

type Codes = { code: Int32Array; length: Int32Array };
const category = (v: number) => (v === 0 ? 0 : 32 - Math.clz32(Math.abs(v)));
const bitsOf = (v: number, size: number) => (v >= 0 ? v : v + (1 << size) - 1);
const block = new Float64Array(64), F = new Float64Array(64), q = new Int32Array(64);

/** One 8×8 block at MCU (mx, my): level shift, FDCT, quantization, Huffman coding. Returns the DC. */
function encodeBlock(plane: Uint8Array, W: number, H: number, mx: number, my: number, quant: number[], dc: Codes, ac: Codes, pred: number, bw: BitWriter): number {
  // Edge blocks repeat the last column and row, as libjpeg's encoder pads.
  for (let y = 0; y < 8; y++)
    for (let x = 0; x < 8; x++) block[y * 8 + x] = plane[Math.min(my * 8 + y, H - 1) * W + Math.min(mx * 8 + x, W - 1)] - 128;
  fdct(block, F);
  for (let k = 0; k < 64; k++) q[k] = Math.round(F[ZIGZAG[k]] / quant[ZIGZAG[k]]);
  const diff = q[0] - pred;
  const s = category(diff);
  bw.write(dc.code[s], dc.length[s]);
  if (s) bw.write(bitsOf(diff, s), s);
  let run = 0;
  for (let k = 1; k < 64; k++) {
    if (q[k] === 0) {
      run++;
      continue;
    }
    for (; run > 15; run -= 16) bw.write(ac.code[0xf0], ac.length[0xf0]);
    const size = category(q[k]);
    const sym = (run << 4) | size;
    bw.write(ac.code[sym], ac.length[sym]);
    bw.write(bitsOf(q[k], size), size);
    run = 0;
  }
  if (run > 0) bw.write(ac.code[0], ac.length[0]);
  return q[0];
}

const segment = (marker: number, payload: number[]) => [0xff, marker, (payload.length + 2) >> 8, (payload.length + 2) & 255, ...payload];

/** Encodes the planes as one interleaved baseline scan. */
export function encodeBaselineJpeg(o: EncodeOptions): Uint8Array {
  const { width: W, height: H, planes } = o;
  const n = planes.length;
  const ids = o.ids ?? planes.map((_, i) => i + 1);
  const quality = o.quality ?? 90;
  const quant = [scaledQuant(LUMA_Q, quality), scaledQuant(CHROMA_Q, quality)];
  const tableOf = (ci: number) => (ci === 0 ? 0 : 1);
  const bytes: number[] = [0xff, 0xd8];
  if (o.jfif) bytes.push(...segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]));
  if (o.adobeTransform !== undefined) bytes.push(...segment(0xee, [0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, o.adobeTransform]));
  for (let t = 0; t < (n > 1 ? 2 : 1); t++) bytes.push(...segment(0xdb, [t, ...ZIGZAG.map((z) => quant[t][z])]));
  bytes.push(...segment(0xc0, [8, H >> 8, H & 255, W >> 8, W & 255, n, ...ids.flatMap((id, ci) => [id, 0x11, tableOf(ci)])]));
  const specs: [number, Spec][] = [[0x00, DC_LUMA], [0x10, AC_LUMA], [0x01, DC_CHROMA], [0x11, AC_CHROMA]];
  if (!o.omitHuffmanTables)
    for (const [tc, spec] of n > 1 ? specs : specs.slice(0, 2)) bytes.push(...segment(0xc4, [tc, ...spec.counts, ...spec.symbols]));
  if (o.restartInterval) bytes.push(...segment(0xdd, [o.restartInterval >> 8, o.restartInterval & 255]));
  bytes.push(...segment(0xda, [n, ...ids.flatMap((id, ci) => [id, (tableOf(ci) << 4) | tableOf(ci)]), 0, 63, 0]));

  const dcCodes = [codes(DC_LUMA), codes(DC_CHROMA)];
  const acCodes = [codes(AC_LUMA), codes(AC_CHROMA)];
  const bw = new BitWriter();
  const pred = new Array<number>(n).fill(0);
  const mcusX = Math.ceil(W / 8), mcusY = Math.ceil(H / 8);
  let mcu = 0, rst = 0;
  for (let my = 0; my < mcusY; my++)
    for (let mx = 0; mx < mcusX; mx++, mcu++) {
      if (o.restartInterval && mcu > 0 && mcu % o.restartInterval === 0) {
        bw.align();
        bw.out.push(0xff, 0xd0 + (rst++ & 7));
        pred.fill(0);
      }
      for (let ci = 0; ci < n; ci++) {
        const t = tableOf(ci);
        pred[ci] = encodeBlock(planes[ci], W, H, mx, my, quant[t], dcCodes[t], acCodes[t], pred[ci], bw);
      }
    }
  bw.align();
  return Uint8Array.from([...bytes, ...bw.out, 0xff, 0xd9]);
}
