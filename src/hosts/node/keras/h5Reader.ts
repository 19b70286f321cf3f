// h5wasm (libhdf5 compiled to WebAssembly) behind a guard. HDF5's C library trusts a file's structure:
// on a damaged or hostile file it can loop, abort (which leaves the WebAssembly instance unusable for
// the rest of the process) or grow its heap towards 2 GB. So it runs in a worker thread that the main
// thread calls synchronously (a request on a MessagePort, Atomics.wait on a shared flag with a time
// limit, the reply taken with receiveMessageOnPort): a call that does not answer in time terminates the
// worker, an abort retires it, and its WebAssembly memory is capped (Memory.prototype.grow refuses past
// the cap, which HDF5 sees as a failed malloc). The worker also keeps HDF5's diagnostic stack, which the
// library prints to stderr on every error, and hands back its innermost line for our error message.
// Synchronous calls keep the reading code (kerasH5.ts) and its callers as they were; the worker reads
// the next slice of rows while the caller writes the last, so converting is no slower than before.
// Starting the worker (loading h5wasm) takes a few hundred milliseconds, once per process, and again
// after a file stopped it.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

/** What h5wasm's metadata says about a datatype (the fields we use). */
export interface H5TypeInfo {
  /** HDF5 class: 0 integer, 1 float, 3 string, … */
  type: number;
  size: number;
  signed?: boolean;
  littleEndian: boolean;
  vlen?: boolean;
  /** Strings: 0 ASCII, 1 UTF-8. */
  cset?: number;
}

export interface H5AttrInfo extends H5TypeInfo {
  name: string;
  shape: number[];
}

export type H5Kind = 'group' | 'dataset' | 'other';

export interface H5ReaderOptions {
  /** The longest one call into HDF5 may take (opening the file, reading a slice…). */
  timeoutMs?: number;
  /** The most the worker's WebAssembly heap may grow to. */
  maxHeapBytes?: number;
}

/** Calls into HDF5 answer in milliseconds; a 16 MiB slice from a slow disk in well under this. */
export const H5_TIMEOUT_MS = 30_000;
/**
 * Reading a Keras file needs a slice of ROW_CHUNK_BYTES (16 MiB; 32 MiB from float64), the next one read
 * ahead, and HDF5's 1 MiB chunk cache: converting VGG16 peaks at a 22 MiB heap.
 */
export const H5_MAX_HEAP_BYTES = 256 << 20;

/** How often the guard acted in this process: workers started, calls stopped at the time limit, aborts. */
const counts = { workersStarted: 0, timeouts: 0, aborts: 0 };
export const h5GuardCounts = () => ({ ...counts });

/** HDF5 on this file did something no valid file makes it do (a timeout, an abort, a crash). */
export class H5GuardError extends Error {
  override name = 'H5GuardError';
}

