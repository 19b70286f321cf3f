import { createReadStream, existsSync, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import type { Connect } from 'vite';
import { defineConfig, type Plugin } from 'vite';

// GRADCAM_WEIGHTS_DIR points the page at another directory of converted weights (tests use it).
const WEIGHTS_DIR = resolve(process.env.GRADCAM_WEIGHTS_DIR ?? resolve(__dirname, 'weights'));

/**
 * Serves the converted weights (weights/<model>/manifest.json and shards, made by `npm run weights`)
 * at /weights/… from the dev and preview servers, without copying 528 MB into the build.
 */
function serveWeights(): Plugin {
  const middleware: Connect.NextHandleFunction = (req, res, next) => {
    const path = decodeURIComponent((req.url ?? '').split('?')[0]);
    if (!path.startsWith('/weights/')) return next();
    // /weights/vgg16/manifest.json → <WEIGHTS_DIR>/vgg16/manifest.json
    const file = resolve(WEIGHTS_DIR, `.${path.slice('/weights'.length)}`);
    if (!file.startsWith(WEIGHTS_DIR + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    res.setHeader('Content-Type', file.endsWith('.json') ? 'application/json' : 'application/octet-stream');
    res.setHeader('Content-Length', statSync(file).size);
    createReadStream(file).pipe(res);
  };
  return {
    name: 'serve-weights',
    configureServer: (server) => void server.middlewares.use(middleware),
    configurePreviewServer: (server) => void server.middlewares.use(middleware),
  };
}

// The demo page lives in src/app; `npm start` builds it into dist/app and serves it.
export default defineConfig({
  root: 'src/app',
  plugins: [serveWeights()],
  build: { outDir: '../../dist/app', emptyOutDir: true, target: 'es2022' },
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
});
