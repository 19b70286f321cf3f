// npm run build: the package (dist/index.js for browsers, dist/node.js for Node, dist/cli/gradcam.js for
// the `gradcam` command, type declarations in dist/types) and the demo page (dist/app). WGSL sources are
// inlined as strings by vite's ?raw; npm dependencies stay imports, so a browser bundle of dist/index.js
// never sees Dawn (the `webgpu` package), which only dist/node.js imports.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { build } from 'vite';

// npm packages and Node builtins stay imports; our own files (relative or absolute) are bundled.
const external = (id: string) => !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('\0');
const clean = (dir: string) => rmSync(dir, { recursive: true, force: true });

clean('dist/lib');
clean('dist/types');
// Browsers: one ES module, nothing from Node.
await build({
  configFile: false,
  logLevel: 'warn',
  build: {
    outDir: 'dist/lib/browser',
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    lib: { entry: resolve('src/index.ts'), formats: ['es'], fileName: () => 'index.js' },
    rollupOptions: { external },
  },
});
// Node: the host and the CLI, built for Node (builtins and npm packages stay imports).
await build({
  configFile: false,
  logLevel: 'warn',
  build: {
    outDir: 'dist/lib/node',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    sourcemap: true,
    ssr: true,
    rollupOptions: {
      input: { node: resolve('src/node.ts'), gradcam: resolve('scripts/gradcam.ts') },
      output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
      external,
    },
  },
});
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
// The page.
await build({ logLevel: 'warn' });
console.log('built dist/lib/browser/index.js, dist/lib/node/{node,gradcam}.js, dist/types, dist/app');
