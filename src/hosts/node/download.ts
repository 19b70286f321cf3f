// Resumable HTTP download with a progress callback and an md5 check, for the official Keras files.
// A partial download lives in `<dest>.part`; a cut connection, a stall (no byte for `idleTimeoutMs`)
// or a 5xx answer resumes with a Range request; the file is renamed to `dest` only once its md5
// matches, so `dest` is never a partial or damaged file whatever the server does.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';

export interface DownloadProgress {
  bytes: number;
  /** Undefined when the server does not say. */
  total?: number;
  bytesPerSecond: number;
  etaSeconds?: number;
  resumedFrom: number;
}

export interface DownloadOptions {
  md5: string;
  onProgress?: (p: DownloadProgress) => void;
  /** Messages such as "connection lost, resuming". */
  onNote?: (line: string) => void;
  /**
   * Tries after a cut connection, a stall or a 5xx answer, counted since the last byte received: a
   * server that keeps cutting the connection but sends something each time is followed to the end
   * (default 5).
   */
  retries?: number;
  /** No byte for this long, waiting for the answer or inside the body, aborts the request (default 30 000 ms). */
  idleTimeoutMs?: number;
  /** Wait before the first retry that follows a try with no byte received; doubles each time (default 500 ms). */
  retryDelayMs?: number;
}

export class OfflineError extends Error {
  constructor(url: string, cause: string) {
    super(`offline: cannot reach ${new URL(url).host} (${cause})`);
    this.name = 'OfflineError';
  }
}

const NETWORK_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** undici's error for a chain of redirects longer than fetch's limit (20). */
const REDIRECT_LOOP = /redirect count exceeded/;

function networkCode(e: unknown): string | undefined {
  const cause = (e as { cause?: { code?: string } })?.cause;
  return cause?.code && NETWORK_CODES.has(cause.code) ? cause.code : undefined;
}

/** fetch says "fetch failed" or "terminated"; what happened is in its cause. */
function reason(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.message) return cause.code ? `${cause.message}, ${cause.code}` : cause.message;
  return e instanceof Error ? e.message : String(e);
}

export async function md5File(path: string): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** An AbortSignal that fires once `ms` pass without a call to `poke`. */
function idleSignal(ms: number): { signal: AbortSignal; poke(): void; pause(): void } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const pause = () => clearTimeout(timer);
  const poke = () => {
    pause();
    timer = setTimeout(() => controller.abort(new Error(`no data for ${ms / 1000} s`)), ms);
  };
  poke();
  return { signal: controller.signal, poke, pause };
}

/** `bytes 100-199/1000` → { first: 100, total: 1000 }; total undefined for `*`. */
function contentRange(header: string | null): { first: number; total?: number } | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header?.trim() ?? '');
  return m ? { first: Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) } : undefined;
}

const sizeOf = (path: string) => (existsSync(path) ? statSync(path).size : 0);

