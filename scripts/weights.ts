// npm run weights [-- options] (see --help): Keras' official ImageNet weights, downloaded and converted;
// or, with --synthetic, seeded He-normal weights in the official file's layout, converted (offline).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MANIFEST_FILE, MODELS } from '../src/node.js';
import { cancellation } from './lib/cancel.js';
import { conversionProgress, describeConversion, parseCommandLine, progressPrinter, runCli, UsageError, type CommandSpec, type OptionSpec } from './lib/cli.js';
import { writeSyntheticH5InWorker } from './lib/syntheticWorker.js';
import { downloadWithResume, formatProgress, md5File, OfflineError } from '../src/hosts/node/download.js';

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

const SPEC = {
  usage: 'npm run weights -- [options]',
  summary:
    "Downloads Keras' official ImageNet weights for VGG16 (553 MB) or VGG19 (575 MB), resumable and md5-checked\n" +
    "(Keras' own cache ~/.keras/models is used when it holds the file), and converts them into weights/<model>.\n" +
    "Offline: --synthetic writes seeded random weights in the same format (predictions then mean nothing).",
  positionals: { min: 0, max: 0, what: 'none' },
  options: {
    model: { type: 'string', value: 'vgg16|vgg19', default: 'vgg16', help: 'which network' },
    out: { type: 'string', value: '<dir>', help: 'output directory (default: weights/<model>)' },
    force: { type: 'boolean', help: 'replace weights that are already there' },
    synthetic: { type: 'boolean', help: 'no download: seeded He-normal weights (for tests and offline demos)' },
    seed: { type: 'string', value: '<n>', default: '1', help: 'seed of --synthetic' },
    url: { type: 'string', value: '<url>', help: 'download from this URL instead of Keras’ (a mirror)' },
    md5: { type: 'string', value: '<hex>', help: 'expected md5 of the file at --url' },
  },
  notes: [
    "A local copy of the .h5 file: 'npm run convert -- <file.h5> weights/vgg16'.",
    'Ctrl-C (or SIGTERM) stops it with nothing partial left behind and the output directory as it was, exit code\n' +
      '130 (143); an interrupted download is kept in the cache and resumed by the next run.',
  ],
} satisfies CommandSpec<Record<string, OptionSpec>>;

runCli(async () => {
  const parsed = parseCommandLine('npm run weights --', SPEC);
  if (!parsed) return;
  const { values } = parsed;
  // The HDF5 reader (libhdf5 in WebAssembly) loads only once the arguments are known to be good.
  const { convertKerasH5 } = await import('../src/hosts/node/keras/convert.js');
  const model = MODELS[values.model];
  if (!model) throw new UsageError(`--model ${values.model}: unknown; choose one of ${Object.keys(MODELS).join(', ')}`);
  const out = values.out ?? join('weights', model.name);
  if (existsSync(join(out, MANIFEST_FILE)) && !values.force) {
    const m = JSON.parse(readFileSync(join(out, MANIFEST_FILE), 'utf8'));
    const kind = m.source?.synthetic ? `synthetic (seed ${m.source.seed})` : 'converted';
    console.log(`${out} already holds ${kind} ${m.model} weights; pass --force to replace them`);
    return;
  }

  const cancel = cancellation();
  const asItWas = `nothing partial left behind, ${resolve(out)} as it was`;
  cancel.doing(`getting ${model.name} weights for ${out}`, asItWas);
  const converting = { force: values.force, signal: cancel.signal, scratch: cancel.temps, onProgress: conversionProgress() };

  if (values.synthetic) {
    const seed = Number(values.seed);
    if (!/^\d+$/.test(values.seed) || !Number.isSafeInteger(seed)) throw new UsageError(`--seed ${values.seed}: must be a non-negative integer`);
    const tmp = mkdtempSync(join(tmpdir(), 'gradcam-synthetic-'));
    cancel.temps.add(tmp);
    try {
      const h5 = join(tmp, `synthetic-${model.name}-seed${seed}.h5`);
      console.error(`writing seeded He-normal ${model.name} weights (seed ${seed}) in Keras' layout…`);
      cancel.doing(`writing synthetic ${model.name} weights`, asItWas);
      const writing = writeSyntheticH5InWorker(h5, model, { seed, classifierGain: SYNTHETIC_CLASSIFIER_GAIN });
      const unhook = cancel.onStop(writing.stop);
      await writing.done;
      unhook();
      cancel.doing(`converting the synthetic weights into ${out}`, asItWas);
      const result = await convertKerasH5(h5, out, { ...converting, sourceExtra: { synthetic: true, seed, classifierGain: SYNTHETIC_CLASSIFIER_GAIN } });
      console.log(`${describeConversion(result)}; RANDOM weights (synthetic, seed ${seed}): predictions are meaningless`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      cancel.temps.delete(tmp);
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
    cancel.doing(`downloading ${url}`, `the partial download ${file}.part is kept, and the next run resumes it; ${resolve(out)} as it was`);
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
        throw new Error(
          `${e.message}; with a local copy of ${official.file}, run: npm run convert -- path/to/${official.file} ${out}; ` +
            `or, for seeded random weights that run everything offline (predictions mean nothing): npm run weights -- --synthetic`,
        );
      throw e;
    }
    bar.done();
  }
  cancel.doing(`converting ${file} into ${out}`, asItWas);
  const result = await convertKerasH5(file, out, { ...converting, log: (l) => console.error(l) });
  console.log(describeConversion(result));
});
