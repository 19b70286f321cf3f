import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import { serveWeights } from './scripts/lib/serveWeights.js';

// GRADCAM_WEIGHTS_DIR points the page at another directory of converted weights (tests use it); the
// plugin serves them at /weights/… and lists them at /weights/index.json.
const WEIGHTS_DIR = resolve(process.env.GRADCAM_WEIGHTS_DIR ?? resolve(__dirname, 'weights'));

// The demo page lives in src/app; `npm start` builds it into dist/app and serves it.
export default defineConfig({
  root: 'src/app',
  // Two pages, no client-side routes: an unknown path is a 404, not index.html (vite's 'spa' default).
  appType: 'mpa',
  plugins: [serveWeights(WEIGHTS_DIR)],
  build: {
    outDir: '../../dist/app',
    emptyOutDir: true,
    target: 'es2022',
    // Two pages: the demo, and the benchmark (/bench.html), whose TF.js peer is a dynamic import of its own.
    rollupOptions: { input: { main: resolve(__dirname, 'src/app/index.html'), bench: resolve(__dirname, 'src/app/bench.html') } },
  },
  // Loopback only: `npm run dev -- --host 0.0.0.0` or `npm start -- --host 0.0.0.0` exposes the page and
  // the weights to the network on purpose. /@fs/ (dev only) reaches what the page imports and nothing
  // else: its sources, the class index, packages.
  server: {
    host: '127.0.0.1',
    port: 5173,
    fs: { strict: true, allow: ['src', 'data', 'node_modules'].map((d) => resolve(__dirname, d)) },
  },
  preview: { host: '127.0.0.1', port: 4173 },
});
