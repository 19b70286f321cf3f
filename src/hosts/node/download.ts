// Resumable HTTP download with a progress callback and an md5 check, for the official Keras files.
// A partial download lives in `<dest>.part`; a cut connection resumes with a Range request; the file
// is renamed to `dest` only once its md5 matches.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { once } from 'node:events';

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
  /** Resumptions after a cut connection (default 5). */
  retries?: number;
}

export class OfflineError extends Error {
  constructor(url: string, cause: string) {
    super(`offline: cannot reach ${new URL(url).host} (${cause})`);
    this.name = 'OfflineError';
  }
}

const NETWORK_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);

function networkCode(e: unknown): string | undefined {
  const cause = (e as { cause?: { code?: string } })?.cause;
  return cause?.code && NETWORK_CODES.has(cause.code) ? cause.code : undefined;
}

export async function md5File(path: string): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function downloadWithResume(url: string, dest: string, options: DownloadOptions): Promise<{ bytes: number; seconds: number }> {
  const part = `${dest}.part`;
  const retries = options.retries ?? 5;
  const t0 = performance.now();
  let resumedFrom = existsSync(part) ? statSync(part).size : 0;
  if (resumedFrom > 0) options.onNote?.(`resuming ${part} at ${resumedFrom} bytes`);
  for (let attempt = 0; ; attempt++) {
    const start = existsSync(part) ? statSync(part).size : 0;
    let response: Response;
    try {
      response = await fetch(url, { headers: start > 0 ? { Range: `bytes=${start}-` } : {} });
    } catch (e) {
      const code = networkCode(e);
      if (code && start === 0 && attempt === 0) throw new OfflineError(url, code);
      if (attempt >= retries) throw new Error(`download of ${url} failed: ${code ?? (e instanceof Error ? e.message : e)}`);
      options.onNote?.(`connection failed (${code ?? e}); retrying`);
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      continue;
    }
    if (response.status === 416 && start > 0) break; // the part file is already complete
    if (!response.ok) throw new Error(`download of ${url} failed: HTTP ${response.status} ${response.statusText}`);
    let offset = start;
    if (start > 0 && response.status !== 206) {
      options.onNote?.('the server ignored the range request; starting over');
      truncateSync(part, 0);
      offset = 0;
      resumedFrom = 0;
    }
    const length = Number(response.headers.get('content-length'));
    const total = Number.isFinite(length) && length > 0 ? offset + length : undefined;
    const out = createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' });
    let bytes = offset;
    const sessionStart = performance.now();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        if (!out.write(chunk)) await once(out, 'drain');
        bytes += chunk.length;
        const rate = ((bytes - offset) / Math.max(1e-3, performance.now() - sessionStart)) * 1000;
        options.onProgress?.({ bytes, total, bytesPerSecond: rate, etaSeconds: total ? (total - bytes) / Math.max(rate, 1) : undefined, resumedFrom });
      }
      out.end();
      await once(out, 'finish');
    } catch (e) {
      out.end();
      await once(out, 'close').catch(() => {});
      if (attempt >= retries) throw new Error(`download of ${url} failed after ${retries} resumptions: ${e instanceof Error ? e.message : e}`);
      options.onNote?.(`connection lost at ${bytes} bytes; resuming`);
      continue;
    }
    if (total !== undefined && bytes < total) {
      if (attempt >= retries) throw new Error(`download of ${url} stopped at ${bytes} of ${total} bytes`);
      options.onNote?.(`connection closed at ${bytes} of ${total} bytes; resuming`);
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
