// The vite plugin that serves converted weights (weights/<model>/manifest.json and shards, made by
// `npm run weights`) at /weights/… from the dev and preview servers, without copying 528 MB into the
// build, plus /weights/index.json: which models are there, so that a page can learn that a model is
// missing without requesting its manifest (a 404 is logged as a console error by every browser).
import { createReadStream, existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join, resolve, sep } from 'node:path';
import type { Connect, Plugin } from 'vite';
// Types only: the page's servedWeights() reads what this writes.
import type { ServedModel, WeightsIndex } from '../../src/hosts/browser/weights.js';

export const WEIGHTS_ROUTE = '/weights/';
export const WEIGHTS_INDEX = 'index.json';

interface ManifestLike {
  model?: unknown;
  shards?: { bytes?: unknown }[];
  source?: { synthetic?: unknown };
}

/**
 * Every subdirectory of `dir` holding a manifest.json. A manifest that does not parse is still listed
 * (without its details): the loader then reports what is wrong with it and how to fix it, which says
 * more than "no weights". A missing `dir` gives `{ models: {} }`.
 */
export function weightsIndex(dir: string): WeightsIndex {
  const models: Record<string, ServedModel> = {};
  if (!existsSync(dir)) return { models };
  for (const name of readdirSync(dir).sort()) {
    // A model whose manifest the server would refuse (see weightsFile) is not listed either.
    const manifestPath = /^[\w.-]+$/.test(name) ? weightsFile(dir, `${name}/manifest.json`) : undefined;
    if (!manifestPath) continue;
    const entry: ServedModel = { manifest: `${name}/manifest.json` };
    try {
      const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as ManifestLike;
      if (typeof m.model === 'string') entry.model = m.model;
      if (Array.isArray(m.shards)) {
        entry.shards = m.shards.length;
        entry.bytes = m.shards.reduce((n, s) => n + (typeof s.bytes === 'number' ? s.bytes : 0), 0);
      }
      entry.synthetic = m.source?.synthetic === true;
    } catch {
      // Listed without details; see above.
    }
    models[name] = entry;
  }
  return { models };
}

/**
 * The file that `relative` (a decoded path below /weights/, '/'-separated) names under `root`, or
 * undefined: every segment a plain name (no '', '.', '..' or other leading dot, no backslash or NUL),
 * and the real path, symlinks followed, a regular file inside root's real path. A symlink inside the
 * weights directory may point to another file there, never outside it.
 */
export function weightsFile(root: string, relative: string): string | undefined {
  const segments = relative.split('/');
  if (segments.some((s) => s === '' || s.startsWith('.') || /[\\\0]/.test(s))) return undefined;
  try {
    const real = realpathSync(join(root, ...segments));
    return real.startsWith(realpathSync(root) + sep) && statSync(real).isFile() ? real : undefined;
  } catch {
    return undefined; // missing, a dangling link, or removed meanwhile
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-cache');
  res.end(body);
}

/**
 * `dir` holds one directory per model (default: $GRADCAM_WEIGHTS_DIR or ./weights). Only files inside
 * it are served (see weightsFile); anything else under /weights/ is a 404, whatever the encoding.
 */
export function serveWeights(dir: string = process.env.GRADCAM_WEIGHTS_DIR ?? 'weights'): Plugin {
  const root = resolve(dir);
  const middleware: Connect.NextHandleFunction = (req, res, next) => {
    const raw = (req.url ?? '').split('?')[0];
    if (!raw.startsWith(WEIGHTS_ROUTE)) return next();
    let path: string;
    try {
      path = decodeURIComponent(raw);
    } catch {
      return send(res, 400, 'text/plain', 'bad URL');
    }
    // Always 200, listing what is there now (a directory converted while the server runs shows up).
    if (path === WEIGHTS_ROUTE + WEIGHTS_INDEX) return send(res, 200, 'application/json', JSON.stringify(weightsIndex(root)));
    // /weights/vgg16/manifest.json → <root>/vgg16/manifest.json
    const file = weightsFile(root, path.slice(WEIGHTS_ROUTE.length));
    if (!file) return send(res, 404, 'text/plain', 'not found');
    // Removed since weightsFile looked (a conversion replacing the directory): gone, not a server error.
    const stat = statSync(file, { throwIfNoEntry: false });
    if (!stat?.isFile()) return send(res, 404, 'text/plain', 'not found');
    const json = path.endsWith('.json');
    res.setHeader('Content-Type', json ? 'application/json' : 'application/octet-stream');
    res.setHeader('Content-Length', stat.size);
    // The manifest must be revalidated (a re-conversion changes it); shards are cached by the page
    // itself in Cache Storage, keyed by their sha256.
    if (json) res.setHeader('Cache-Control', 'no-cache');
    if (req.method === 'HEAD') return void res.end();
    // 1 MiB reads instead of the 64 kB default: fewer, larger socket writes (a first visit in Chromium
    // measured 56 → 61 MB/s with scripts/benchWeights.ts).
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('error', () => res.destroy())
      .pipe(res);
  };
  return {
    name: 'serve-weights',
    configureServer: (server) => void server.middlewares.use(middleware),
    configurePreviewServer: (server) => void server.middlewares.use(middleware),
  };
}
