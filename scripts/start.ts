// npm start: build the page, make sure weights are there (or say in one line how to get them), serve it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { build, preview } from 'vite';

const weights = join(process.env.GRADCAM_WEIGHTS_DIR ?? 'weights', 'vgg16', 'manifest.json');
if (!existsSync(weights)) {
  console.log(
    `No converted weights at ${weights}: run 'npm run weights' (downloads Keras' VGG16, 553 MB) or, offline, ` +
      `'npm run weights -- --synthetic' (random weights); until then the page runs random weights and says so.`,
  );
}
await build({ logLevel: 'warn' });
const server = await preview({});
server.printUrls();
const local = server.resolvedUrls?.local[0];
if (local) console.log(`  ➜  Benchmark this GPU: ${new URL('bench.html', local).href}`);