export async function downloadWithResume(url: string, dest: string, options: DownloadOptions): Promise<{ bytes: number; seconds: number }> {
  const part = `${dest}.part`;
  const retries = options.retries ?? 5;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const t0 = performance.now();
  let resumedFrom = sizeOf(part);
  if (resumedFrom > 0) options.onNote?.(`resuming ${part} at ${resumedFrom} bytes`);
  // Ends every message of a failure that leaves bytes on disk: they are not lost.
  const kept = () => {
    const n = sizeOf(part);
    return n > 0 ? `; ${n} bytes are kept in ${part}: run the same command again to resume` : '';
  };
  // Tries in a row that received nothing; a try that received bytes starts the count again at 1.
  let failures = 0;
  const retryOrThrow = async (what: string, progressed: boolean) => {
    failures = progressed ? 1 : failures + 1;
    if (failures > retries) throw new Error(`download of ${url} failed: ${what}${retries > 0 ? ` (${retries} ${retries === 1 ? 'retry' : 'retries'} without progress)` : ''}${kept()}`);
    const delay = progressed ? 0 : retryDelayMs * 2 ** (failures - 1);
    options.onNote?.(`${what}; ${delay ? `retrying in ${(delay / 1000).toFixed(1)} s` : 'resuming'}`);
    if (delay) await new Promise((r) => setTimeout(r, delay));
  };

  for (let attempt = 0; ; attempt++) {
    const start = sizeOf(part);
    const idle = idleSignal(idleTimeoutMs);
    let response: Response;
    try {
      response = await fetch(url, { headers: start > 0 ? { Range: `bytes=${start}-` } : {}, signal: idle.signal });
    } catch (e) {
      idle.pause();
      if (!idle.signal.aborted) {
        if (REDIRECT_LOOP.test(reason(e))) throw new Error(`download of ${url} failed: more than 20 redirects, the server redirects in a loop; check the URL${kept()}`);
        const code = networkCode(e);
        if (code && attempt === 0) throw new OfflineError(url, code);
      }
      await retryOrThrow(idle.signal.aborted ? `no answer for ${idleTimeoutMs / 1000} s` : `connection failed (${reason(e)})`, false);
      continue;
    }
    if (response.status === 416 && start > 0) {
      // The part file is already complete (or longer than the file: then the md5 below says so).
      idle.pause();
      await response.body?.cancel().catch(() => {});
      break;
    }
    if (!response.ok) {
      idle.pause();
      await response.body?.cancel().catch(() => {});
      const what = `HTTP ${response.status} ${response.statusText}`.trim();
      // Server errors, timeouts and rate limits pass; anything else (404, 403, 410…) will not.
      if (response.status >= 500 || response.status === 408 || response.status === 429) {
        await retryOrThrow(what, false);
        continue;
      }
      throw new Error(`download of ${url} failed: ${what}; check the URL${kept()}`);
    }
    let offset = start;
    const range = response.status === 206 ? contentRange(response.headers.get('content-range')) : undefined;
    if (start > 0 && range?.first !== start) {
      // A 200 (range ignored), or a 206 for other bytes than asked: appending would corrupt the file.
      options.onNote?.(response.status === 206 ? `the server sent bytes from ${range?.first ?? '?'}, not ${start}; starting over` : 'the server ignored the range request; starting over');
      truncateSync(part, 0);
      if (response.status === 206) {
        idle.pause();
        await response.body?.cancel().catch(() => {});
        await retryOrThrow('unusable range answer', false);
        continue;
      }
      offset = 0;
      resumedFrom = 0;
    }
    const length = Number(response.headers.get('content-length'));
    const total = range?.total ?? (Number.isFinite(length) && length > 0 ? offset + length : undefined);
    const out = createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' });
    let writeError: Error | undefined;
    out.on('error', (e) => (writeError ??= e));
    let bytes = offset;
    const sessionStart = performance.now();
    try {
      for await (const chunk of (response.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
        idle.poke();
        if (writeError) throw writeError;
        if (!out.write(chunk)) {
          // A slow disk is not a stalled server.
          idle.pause();
          await once(out, 'drain');
          idle.poke();
        }
        bytes += chunk.length;
        const rate = ((bytes - offset) / Math.max(1e-3, performance.now() - sessionStart)) * 1000;
        options.onProgress?.({ bytes, total, bytesPerSecond: rate, etaSeconds: total ? (total - bytes) / Math.max(rate, 1) : undefined, resumedFrom });
      }
      idle.pause();
      out.end();
      await finished(out);
    } catch (e) {
      idle.pause();
      // What arrived is kept: flushed into the part file for the next try.
      out.end();
      await finished(out).catch(() => {});
      if (writeError) throw new Error(`${part}: cannot write (${writeError.message}); free some space or choose another directory, then run again to resume`);
      const what = idle.signal.aborted ? `stalled at ${bytes} bytes (no data for ${idleTimeoutMs / 1000} s)` : `connection lost at ${bytes} bytes (${reason(e)})`;
      // Progress is growth of the part file past where this try began: a server that ignores ranges and
      // cuts every connection restarts from 0 each time, and must not count as progressing for ever.
      await retryOrThrow(what, bytes > start);
      continue;
    }
    if (total !== undefined && bytes < total) {
      await retryOrThrow(`connection closed at ${bytes} of ${total} bytes`, bytes > start);
      continue;
    }
    break;
  }
  const md5 = await md5File(part);
  if (md5 !== options.md5) {
    rmSync(part, { force: true });
    throw new Error(`${dest}: md5 ${md5} does not match the expected ${options.md5}; the download was damaged or the file changed upstream. The partial file was removed; run again to download afresh`);
  }
  renameSync(part, dest);
  return { bytes: statSync(dest).size, seconds: (performance.now() - t0) / 1000 };
}

const MB = 1e6;

/** "  123.4 / 553.5 MB  22%  12.3 MB/s  ETA 0:35" */
export function formatProgress(p: DownloadProgress): string {
  const eta = p.etaSeconds === undefined ? '' : `  ETA ${Math.floor(p.etaSeconds / 60)}:${String(Math.floor(p.etaSeconds % 60)).padStart(2, '0')}`;
  const of = p.total ? ` / ${(p.total / MB).toFixed(1)} MB  ${Math.floor((100 * p.bytes) / p.total)}%` : ' MB';
  return `  ${(p.bytes / MB).toFixed(1)}${of}  ${(p.bytesPerSecond / MB).toFixed(1)} MB/s${eta}`;
}
