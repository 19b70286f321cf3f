// npm run convert -- <keras.h5> <outDir> [--force] [--allow-nonfinite] (see --help)
import { resolve } from 'node:path';
import { cancellation } from './lib/cancel.js';
import { conversionProgress, describeConversion, parseCommandLine, runCli, type CommandSpec, type OptionSpec } from './lib/cli.js';

const SPEC = {
  usage: 'npm run convert -- <keras.h5> <outDir> [options]',
  summary:
    "Converts Keras' VGG16/VGG19 weights (.h5 in the Keras 1 layout of the official files, Keras 2's save_weights,\n" +
    "or Keras 3's .weights.h5) into outDir as manifest.json + 64 MiB float32 shards. Every layer, shape and dtype\n" +
    'is checked before anything is written; the output appears only when complete. Ctrl-C (or SIGTERM) stops it\n' +
    'with nothing partial left behind and outDir as it was, exit code 130 (143).',
  positionals: { min: 2, max: 2, what: 'the input .h5 file and the output directory' },
  options: {
    force: { type: 'boolean', help: 'replace a non-empty output directory' },
    'allow-nonfinite': { type: 'boolean', help: 'keep NaN/Inf weights instead of refusing the file' },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

runCli(async () => {
  const parsed = parseCommandLine('npm run convert --', SPEC);
  if (!parsed) return;
  const [file, outDir] = parsed.positionals;
  const cancel = cancellation();
  cancel.doing(`converting ${file} into ${outDir}`, `nothing partial left behind, ${resolve(outDir)} as it was`);
  const { convertKerasH5 } = await import('../src/hosts/node/keras/convert.js'); // libhdf5 in WebAssembly: after the arguments
  const result = await convertKerasH5(file, outDir, {
    force: parsed.values.force,
    allowNonfinite: parsed.values['allow-nonfinite'],
    log: (line) => console.error(line),
    signal: cancel.signal,
    scratch: cancel.temps,
    onProgress: conversionProgress(),
  });
  console.log(`${describeConversion(result)}; source layout ${String(result.manifest.source?.layout)}`);
});
