import { defineConfig } from 'vite';

// The demo page lives in src/app; `npm start` serves it, `npm run build` writes dist/.
export default defineConfig({
  root: 'src/app',
  build: { outDir: '../../dist', emptyOutDir: true, target: 'es2022' },
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
});
