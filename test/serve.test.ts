// What `npm run dev` and `npm start` serve, asked of the running servers (vite.config.ts as the project
// uses it) with raw HTTP requests whose paths go out verbatim, so that `..`, `%2e%2e`, `%2f` and
// backslashes reach the server un-normalised: both listen on 127.0.0.1 only; both serve the pages and
// the weights directory, also through a symlink that stays inside it; neither serves anything outside
// it or outside the project's public files (symlinks in weights/ pointing out, encoded traversals,
// absolute paths, /@fs/). The plain listing and traversal checks are in browser-weights.test.ts.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request, createServer as createHttpServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, preview, type PreviewServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const configFile = join(PROJECT_ROOT, 'vite.config.ts');
const dir = mkdtempSync(join(tmpdir(), 'gradcam-serve-'));
/** In every file outside what may be served: no answer may contain it. */
const SECRET = `secret-${randomBytes(8).toString('hex')}`;
const SHARD = 'shard bytes\n';
let dev: ViteDevServer;
let previewServer: PreviewServer;
const savedWeightsDir = process.env.GRADCAM_WEIGHTS_DIR;

beforeAll(async () => {
  writeFileSync(join(dir, 'secret.txt'), SECRET);
  mkdirSync(join(dir, 'elsewhere'));
  writeFileSync(join(dir, 'elsewhere', 'manifest.json'), JSON.stringify({ model: SECRET }));
  // weights/ is itself a symlink (to weights-real/): the root's real path is what the checks compare with.
  const real = join(dir, 'weights-real');
  mkdirSync(join(real, 'm'), { recursive: true });
  writeFileSync(join(real, 'm', 'manifest.json'), JSON.stringify({ model: 'm', shards: [{ bytes: SHARD.length }] }));
  writeFileSync(join(real, 'm', 'shard.bin'), SHARD);
  symlinkSync('shard.bin', join(real, 'm', 'alias.bin')); // inside: served
  symlinkSync(join(dir, 'secret.txt'), join(real, 'm', 'evil.bin')); // a file outside
  symlinkSync(dir, join(real, 'outside')); // a directory outside
  symlinkSync(join(dir, 'elsewhere'), join(real, 'ext')); // a "model" outside
  writeFileSync(join(real, 'm', '.hidden'), SECRET);
  symlinkSync(real, join(dir, 'weights'));
  // The preview serves dist/app; a stand-in page keeps the test from building the real one.
  mkdirSync(join(dir, 'dist'));
  writeFileSync(join(dir, 'dist', 'index.html'), '<!doctype html><title>public page</title>');
  // vite.config.ts reads it when it is loaded, by each server below.
  process.env.GRADCAM_WEIGHTS_DIR = join(dir, 'weights');
  dev = await createServer({
    configFile,
    logLevel: 'silent',
    // Only what a test must not wait for is turned off: no file watching, no dependency pre-bundling.
    server: { port: 0, strictPort: false, hmr: false, watch: null },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await dev.listen();
  previewServer = await preview({ configFile, logLevel: 'silent', build: { outDir: join(dir, 'dist') }, preview: { port: 0, strictPort: false } });
}, 60_000);

afterAll(async () => {
  await dev?.close();
  await new Promise<void>((r) => (previewServer ? previewServer.httpServer.close(() => r()) : r()));
  if (savedWeightsDir === undefined) delete process.env.GRADCAM_WEIGHTS_DIR;
  else process.env.GRADCAM_WEIGHTS_DIR = savedWeightsDir;
  rmSync(dir, { recursive: true, force: true });
});

const addressOf = (s: { address(): AddressInfo | string | null } | null | undefined) => s!.address() as AddressInfo;

/** GET with the path sent as written (fetch and new URL would resolve '..' and '%2e%2e' first). */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Whether a TCP connection to address:port opens: 'open', or the error code. */
function probe(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => (socket.destroy(), resolve('open')));
    socket.once('timeout', () => (socket.destroy(), resolve('timeout')));
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

// Paths outside the weights directory and the project's public files, with the status each server
// gives: 404 from the weights plugin and the static files, 403 from the dev server's /@fs/ guard.
const outside = (project: string) => [
  '/weights/../secret.txt',
  '/weights/%2e%2e/secret.txt',
  '/weights/%2E%2E/secret.txt',
  '/weights/m/%2e%2e/%2e%2e/secret.txt',
  '/weights/..%2fsecret.txt',
  '/weights/m/..%2f..%2f..%2fsecret.txt',
  '/weights/..\\secret.txt',
  '/weights/%5c..%5csecret.txt',
  '/weights//etc/passwd',
  '/weights/%2fetc%2fpasswd',
  `/weights/${encodeURIComponent(join(dir, 'secret.txt'))}`,
  '/weights/m/evil.bin', // symlink to a file outside
  '/weights/outside/secret.txt', // symlink to a directory outside
  '/weights/ext/manifest.json', // a model directory outside
  '/weights/m/.hidden',
  '/weights/m/shard.bin%00.json',
  '//etc/passwd',
  `/${dir}/secret.txt`,
  '/../../../../../etc/passwd',
  '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
  '/..%2f..%2f..%2f..%2f..%2fetc/passwd',
  '/src/../../package.json',
  '/@fs/etc/passwd',
  `/@fs${dir}/secret.txt`,
  `/@fs${dir}/weights/m/evil.bin`,
  `/@fs${project}/package.json`,
  `/@fs${project}/src/%2e%2e/package.json`,
  `/@fs${project}/src/../package.json`,
];

describe('npm run dev and npm start (vite.config.ts)', () => {
  it('listen on 127.0.0.1 only: not reachable at this machine’s other addresses', async () => {
    const servers = { dev: addressOf(dev.httpServer), preview: addressOf(previewServer.httpServer) };
    expect(servers.dev.address).toBe('127.0.0.1');
    expect(servers.preview.address).toBe('127.0.0.1');
    expect(dev.config.server.host).toBe('127.0.0.1');
    expect(previewServer.config.preview.host).toBe('127.0.0.1');
    const external = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && !a.internal && a.family === 'IPv4')
      .map((a) => a!.address);
    // A server on 0.0.0.0 is reachable at those addresses: the probe would see an exposed server.
    const control = createHttpServer((_q, s) => s.end());
    await new Promise<void>((r) => control.listen(0, '0.0.0.0', r));
    try {
      for (const host of external) {
        expect(await probe(host, addressOf(control).port), `control server at ${host}`).toBe('open');
        for (const [name, a] of Object.entries(servers)) expect(await probe(host, a.port), `${name} at ${host}:${a.port}`).toBe('ECONNREFUSED');
      }
    } finally {
      await new Promise((r) => control.close(r));
    }
    for (const [name, a] of Object.entries(servers)) expect(await probe('127.0.0.1', a.port), name).toBe('open');
  });

  it.each([
    ['dev', () => addressOf(dev.httpServer).port],
    ['preview', () => addressOf(previewServer.httpServer).port],
  ] as const)('%s: serves the page and the weights (a symlink inside weights/ too), nothing outside', async (name, port) => {
    const p = port();
    const page = await get(p, '/');
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<!doctype html>/i);
    const index = await get(p, '/weights/index.json');
    expect(index.status).toBe(200);
    // ext/ (outside, through a symlink) is not listed: its files would be refused.
    expect(JSON.parse(index.body)).toEqual({ models: { m: { manifest: 'm/manifest.json', model: 'm', shards: 1, bytes: SHARD.length, synthetic: false } } });
    expect(await get(p, '/weights/m/shard.bin')).toEqual({ status: 200, body: SHARD });
    expect(await get(p, '/weights/m/alias.bin')).toEqual({ status: 200, body: SHARD });
    expect((await get(p, '/nothing-here')).status).toBe(404);
    if (name === 'dev') {
      // The dev server reaches what the page imports outside its root (src/app): sources, data/.
      expect((await get(p, `/@fs${PROJECT_ROOT}/data/imagenet_class_index.json`)).status).toBe(200);
      expect((await get(p, `/@fs${PROJECT_ROOT}/src/engine/imagenet.ts`)).status).toBe(200);
    }
    const refused: string[] = [];
    for (const path of outside(PROJECT_ROOT)) {
      const r = await get(p, path);
      const expected = name === 'dev' && path.startsWith('/@fs/') ? 403 : 404;
      if (r.status !== expected || r.body.includes(SECRET) || /root:.*:0:0:/.test(r.body) || r.body.includes('"name": "gradcam-webgpu"'))
        refused.push(`${path} → ${r.status} (expected ${expected}) ${JSON.stringify(r.body.slice(0, 60))}`);
    }
    expect(refused).toEqual([]);
  });
});