// Plain JavaScript, run with { eval: true } so that it needs no file of its own next to the bundle.
const WORKER_SOURCE = String.raw`
const { workerData } = require('node:worker_threads');
const { port, flag, h5wasmUrl, maxHeapBytes } = workerData;
const grow = WebAssembly.Memory.prototype.grow;
WebAssembly.Memory.prototype.grow = function (pages) {
  if (this.buffer.byteLength + pages * 65536 > maxHeapBytes) throw new RangeError('over the heap cap');
  return grow.call(this, pages);
};
// What HDF5 and emscripten print, as one text (C's stdio arrives in fragments); the last 64 kB.
let diag = '';
const keep = (...args) => { diag += args.map(String).join(' '); if (diag.length > 65536) diag = diag.slice(-32768); };
console.error = console.warn = console.log = console.info = keep;
// Emscripten's NODERAWFS writes C's stdout and stderr straight to file descriptors 1 and 2.
const fs = require('node:fs');
const writeSync = fs.writeSync;
fs.writeSync = function (fd, buffer, offset, length, ...rest) {
  if (fd !== 1 && fd !== 2) return writeSync.call(this, fd, buffer, offset, length, ...rest);
  if (typeof buffer === 'string') { keep(buffer); return Buffer.byteLength(buffer); }
  const from = offset ?? 0;
  const n = length ?? buffer.byteLength - from;
  keep(Buffer.from(buffer.buffer, buffer.byteOffset + from, n).toString('latin1'));
  return n;
};
const files = new Map();
let nextId = 1;
let h5;
const kind = (o) => (o instanceof h5.Group ? 'group' : o instanceof h5.Dataset ? 'dataset' : o ? 'other' : null);
const node = (id, path) => { const f = files.get(id); if (!f) throw new Error('file is closed'); return path === '/' ? f : f.get(path); };
const meta = (m) => ({ type: m.type, size: m.size, signed: m.signed, littleEndian: m.littleEndian, vlen: m.vlen, cset: m.cset });
const ops = {
  open: ({ file }) => { const f = new h5.File(file, 'r'); const id = nextId++; files.set(id, f); return id; },
  close: ({ id }) => { const f = files.get(id); files.delete(id); if (f) f.close(); return null; },
  get: ({ id, base, name }) => {
    // Walked a link at a time: a name missing from its group's links is absent (null) and makes no
    // HDF5 error; h5wasm's own get, asked for what is not there, calls it a group.
    const f = files.get(id);
    if (!f) throw new Error('file is closed');
    let path = base === '/' ? '' : base;
    for (const part of String(name).split('/')) {
      if (part === '' || part === '.') continue;
      const parent = path === '' ? f : f.get(path);
      if (!(parent instanceof h5.Group) || !parent.keys().includes(part)) return null;
      path = path + '/' + part;
    }
    if (path === '') return { kind: 'group', path: '/' };
    const o = f.get(path);
    return o ? { kind: kind(o), path: o.path } : null;
  },
  keys: ({ id, path }) => node(id, path).keys(),
  attrNames: ({ id, path }) => Object.keys(node(id, path).attrs),
  attrInfo: ({ id, path, name }) => { const a = node(id, path).attrs[name]; return { name, ...meta(a.metadata), shape: (a.shape ?? []).map(Number) }; },
  attr: ({ id, path, name }) => node(id, path).get_attribute(name, false),
  dataset: ({ id, path }) => { const d = node(id, path); return { shape: (d.shape ?? []).map(Number), ...meta(d.metadata) }; },
  slice: ({ id, path, start, end }) => node(id, path).slice([[start, end]]),
};
function innermost() {
  // HDF5 prints its error stack outermost first: '  #003: …/H5Ocache.c line 1234 in H5O__cache_deserialize(): bad object header version number'.
  const last = diag.split('\n').filter((l) => /^\s*#\d+:/.test(l)).at(-1);
  const m = last && /\(\):\s*(.*)$/.exec(last);
  return m ? m[1].trim() : undefined;
}
// Each reply carries its request's number, which goes into the shared flag once the reply is posted.
const answered = (seq) => {
  Atomics.store(flag, 0, seq);
  Atomics.notify(flag, 0);
};
function run(op, args) {
  diag = '';
  try {
    const value = ops[op](args);
    // h5wasm turns some failures into a value (an unreadable object's type, say): any error HDF5
    // reported during the call makes it a failure.
    const why = innermost();
    if (why) throw new Error(why);
    return { ok: true, value };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // An abort leaves the WebAssembly instance unusable: this worker answers no more.
    const fatal = e instanceof WebAssembly.RuntimeError || /^Aborted/.test(message);
    return { ok: false, message, hdf5: innermost(), fatal };
  }
}
// Rows are read in order: once a slice is answered, the next one of the same size is read while the
// main thread writes the last, and handed over if it is asked for next.
let ahead;
const sliceKey = ({ id, path, start, end }) => id + ' ' + path + ' ' + start + ' ' + end;
let broken;
port.on('message', ({ seq, op, args }) => {
  let result;
  if (broken) result = broken;
  else if (op === 'slice' && ahead && ahead.key === sliceKey(args)) result = ahead.result;
  else result = run(op, args);
  ahead = undefined;
  if (result.fatal) broken = result;
  const value = result.value;
  const transfer = result.ok && ArrayBuffer.isView(value) && value.buffer.byteLength === value.byteLength ? [value.buffer] : [];
  port.postMessage({ seq, ...result }, transfer);
  answered(seq);
  if (op === 'slice' && result.ok && !broken) {
    const { id, path, start, end } = args;
    const rows = files.has(id) ? run('dataset', { id, path }).value?.shape?.[0] : undefined;
    if (rows !== undefined && end < rows) {
      const next = { id, path, start: end, end: Math.min(rows, end + (end - start)) };
      ahead = { key: sliceKey(next), result: run('slice', next) };
      if (ahead.result.fatal) broken = ahead.result;
    }
  }
});
import(h5wasmUrl).then(
  async (m) => {
    await m.default.ready;
    h5 = m;
    port.postMessage({ seq: 1, ok: true });
    answered(1);
  },
  (e) => {
    port.postMessage({ seq: 1, ok: false, message: String(e) });
    answered(1);
  },
);
`;

