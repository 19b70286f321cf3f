// The download path against a local server that misbehaves: stalls (before the answer and inside the
// body), cuts every connection, lies in Content-Length or Content-Range, ignores Range, answers 5xx or
// 404, redirects in a loop. Each ends in the right file (md5 checked) or in one line naming the URL,
// the fault and what to do, and `dest` is never a partial or damaged file.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { downloadWithResume, type DownloadOptions } from '../src/hosts/node/download.js';

const payload = randomBytes(600_000);
const md5 = createHash('md5').update(payload).digest('hex');
/** Small enough that a stall costs a fraction of a second; retries without waiting between them. */
// 1 s, not less: a loaded CI machine can hold an answer back for a few hundred milliseconds.
const FAST: Omit<DownloadOptions, 'md5'> = { idleTimeoutMs: 1000, retryDelayMs: 5 };

interface Seen {
  path: string;
  range?: string;
}
/**
 * Answers request number `n` (0-based, counted per path: each test asks for its own, so a late request
 * from an earlier test cannot shift the count) and returns true, or returns false for a correct answer.
 */
type Fault = (n: number, req: IncomingMessage, res: ServerResponse, start: number) => boolean | void;

let server: Server;
let base: string;
let dir: string;
let requests: Seen[] = [];
let fault: Fault | undefined;

