// npm run convert -- <keras.h5> <outDir> [--force] [--allow-nonfinite]
import { parseArgs } from 'node:util';
import { convertKerasH5 } from './lib/convert.js';
import { describeConversion, runCli } from './lib/cli.js';

const USAGE = 'usage: npm run convert -- <keras.h5> <outDir> [--force] [--allow-nonfinite]';

runCli(async () => {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { force: { type: 'boolean' }, 'allow-nonfinite': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(`${USAGE}\n\nConverts Keras' VGG16/VGG19 ImageNet weights (.h5, Keras 1/2/3 layouts) into weights/<model>-style\nshards + manifest.json. --force replaces a non-empty outDir; --allow-nonfinite keeps NaN/Inf weights.`);
    return;
  }
  if (positionals.length !== 2) throw new Error(`expected an input .h5 file and an output directory; ${USAGE}`);
  const [file, outDir] = positionals;
  const result = await convertKerasH5(file, outDir, {
    force: values.force,
    allowNonfinite: values['allow-nonfinite'],
    log: (line) => console.error(line),
  });
  console.log(`${describeConversion(result)}; source layout ${String(result.manifest.source?.layout)}`);
});