interface Reply {
  seq: number;
  ok: boolean;
  value?: unknown;
  message?: string;
  hdf5?: string;
  fatal?: boolean;
}

/**
 * One worker running h5wasm; replaced when it stops answering or aborts. Requests are numbered; the
 * worker puts the number of the request it has answered into `flag`, and replies are only ever taken
 * with receiveMessageOnPort (a 'message' listener would start the port and could take one first).
 */
class H5Worker {
  readonly flag = new Int32Array(new SharedArrayBuffer(4));
  readonly worker: Worker;
  readonly port: MessagePort;
  retired = false;
  private seq = 1;

  private constructor(readonly maxHeapBytes: number) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { port: port2, flag: this.flag, h5wasmUrl: import.meta.resolve('h5wasm/node'), maxHeapBytes },
      transferList: [port2],
      // JavaScript objects h5wasm makes from what it read (strings of attributes, say) stay small.
      resourceLimits: { maxOldGenerationSizeMb: 512 },
    });
    // A worker that dies (out of memory, say) is retired; its error must not become the process's.
    this.worker.on('error', () => this.retire());
    this.worker.on('exit', () => this.retire());
    this.worker.unref();
    this.port.unref();
  }

  static async start(maxHeapBytes: number, timeoutMs: number): Promise<H5Worker> {
    const w = new H5Worker(maxHeapBytes);
    counts.workersStarted++;
    const deadline = performance.now() + timeoutMs;
    while (Atomics.load(w.flag, 0) < 1 && !w.retired && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const ready = w.reply(1);
    if (!ready?.ok) {
      w.retire();
      throw new Error(`the HDF5 reader (h5wasm) did not start (${ready?.message ?? (w.retired ? 'its worker stopped' : `not within ${timeoutMs / 1000} s`)}); reinstall the dependencies (npm ci)`);
    }
    return w;
  }

  call(op: string, args: Record<string, unknown>, timeoutMs: number): Reply {
    if (this.retired) throw new H5GuardError('the HDF5 reader was stopped by an earlier failure');
    const seq = ++this.seq;
    this.port.postMessage({ seq, op, args });
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const answered = Atomics.load(this.flag, 0);
      if (answered >= seq) break;
      const left = deadline - performance.now();
      if (left <= 0) {
        counts.timeouts++;
        this.retire();
        // Also what a worker that died mid-call looks like (its exit event cannot run while this thread waits).
        throw new H5GuardError(`HDF5 did not answer within ${timeoutMs / 1000} s (it looped on the file, or its worker died)`);
      }
      Atomics.wait(this.flag, 0, answered, left);
    }
    const reply = this.reply(seq);
    if (!reply) {
      this.retire();
      throw new H5GuardError('the HDF5 reader answered nothing');
    }
    if (reply.fatal) {
      counts.aborts++;
      this.retire();
    }
    return reply;
  }

  /** The reply to request `seq` (replies to earlier requests are dropped). */
  private reply(seq: number): Reply | undefined {
    for (;;) {
      const m = receiveMessageOnPort(this.port)?.message as Reply | undefined;
      if (!m || m.seq === seq) return m;
    }
  }

  retire(): void {
    if (this.retired) return;
    this.retired = true;
    if (shared === this) shared = undefined;
    this.port.close();
    void this.worker.terminate();
  }
}

let shared: H5Worker | undefined;
let starting: Promise<H5Worker> | undefined;

