import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import { serveWeights } from './scripts/lib/serveWeights.js';

// GRADCAM_WEIGHTS_DIR points the page at another directory of converted weights (tests use it); the
// plugin serves them at /weights/… and lists them at /weights/index.json.
const WEIGHTS_DIR = resolve(process.env.GRADCAM_WEIGHTS_DIR ?? resolve(__dirname, 'weights'));

// The demo page lives in src/app; `npm start` builds it into dist/app and serves it.
export default defineConfig({
  root: 'src/app',
  plugins: [serveWeights(WEIGHTS_DIR)],
  build: {
    outDir: '../../dist/app',
    emptyOutDir: true,
    target: 'es2022',
    // Two pages: the demo, and the benchmark (/bench.html), whose TF.js peer is a dynamic import of its own.
    rollupOptions: { input: { main: resolve(__dirname, 'src/app/index.html'), bench: resolve(__dirname, 'src/app/bench.html') } },
  },
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
});
