// `npm run weights -- --synthetic` makes its .h5 in a worker thread: drawing VGG16's 138 M normal
// samples and writing them through libhdf5 is ~10 s of synchronous work, during which the main thread
// could not run a signal handler (Ctrl-C would wait for the end). Here the main thread stays free;
// stopping terminates the worker, and the caller removes the file.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { ModelSpec } from '../../src/node.js';
import type { SyntheticH5Options } from '../../src/hosts/node/keras/syntheticH5.js';

interface Job {
  path: string;
  model: ModelSpec;
  options: Omit<SyntheticH5Options, 'edit'>;
}

/** Writes the file in a worker; `stop()` ends the worker wherever it is. */
export function writeSyntheticH5InWorker(path: string, model: ModelSpec, options: Omit<SyntheticH5Options, 'edit'>): { done: Promise<void>; stop(): Promise<unknown> } {
  const self = import.meta.url;
  // From TypeScript (a checkout run by tsx): the worker registers tsx itself, as loader hooks set up by
  // `--import tsx` in the main thread do not reach a worker's entry on Node 20.
  const code = self.endsWith('.ts')
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => tsx.tsImport(${JSON.stringify(self)}, ${JSON.stringify(self)}))`
    : `import(${JSON.stringify(self)})`;
  const job: Job = { path, model, options };
  const worker = new Worker(code, { eval: true, workerData: { syntheticH5: job } });
  const done = new Promise<void>((resolve, reject) => {
    let finished = false;
    worker.on('message', (m) => {
      if (m === 'done') finished = true;
    });
    worker.on('error', reject);
    worker.on('exit', (code) => (finished ? resolve() : reject(new Error(`the worker writing ${path} stopped (exit code ${code}) before the file was complete`))));
  });
  return { done, stop: () => worker.terminate() };
}

if (!isMainThread && workerData?.syntheticH5) {
  const job = workerData.syntheticH5 as Job;
  const { writeSyntheticKerasH5 } = await import('../../src/hosts/node/keras/syntheticH5.js');
  await writeSyntheticKerasH5(job.path, job.model, job.options);
  parentPort!.postMessage('done');
}
