// Headless Chromium with WebGPU (SwiftShader on machines without a GPU), driven by puppeteer-core,
// and a vite dev server on 127.0.0.1 serving the project: for the browser tests and the Chrome bench.
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { createServer, searchForWorkspaceRoot, type ViteDevServer } from 'vite';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(path)) throw new Error(`Chromium not found at ${path}: install it ('sudo apt-get install chromium') or set CHROMIUM_PATH`);
  return path;
}

/**
 * `prebundle`: dependencies to optimise before the first page load (the bench page imports TF.js
 * dynamically; found later, vite would re-optimise and reload the page mid-run). `watch: false` for
 * long runs that edits to the tree must not disturb.
 */
export async function startDevServer(options: { prebundle?: string[]; watch?: boolean } = {}): Promise<{ server: ViteDevServer; url: string }> {
  // A node_modules that is a link to another checkout's (a git worktree) resolves outside the project:
  // allowed too, or vite refuses its files (the TF.js WASM binaries, fetched by ?url, among them).
  const modules = join(PROJECT_ROOT, 'node_modules');
  const allow = [searchForWorkspaceRoot(PROJECT_ROOT), ...(existsSync(modules) ? [realpathSync(modules)] : [])];
  const server = await createServer({
    root: PROJECT_ROOT,
    configFile: false,
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, fs: { allow }, ...(options.watch === false ? { watch: null } : {}) },
    optimizeDeps: options.prebundle ? { include: options.prebundle, holdUntilCrawlEnd: true } : undefined,
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite dev server has no local URL');
  return { server, url };
}

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // A waitForFunction is one protocol call that stays open until the page is done; on a CPU adapter
    // a page of full-size work outlasts puppeteer's default 180 s, so the callers' own timeouts rule.
    protocolTimeout: 1_800_000,
    args: [
      '--enable-unsafe-webgpu',
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extraArgs,
    ],
  });
}

/**
 * Collects console errors and uncaught page errors, which tests assert to be empty. `expected404`
 * names URLs whose 404 is part of the test (the browser logs every failed fetch as an error).
 */
export function collectErrors(page: Page, expected404: RegExp[] = []): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = m.location()?.url ?? '';
    if (/status of 404/.test(m.text()) && expected404.some((r) => r.test(url))) return;
    errors.push(`${m.text()}${url ? ` (${url})` : ''}`);
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}
