// NumPy .npy files (format 1.0/2.0): float32 writing, float32/float64 C-order reading.
/** A float32 C-order .npy (format 1.0), as numpy.save writes it. */
export function encodeNpy(data: Float32Array, shape: number[]): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, ...new TextEncoder().encode('NUMPY'), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export interface NpyArray {
  shape: number[];
  /** Converted to float32 if stored as float64. */
  data: Float32Array;
}

/** Header text for an error message: one line, at most 120 characters. */
const shownHeader = (h: string) => {
  const s = JSON.stringify(h.trim()).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
  return s.length > 120 ? `${s.slice(0, 119)}…` : s;
};

/**
 * Reads a little-endian float32 or float64, C-order .npy (format 1.0, 2.0 or 3.0); errors name the file
 * and what is wrong. The header is checked before anything is allocated: its length against the file,
 * every dimension a non-negative integer, the data as long as the shape says.
 */
export function decodeNpy(bytes: Uint8Array, where: string): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new Error(`${where}: not a .npy file (no \\x93NUMPY magic)`);
  const major = bytes[6];
  if (major < 1 || major > 3) throw new Error(`${where}: .npy format version ${major}.${bytes[7]} is not supported (1.0 to 3.0 exist); save it with numpy.save`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const start = major === 1 ? 10 : 12;
  if (bytes.length < start) throw new Error(`${where}: truncated inside the .npy header (${bytes.length} bytes)`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (start + headerLength > bytes.length)
    throw new Error(`${where}: truncated: the .npy header says it is ${headerLength} bytes long, the file ends ${bytes.length - start} bytes after its start`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${where}: unreadable .npy header ${shownHeader(header)}`);
  if (fortran === 'True') throw new Error(`${where}: Fortran-order arrays are not supported; save with np.ascontiguousarray`);
  // numpy writes each dimension as a decimal integer ('3', or '3L' from Python 2), a 1-tuple with a comma.
  const dims = shapeText.trim() === '' ? [] : shapeText.split(',').map((t) => t.trim());
  if (dims.length > 1 && dims.at(-1) === '') dims.pop();
  if (dims.some((t) => !/^\d+L?$/.test(t)))
    throw new Error(`${where}: .npy header has shape ${shownHeader(`(${shapeText})`)}: every dimension must be a non-negative integer`);
  const shape = dims.map((t) => Number.parseInt(t, 10));
  const count = shape.reduce((a, b) => a * b, 1);
  const size = descr === '<f4' ? 4 : descr === '<f8' ? 8 : 0;
  if (!size) throw new Error(`${where}: dtype ${shownHeader(descr)} is not supported; save float32 or float64 arrays`);
  const body = bytes.subarray(start + headerLength);
  if (!Number.isSafeInteger(count * size) || body.length < size * count)
    throw new Error(`${where}: truncated (${body.length} data bytes for ${shape.length ? shape.join('×') : 'one'} ${size === 4 ? 'float32' : 'float64'})`);
  const copy = (n: number) => Uint8Array.from(body.subarray(0, n)).buffer;
  return size === 4 ? { shape, data: new Float32Array(copy(4 * count)) } : { shape, data: Float32Array.from(new Float64Array(copy(8 * count))) };
}