async function h5Worker(maxHeapBytes: number, timeoutMs: number): Promise<H5Worker> {
  if (shared && !shared.retired && shared.maxHeapBytes !== maxHeapBytes) shared.retire();
  if (shared && !shared.retired) return shared;
  starting ??= H5Worker.start(maxHeapBytes, Math.max(timeoutMs, 60_000)).finally(() => (starting = undefined));
  shared = await starting;
  return shared;
}

/** The first line of a message, with runs of white space as one space. */
const oneLine = (s: string) => s.split('\n').find((l) => l.trim())?.trim().replace(/\s+/g, ' ') ?? '';

/** An HDF5 file opened read-only in the guarded worker; every method is synchronous. */
export class H5Reader {
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly worker: H5Worker,
    private readonly id: number,
    private readonly timeoutMs: number,
  ) {}

  static async open(file: string, options: H5ReaderOptions = {}): Promise<H5Reader> {
    const timeoutMs = options.timeoutMs ?? H5_TIMEOUT_MS;
    const maxHeapBytes = options.maxHeapBytes ?? H5_MAX_HEAP_BYTES;
    let worker = await h5Worker(maxHeapBytes, timeoutMs);
    if (worker.retired) worker = await h5Worker(maxHeapBytes, timeoutMs);
    let reply: Reply;
    try {
      reply = worker.call('open', { file }, timeoutMs);
    } catch (e) {
      if (e instanceof H5GuardError) throw new H5GuardError(`cannot open it: ${e.message}`);
      throw e;
    }
    if (!reply.ok) throw new Error(`could not be opened as HDF5 (${describe(reply)}); is it a complete Keras .h5 file?`);
    return new H5Reader(file, worker, reply.value as number, timeoutMs);
  }

  /** `name` resolved against the group at `base` as h5wasm's Group.get resolves it; undefined if absent. */
  get(base: string, name: string): { kind: H5Kind; path: string } | undefined {
    return (this.call(`look up '${name}' in ${base}`, 'get', { base, name }) as { kind: H5Kind; path: string } | null) ?? undefined;
  }

  keys(path: string): string[] {
    return this.call(`list ${path}`, 'keys', { path }) as string[];
  }

  attrNames(path: string): string[] {
    return this.call(`list the attributes of ${path}`, 'attrNames', { path }) as string[];
  }

  attrInfo(path: string, name: string): H5AttrInfo {
    return this.call(`read attribute '${name}' of ${path}`, 'attrInfo', { path, name }) as H5AttrInfo;
  }

  /** An attribute's value as h5wasm's get_attribute(name, false) gives it. */
  attr(path: string, name: string): unknown {
    return this.call(`read attribute '${name}' of ${path}`, 'attr', { path, name });
  }

  dataset(path: string): H5TypeInfo & { shape: number[] } {
    return this.call(`read dataset ${path}`, 'dataset', { path }) as H5TypeInfo & { shape: number[] };
  }

  /** Rows [start, end) of the dataset's first axis, as h5wasm's slice gives them. */
  slice(path: string, start: number, end: number): unknown {
    return this.call(`read rows ${start}..${end} of ${path}`, 'slice', { path, start, end });
  }

  /** Never throws: a reader stopped by a failure has nothing left to close. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.worker.retired) this.worker.call('close', { id: this.id }, this.timeoutMs);
    } catch {
      // The call timed out and retired the worker, files and all.
    }
  }

  private call(what: string, op: string, args: Record<string, unknown>): unknown {
    if (this.closed) throw new Error(`${this.file}: read after close`);
    let reply: Reply;
    try {
      reply = this.worker.call(op, { id: this.id, ...args }, this.timeoutMs);
    } catch (e) {
      if (e instanceof H5GuardError) throw new H5GuardError(`cannot ${what}: ${e.message}`);
      throw e;
    }
    if (!reply.ok) throw new H5CallError(`cannot ${what} (${describe(reply)})`);
    return reply.value;
  }
}

/** HDF5 refused a call (a damaged structure, an allocation over the cap…): the reason, one line. */
export class H5CallError extends Error {
  override name = 'H5CallError';
}

function describe(reply: Reply): string {
  const msg = oneLine(reply.message ?? 'unknown error');
  return reply.hdf5 ? `HDF5: ${oneLine(reply.hdf5)}` : msg;
}
