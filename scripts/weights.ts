// npm run weights [-- --model vgg16|vgg19] [--out DIR] [--force]
//   Downloads Keras' official ImageNet weights (resumable, md5-checked) and converts them.
// npm run weights -- --synthetic [--seed N] [--model vgg19] [--out DIR]
//   Writes seeded He-normal weights in the official file's layout and converts them (offline).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MODELS } from '../src/engine/model.js';
import { MANIFEST_FILE } from '../src/engine/weights/format.js';
import { describeConversion, progressPrinter, runCli } from './lib/cli.js';
import { convertKerasH5 } from './lib/convert.js';
import { downloadWithResume, formatProgress, md5File, OfflineError } from './lib/download.js';
import { writeSyntheticKerasH5 } from './lib/syntheticH5.js';

/** What keras.applications downloads (file_hash is the md5). */
export const OFFICIAL_WEIGHTS: Record<string, { url: string; file: string; md5: string }> = {
  vgg16: {
    url: 'https://storage.googleapis.com/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5',
    file: 'vgg16_weights_tf_dim_ordering_tf_kernels.h5',
    md5: '64373286793e3c8b2b4e3219cbf3544b',
  },
  vgg19: {
    url: 'https://storage.googleapis.com/tensorflow/keras-applications/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5',
    file: 'vgg19_weights_tf_dim_ordering_tf_kernels.h5',
    md5: 'cbe5617147190e668d6c5d5026f83318',
  },
};

/** Gain on the last layer of synthetic weights so the softmax is not one-hot (see synthetic.ts). */
const SYNTHETIC_CLASSIFIER_GAIN = 0.01;

function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'gradcam-webgpu');
}

runCli(async () => {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'vgg16' },
      out: { type: 'string' },
      force: { type: 'boolean' },
      synthetic: { type: 'boolean' },
      seed: { type: 'string', default: '1' },
      url: { type: 'string' },
      md5: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(0, 5).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    return;
  }
  const model = MODELS[values.model!];
  if (!model) throw new Error(`--model ${values.model}: unknown; choose one of ${Object.keys(MODELS).join(', ')}`);
  const out = values.out ?? join('weights', model.name);
  if (existsSync(join(out, MANIFEST_FILE)) && !values.force) {
    const m = JSON.parse(readFileSync(join(out, MANIFEST_FILE), 'utf8'));
    const kind = m.source?.synthetic ? `synthetic (seed ${m.source.seed})` : 'converted';
    console.log(`${out} already holds ${kind} ${m.model} weights; pass --force to replace them`);
    return;
  }

  if (values.synthetic) {
    const seed = Number(values.seed);
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed ${values.seed}: must be a non-negative integer`);
    const tmp = mkdtempSync(join(tmpdir(), 'gradcam-synthetic-'));
    try {
      const h5 = join(tmp, `synthetic-${model.name}-seed${seed}.h5`);
      console.error(`writing seeded He-normal ${model.name} weights (seed ${seed}) in Keras' layout…`);
      await writeSyntheticKerasH5(h5, model, { seed, classifierGain: SYNTHETIC_CLASSIFIER_GAIN });
      const result = await convertKerasH5(h5, out, { force: values.force, sourceExtra: { synthetic: true, seed, classifierGain: SYNTHETIC_CLASSIFIER_GAIN } });
      console.log(`${describeConversion(result)}; RANDOM weights (synthetic, seed ${seed}): predictions are meaningless`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return;
  }

  const official = OFFICIAL_WEIGHTS[model.name];
  const url = values.url ?? official.url;
  const md5 = values.md5 ?? official.md5;
  // Keras' own cache first: a user who ran keras.applications.VGG16 already has the file.
  const kerasCached = join(homedir(), '.keras', 'models', official.file);
  let file = join(cacheDir(), official.file);
  if (!values.url && existsSync(kerasCached) && (await md5File(kerasCached)) === md5) {
    file = kerasCached;
    console.error(`using Keras' cached ${kerasCached}`);
  } else if (existsSync(file) && (await md5File(file)) === md5) {
    console.error(`using cached ${file}`);
  } else {
    mkdirSync(cacheDir(), { recursive: true });
    console.error(`downloading ${url}\n  to ${file}`);
    const bar = progressPrinter();
    try {
      await downloadWithResume(url, file, {
        md5,
        onProgress: (p) => bar.update(formatProgress(p), p.total ? p.bytes / p.total : undefined),
        onNote: (line) => {
          bar.done();
          console.error(line);
        },
      });
    } catch (e) {
      bar.done();
      if (e instanceof OfflineError)
        throw new Error(`${e.message}; to use a local copy of ${official.file}, run: npm run convert -- path/to/${official.file} ${out}`);
      throw e;
    }
    bar.done();
  }
  const result = await convertKerasH5(file, out, { force: values.force, log: (l) => console.error(l) });
  console.log(describeConversion(result));
});
