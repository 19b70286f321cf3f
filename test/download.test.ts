// The download path against a local HTTP server on 127.0.0.1: progress, resume after a cut
// connection, checksum mismatch → error and no output; and the CLI's one-line offline message.
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadWithResume, formatProgress, type DownloadProgress } from '../src/hosts/node/download.js';

const payload = randomBytes(3_000_000);
const md5 = createHash('md5').update(payload).digest('hex');
let server: Server;
let base: string;
let dir: string;
let requests: { range?: string }[] = [];
let cutFirst = false;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gradcam-dl-'));
  server = createServer((req, res) => {
    requests.push({ range: req.headers.range });
    const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    if (start >= payload.length) {
      res.writeHead(416).end();
      return;
    }
    res.writeHead(m ? 206 : 200, { 'content-length': payload.length - start, ...(m ? { 'content-range': `bytes ${start}-${payload.length - 1}/${payload.length}` } : {}) });
    if (cutFirst && requests.length === 1) {
      // Send a third of the file, then drop the connection.
      res.write(payload.subarray(start, start + 1_000_000), () => res.socket?.destroy());
      return;
    }
    res.end(payload.subarray(start));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('downloadWithResume', () => {
  it('downloads with progress (bytes, rate, ETA) and verifies the md5', async () => {
    requests = [];
    cutFirst = false;
    const dest = join(dir, 'a.h5');
    const progress: DownloadProgress[] = [];
    await downloadWithResume(`${base}/a.h5`, dest, { md5, onProgress: (p) => progress.push(p) });
    expect(readFileSync(dest).equals(payload)).toBe(true);
    expect(existsSync(`${dest}.part`)).toBe(false);
    const last = progress.at(-1)!;
    expect(last).toMatchObject({ bytes: payload.length, total: payload.length });
    expect(last.bytesPerSecond).toBeGreaterThan(0);
    expect(formatProgress(last)).toMatch(/^ {2}3\.0 \/ 3\.0 MB {2}100% {2}[\d.]+ MB\/s {2}ETA 0:00$/);
  });

  it('resumes after the connection is cut, with a Range request', async () => {
    requests = [];
    cutFirst = true;
    const dest = join(dir, 'b.h5');
    const notes: string[] = [];
    await downloadWithResume(`${base}/b.h5`, dest, { md5, onNote: (l) => notes.push(l) });
    expect(readFileSync(dest).equals(payload)).toBe(true);
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(requests[0].range).toBeUndefined();
    expect(requests[1].range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(notes.join('\n')).toMatch(/resuming/);
  });

  it('resumes a .part file left by an earlier run', async () => {
    requests = [];
    cutFirst = false;
    const dest = join(dir, 'c.h5');
    writeFileSync(`${dest}.part`, payload.subarray(0, 1234));
    await downloadWithResume(`${base}/c.h5`, dest, { md5 });
    expect(readFileSync(dest).equals(payload)).toBe(true);
    expect(requests[0].range).toBe('bytes=1234-');
  });

  it('a checksum mismatch is an error and leaves no file', async () => {
    cutFirst = false;
    const dest = join(dir, 'd.h5');
    await expect(downloadWithResume(`${base}/d.h5`, dest, { md5: '0'.repeat(32) })).rejects.toThrow(/d\.h5: md5 [0-9a-f]{32} does not match the expected 0{32}/);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });
});

describe('npm run weights (CLI)', () => {
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', '--import', './scripts/lib/registerRaw.js', 'scripts/weights.ts', ...args], {
      env: { ...process.env, HOME: dir, XDG_CACHE_HOME: join(dir, 'cache') },
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('offline: one line that says so, how to convert a local file, and --synthetic', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const out = join(dir, 'w-offline');
    const r = await run(['--url', `http://127.0.0.1:${port}/vgg16.h5`, '--out', out]);
    expect(r.code).toBe(1);
    const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toMatch(
      /^error: offline: cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\); with a local copy of vgg16_weights_tf_dim_ordering_tf_kernels\.h5, run: npm run convert -- path\/to\/vgg16_weights_tf_dim_ordering_tf_kernels\.h5 \S+; or, for seeded random weights that run everything offline \(predictions mean nothing\): npm run weights -- --synthetic$/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a checksum mismatch: error, no converted output', async () => {
    cutFirst = false;
    const out = join(dir, 'w-bad');
    const r = await run(['--url', `${base}/vgg16.h5`, '--md5', 'f'.repeat(32), '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: .*md5 [0-9a-f]{32} does not match the expected f{32}/);
    expect(existsSync(out)).toBe(false);
  });
});
