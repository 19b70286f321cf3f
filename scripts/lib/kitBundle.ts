// The device kit's one script: scripts/kitRun.ts and everything it imports (the engine, the kernels'
// WGSL, the bench, test/kernels/cases.ts, TF.js core and its WebGPU and WASM backends, Dawn's loader)
// bundled by esbuild into one ES module for Node. WGSL comes in through `?raw` as text, as vite and
// scripts/lib/rawHooks.js do. Two things are bent for the kit's layout:
// - the `webgpu` package loads dawn.node from dist/<platform>-<arch>/ beside its index.js; in the kit
//   that file is unpacked by run.sh, which names it in GRADCAM_KIT_DAWN_NODE;
// - CommonJS code inside the ES module (TF.js' WASM glue) gets `require`, `__filename`, `__dirname`.
import { build, type Plugin } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** What webgpu/index.js assigns the dawn.node path to; the bundle reads GRADCAM_KIT_DAWN_NODE first. */
const DAWN_PATH_NEEDLE = 'const dawnNodePath = ';
export const DAWN_NODE_ENV = 'GRADCAM_KIT_DAWN_NODE';

/** `import code from './x.wgsl?raw'`: the file's text as the default export. */
const rawPlugin: Plugin = {
  name: 'raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({ path: resolve(args.resolveDir, args.path.slice(0, -'?raw'.length)), namespace: 'raw' }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, async (args) => ({ contents: await readFile(args.path, 'utf8'), loader: 'text', resolveDir: dirname(args.path) }));
  },
};

/** The `webgpu` package's loader, told to take dawn.node from $GRADCAM_KIT_DAWN_NODE. */
const dawnPathPlugin: Plugin = {
  name: 'dawn-path',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]webgpu[\\/]index\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (source.split(DAWN_PATH_NEEDLE).length !== 2)
        throw new Error(`${args.path} no longer has one '${DAWN_PATH_NEEDLE}…': see how it finds dawn.node and update scripts/lib/kitBundle.ts`);
      return { contents: source.replace(DAWN_PATH_NEEDLE, `${DAWN_PATH_NEEDLE}process.env.${DAWN_NODE_ENV} || `), loader: 'js' };
    });
  },
};

const BANNER = [
  "import { createRequire as __kitCreateRequire } from 'node:module';",
  "import { fileURLToPath as __kitFileURLToPath } from 'node:url';",
  "import { dirname as __kitDirname } from 'node:path';",
  'const require = __kitCreateRequire(import.meta.url);',
  'const __filename = __kitFileURLToPath(import.meta.url);',
  'const __dirname = __kitDirname(__filename);',
].join('\n');

/**
 * Bundles `entry` into `outfile` (an .mjs for Node 20), TF.js' license comments into `outfile`.LEGAL.txt.
 * Returns the bundle's size in bytes.
 */
export async function bundleKitScript(entry: string, outfile: string): Promise<{ bytes: number; warnings: string[] }> {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // ES module builds first (one copy of tfjs-core, shared by its gradients and both backends).
    mainFields: ['module', 'main'],
    // Smaller, readable stack traces: whitespace and syntax only, names kept.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'linked',
    banner: { js: BANNER },
    // TF.js' Node platform asks for node-fetch only to fetch models over HTTP, which the kit never does.
    external: ['node-fetch'],
    plugins: [rawPlugin, dawnPathPlugin],
    logLevel: 'silent',
    metafile: true,
  });
  const bytes = Object.values(result.metafile.outputs).reduce((a, o) => a + o.bytes, 0);
  return { bytes, warnings: result.warnings.map((w) => `${w.location ? `${w.location.file}:${w.location.line}: ` : ''}${w.text}`) };
}
