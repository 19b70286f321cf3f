// npm start [-- --host <address>]: build the page, make sure weights are there (or say in one line how
// to get them), serve it, on 127.0.0.1 only unless --host says otherwise (vite.config.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { build, preview } from 'vite';
import { parseCommandLine, runCli, type CommandSpec, type OptionSpec } from './lib/cli.js';

const SPEC = {
  usage: 'npm start -- [options]',
  summary: 'Builds the demo page into dist/app and serves it, with the converted weights at /weights/.',
  positionals: { min: 0, max: 0, what: 'none' },
  options: {
    host: {
      type: 'string',
      value: '<address>',
      help: 'listen on this address instead of 127.0.0.1: 0.0.0.0 serves the page and the weights to every network this machine is on',
    },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

runCli(async () => {
  const parsed = parseCommandLine('npm start --', SPEC);
  if (!parsed) return;
  const weights = join(process.env.GRADCAM_WEIGHTS_DIR ?? 'weights', 'vgg16', 'manifest.json');
  if (!existsSync(weights)) {
    console.log(
      `No converted weights at ${weights}: run 'npm run weights' (downloads Keras' VGG16, 553 MB) or, offline, ` +
        `'npm run weights -- --synthetic' (random weights); until then the page runs random weights and says so.`,
    );
  }
  await build({ logLevel: 'warn' });
  const server = await preview(parsed.values.host === undefined ? {} : { preview: { host: parsed.values.host } });
  server.printUrls();
  const local = server.resolvedUrls?.local[0];
  if (local) console.log(`  ➜  Benchmark this GPU: ${new URL('bench.html', local).href}`);
});
