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

/** Reads a little-endian float32 or float64, C-order .npy; errors name the file and what is wrong. */
export function decodeNpy(bytes: Uint8Array, where: string): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new Error(`${where}: not a .npy file (no \\x93NUMPY magic)`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${where}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') throw new Error(`${where}: Fortran-order arrays are not supported; save with np.ascontiguousarray`);
  const shape = shapeText.split(',').map((t) => t.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = bytes.subarray(start + headerLength);
  const copy = (n: number) => Uint8Array.from(body.subarray(0, n)).buffer;
  if (descr === '<f4') {
    if (body.length < 4 * count) throw new Error(`${where}: truncated (${body.length} data bytes for ${count} float32)`);
    return { shape, data: new Float32Array(copy(4 * count)) };
  }
  if (descr === '<f8') {
    if (body.length < 8 * count) throw new Error(`${where}: truncated (${body.length} data bytes for ${count} float64)`);
    return { shape, data: Float32Array.from(new Float64Array(copy(8 * count))) };
  }
  throw new Error(`${where}: dtype ${descr} is not supported; save float32 or float64 arrays`);
}