/** A correct answer to a request: the whole file, or from `start` with 206 when a Range was sent. */
function head(res: ServerResponse, start: number, ranged: boolean, length = payload.length - start): void {
  res.writeHead(ranged ? 206 : 200, {
    'content-length': length,
    ...(ranged ? { 'content-range': `bytes ${start}-${payload.length - 1}/${payload.length}` } : {}),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gradcam-dl-faults-'));
  server = createServer((req, res) => {
    const path = req.url ?? '';
    requests.push({ path, range: req.headers.range });
    const n = requests.filter((r) => r.path === path).length - 1;
    const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    // One connection per request: a test never meets a pooled socket that an earlier fault left.
    res.setHeader('connection', 'close');
    if (fault?.(n, req, res, start)) return;
    if (start >= payload.length) return void res.writeHead(416).end();
    head(res, start, Boolean(m));
    res.end(payload.subarray(start));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Node loads its fetch on first use, which can take longer than a test's idle timeout.
  await (await fetch(`${base}/warm-up`)).arrayBuffer();
});

/** The Range headers of the requests for `path`, in order. */
const rangesOf = (path: string) => requests.filter((r) => r.path === path).map((r) => r.range);

beforeEach(() => {
  requests = [];
  fault = undefined;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** dest holds the payload and no part file is left. */
function expectComplete(dest: string): void {
  expect(readFileSync(dest).equals(payload)).toBe(true);
  expect(existsSync(`${dest}.part`)).toBe(false);
}

describe('downloads under faults', () => {
  it('a stall inside the body: one line with the byte count and how to resume, the .part kept; a second run resumes it', async () => {
    fault = (n, _req, res, start) => {
      if (n > 0) return false;
      head(res, start, false);
      res.write(payload.subarray(0, 200_000)); // then nothing, with the socket open
      return true;
    };
    const dest = join(dir, 'stall.h5');
    const error = await downloadWithResume(`${base}/stall.h5`, dest, { md5, ...FAST, retries: 0 }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(
      `download of ${base}/stall.h5 failed: stalled at 200000 bytes (no data for 1 s); 200000 bytes are kept in ${dest}.part: run the same command again to resume`,
    );
    expect(existsSync(dest)).toBe(false);
    expect(statSync(`${dest}.part`).size).toBe(200_000);
    const notes: string[] = [];
    await downloadWithResume(`${base}/stall.h5`, dest, { md5, ...FAST, onNote: (l) => notes.push(l) });
    expectComplete(dest);
    expect(rangesOf('/stall.h5')).toEqual([undefined, 'bytes=200000-']);
    expect(notes[0]).toBe(`resuming ${dest}.part at 200000 bytes`);
  });

  it('a stall before the answer is retried on a new connection', async () => {
    fault = (n) => n === 0; // the first request never gets an answer
    const dest = join(dir, 'slow.h5');
    const notes: string[] = [];
    await downloadWithResume(`${base}/slow.h5`, dest, { md5, ...FAST, onNote: (l) => notes.push(l) });
    expectComplete(dest);
    expect(rangesOf('/slow.h5')).toHaveLength(2);
    expect(notes[0]).toMatch(/^no answer for 1 s; retrying in 0\.0 s$/);
  });

  it('a server that cuts every connection after 64 kB: followed to the end (more cuts than retries), md5 right', async () => {
    fault = (_n, req, res, start) => {
      head(res, start, Boolean(req.headers.range));
      res.write(payload.subarray(start, start + 65_536), () => res.socket?.destroy());
      return true;
    };
    const dest = join(dir, 'cut.h5');
    await downloadWithResume(`${base}/cut.h5`, dest, { md5, ...FAST, retries: 2 });
    expectComplete(dest);
    const ranges = rangesOf('/cut.h5');
    expect(ranges.length).toBeGreaterThan(9);
    // Each resumes where the last stopped (a cut socket may drop the tail of what was written to it).
    const starts = ranges.slice(1).map((r) => Number(/^bytes=(\d+)-$/.exec(r ?? '')?.[1]));
    expect(starts.every((s, i) => s >= (starts[i - 1] ?? 1) && s <= (i + 1) * 65_536)).toBe(true);
  });

  it('a Content-Length longer than the body (connection then closed or left idle): resumed, md5 right', async () => {
    for (const close of [true, false]) {
      fault = (n, _req, res) => {
        if (n > 0) return false;
        head(res, 0, false, payload.length + 1000);
        // A graceful close (FIN): a destroyed socket may drop the tail of the body.
        res.write(payload, () => close && res.socket?.end());
        return true;
      };
      const dest = join(dir, `long-${close}.h5`);
      await downloadWithResume(`${base}/long-${close}.h5`, dest, { md5, ...FAST });
      expectComplete(dest);
      const ranges = rangesOf(`/long-${close}.h5`);
      expect(ranges).toHaveLength(2);
      const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
      // Left idle, every byte was read before the timeout, and the resumption gets a 416. Closed, the
      // bytes fetch had queued but not handed over when the connection failed are lost, and resumed.
      if (close) expect(resumedAt).toBeGreaterThan(0);
      expect(resumedAt).toBeLessThanOrEqual(payload.length);
      if (!close) expect(resumedAt).toBe(payload.length);
    }
  });

  it('a Content-Length shorter than the body: the md5 catches the cut file, nothing left behind', async () => {
    fault = (_n, _req, res) => {
      head(res, 0, false, payload.length - 1000);
      res.end(payload);
      return true;
    };
    const dest = join(dir, 'short.h5');
    await expect(downloadWithResume(`${base}/short.h5`, dest, { md5, ...FAST })).rejects.toThrow(
      new RegExp(`^${dest.replace(/[.\\/]/g, '\\$&')}: md5 [0-9a-f]{32} does not match the expected ${md5}; .*run again to download afresh$`),
    );
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('a Range ignored (200) or answered from another offset (206): the part file starts over, md5 right', async () => {
    for (const kind of ['200', '206'] as const) {
      let misanswered = false;
      fault = (_n, req, res, start) => {
        if (!req.headers.range) {
          // Cut after 100 kB, so that the next request asks for a range.
          head(res, 0, false);
          res.write(payload.subarray(0, 100_000), () => res.socket?.destroy());
          return true;
        }
        if (misanswered) return false;
        misanswered = true;
        if (kind === '200') {
          head(res, 0, false);
          res.end(payload);
        } else {
          res.writeHead(206, { 'content-length': payload.length - start + 10, 'content-range': `bytes ${start - 10}-${payload.length - 1}/${payload.length}` });
          res.end(payload.subarray(start - 10));
        }
        return true;
      };
      const dest = join(dir, `range-${kind}.h5`);
      const notes: string[] = [];
      await downloadWithResume(`${base}/range-${kind}.h5`, dest, { md5, ...FAST, onNote: (l) => notes.push(l) });
      expectComplete(dest);
      const note = notes.find((l) => l.includes('starting over')) ?? notes.join('\n');
      if (kind === '200') expect(note).toBe('the server ignored the range request; starting over');
      else {
        const [, from, asked] = /^the server sent bytes from (\d+), not (\d+); starting over$/.exec(note) ?? [];
        expect(Number(asked) - Number(from), note).toBe(10);
      }
    }
  });

  it('HTTP 500: retried with backoff, then the file; always 500: one line with the status and the URL', async () => {
    fault = (n, _req, res) => n < 2 && (res.writeHead(500).end(), true);
    const dest = join(dir, 'flaky.h5');
    const notes: string[] = [];
    await downloadWithResume(`${base}/flaky.h5`, dest, { md5, ...FAST, onNote: (l) => notes.push(l) });
    expectComplete(dest);
    expect(notes).toEqual(['HTTP 500 Internal Server Error; retrying in 0.0 s', 'HTTP 500 Internal Server Error; retrying in 0.0 s']);

    fault = (_n, _req, res) => (res.writeHead(503).end(), true);
    const down = join(dir, 'down.h5');
    await expect(downloadWithResume(`${base}/down.h5`, down, { md5, ...FAST, retries: 2 })).rejects.toThrow(
      `download of ${base}/down.h5 failed: HTTP 503 Service Unavailable (2 retries without progress)`,
    );
    expect(rangesOf('/down.h5')).toHaveLength(3);
    expect(existsSync(down)).toBe(false);
    expect(existsSync(`${down}.part`)).toBe(false);
  });

  it('HTTP 404: at once, one line with the status and the URL, no file', async () => {
    fault = (_n, _req, res) => (res.writeHead(404).end(), true);
    const dest = join(dir, 'missing.h5');
    await expect(downloadWithResume(`${base}/missing.h5`, dest, { md5, ...FAST })).rejects.toThrow(`download of ${base}/missing.h5 failed: HTTP 404 Not Found; check the URL`);
    expect(rangesOf('/missing.h5')).toHaveLength(1);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('a redirect loop: fetch gives up after 20 redirects, we say so in one line, no file', async () => {
    fault = (_n, _req, res) => (res.writeHead(302, { location: '/loop.h5' }).end(), true);
    const dest = join(dir, 'loop.h5');
    await expect(downloadWithResume(`${base}/loop.h5`, dest, { md5, ...FAST })).rejects.toThrow(
      `download of ${base}/loop.h5 failed: more than 20 redirects, the server redirects in a loop; check the URL`,
    );
    expect(rangesOf('/loop.h5')).toHaveLength(21);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('a part file that cannot be written: names it and says what to do, not retried as a network fault', async () => {
    const dest = join(dir, 'no-such-dir', 'x.h5');
    await expect(downloadWithResume(`${base}/x.h5`, dest, { md5, ...FAST })).rejects.toThrow(
      `${dest}.part: cannot write (ENOENT: no such file or directory, open '${dest}.part'); free some space or choose another directory, then run again to resume`,
    );
    expect(rangesOf('/x.h5')).toHaveLength(1);
  });
});
