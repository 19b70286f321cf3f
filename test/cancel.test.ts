// Ctrl-C and SIGTERM during weights, convert, gradcam and bench (#18, "Cancellation"). Each command is
// killed where it has something half done, then: exit code 130 (SIGINT) or 143 (SIGTERM), one last
// line naming what was interrupted, no 'error:' line, nothing named like a write in progress in or
// beside the output directory, nothing left in the TMPDIR it was given, and the previous good outputs
// (weights, an overlay and a .npy, bench reports, the tuning cache) as they were.
// First the pieces, in-process: scripts/lib/cancel.ts on its own event source, convertKerasH5 stopped
// between two chunks. Then the commands, on full-size VGG16 (the only size the CLIs accept), whose .h5
// is written with constant weights (~2 s, where drawing He-normal ones takes ~8 s): convert killed
// mid-conversion, then run to the end (the next run works; its output is the weights the other
// commands read); weights --synthetic killed while its .h5 is being made (drawn in a worker, so the
// stop is at once); gradcam killed while loading the weights (a shard open), while tuning and while
// computing; bench killed on Node. Sized for CI (40–55 s here, 2 busy cores); `npm run check:cancel` kills at more
// points (mid-.h5-write, mid-conversion, twice in a row, Chromium drawing the chart, the Chrome host)
// and runs each command to the end afterwards (test/support/cancelMatrix.ts).
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS } from '../src/engine/model.js';
import { convertKerasH5 } from '../src/hosts/node/keras/convert.js';
import { writeSyntheticKerasH5 } from '../src/hosts/node/keras/syntheticH5.js';
import { cancellation, Interrupted, stoppingSignal, withoutSignalListeners } from '../scripts/lib/cancel.js';
import { hasOpen, partialNames, runScript, snapshot, stopProblems, tmpEntries, writeConstantKerasH5, type RunResult, type Trigger } from './support/interrupt.js';
import { TINY_VGG } from './support/tinyVgg.js';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-cancel-'));
// The commands' TMPDIR and tuning cache: whatever they leave there shows.
const tmp = join(dir, 'tmp');
const cache = join(dir, 'cache');
const env = { TMPDIR: tmp, GRADCAM_CACHE_DIR: cache, XDG_CACHE_HOME: join(dir, 'xdg') };
const h5 = join(dir, 'vgg16.h5');
const weights = join(dir, 'vgg16');
const outputs = join(dir, 'outputs');

beforeAll(async () => {
  mkdirSync(tmp);
  mkdirSync(cache);
  mkdirSync(outputs);
  await writeConstantKerasH5(h5, MODELS.vgg16);
  // A tuning cache from an earlier run, for another adapter: tuning this one must not touch it until it is done.
  writeFileSync(join(cache, 'tuning.json'), `${JSON.stringify({ tables: { 'vgg16|another adapter': { key: 'another adapter', model: 'vgg16', choices: {} } } }, null, 1)}\n`);
  // Outputs of an earlier run (made by hand here), which an interrupted run must leave as they are.
  writeFileSync(join(outputs, 'cam.png'), 'an overlay from an earlier run');
  writeFileSync(join(outputs, 'cam.npy'), 'a heatmap from an earlier run');
  mkdirSync(join(outputs, 'bench'));
  writeFileSync(join(outputs, 'bench', 'latest.json'), '{"an": "earlier report"}\n');
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What every interrupted run must show (see stopProblems); `kept`: directories with their snapshot from before the run. */
function expectStoppedCleanly(r: RunResult, signal: 'SIGINT' | 'SIGTERM', stage: RegExp, kept: [string, Record<string, string>][]) {
  const context = `${r.stderr}\n(killed after ${r.killedAfter?.toFixed(1)} s, exited after ${r.seconds.toFixed(1)} s)`;
  expect(stopProblems(r, { signal, stage, tmp, root: dir, kept }), context).toEqual([]);
}

describe('scripts/lib/cancel.ts', () => {
  const setUp = (hookMs = 5000) => {
    const events = new EventEmitter();
    const log: string[] = [];
    const exits: number[] = [];
    const scratch = mkdtempSync(join(dir, 'unit-'));
    const file = join(scratch, 'half.bin');
    const sub = join(scratch, 'half-dir');
    writeFileSync(file, 'half');
    mkdirSync(sub);
    writeFileSync(join(sub, 'shard'), 'half');
    const c = cancellation({ events, log: (l) => log.push(l), exit: (code) => exits.push(code), hookMs });
    c.temps.add(file);
    c.temps.add(sub);
    return { events, log, exits, c, file, sub, scratch };
  };

  it('the first signal aborts the work, removes the temporary paths, says so in one line and exits 130; a later one does nothing more', () => {
    const { events, log, exits, c, file, sub, scratch } = setUp();
    c.doing('converting a.h5 into out', 'nothing partial left behind, out as it was');
    events.emit('SIGINT');
    expect(exits).toEqual([130]);
    expect(log).toEqual(['interrupted by SIGINT while converting a.h5 into out; nothing partial left behind, out as it was']);
    expect([existsSync(file), existsSync(sub), readdirSync(scratch)]).toEqual([false, false, []]);
    expect(c.temps.size).toBe(0);
    expect(c.signal.reason).toBeInstanceOf(Interrupted);
    expect(stoppingSignal()).toBe('SIGINT');
    events.emit('SIGTERM');
    expect(exits).toEqual([130]);
    c.dispose();
    expect(stoppingSignal()).toBeUndefined();
  });

  it('stop hooks run first, newest first; a second signal while they run exits at once, still removing the paths', async () => {
    const { events, log, exits, c, file, sub } = setUp();
    const order: string[] = [];
    c.onStop(() => order.push('browser'));
    c.onStop(() => new Promise(() => order.push('server, which never closes')));
    const off = c.onStop(() => order.push('taken off'));
    off();
    events.emit('SIGTERM');
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['server, which never closes', 'browser']);
    expect(exits).toEqual([]);
    expect(existsSync(file)).toBe(true);
    events.emit('SIGTERM');
    expect(exits).toEqual([143]);
    expect(log).toEqual(['interrupted by SIGTERM again (stopped at once) while starting; nothing partial left behind']);
    expect([existsSync(file), existsSync(sub)]).toEqual([false, false]);
    c.dispose();
  });

  it('a hook that hangs is given up after hookMs; the process exit runs the exit hooks, then removes what is left, without a word', async () => {
    const a = setUp(30);
    a.c.onStop(() => new Promise(() => {}));
    a.events.emit('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    expect(a.exits).toEqual([143]);
    expect(existsSync(a.file)).toBe(false);
    a.c.dispose();
    const b = setUp();
    const seen: boolean[] = [];
    b.c.onExit(() => seen.push(existsSync(b.file)));
    b.c.onExit(() => {
      throw new Error('a browser already gone');
    });
    b.events.emit('exit');
    expect([seen, existsSync(b.file), existsSync(b.sub), b.log, b.exits]).toEqual([[true], false, false, [], []]);
    b.c.dispose();
  });

  it('withoutSignalListeners takes back the signal listeners a launch adds, and only those', async () => {
    const ours = () => {};
    const theirs = () => {};
    process.on('SIGHUP', ours);
    try {
      const r = await withoutSignalListeners(async () => {
        process.on('SIGHUP', theirs);
        process.on('SIGINT', theirs);
        return 'launched';
      });
      expect(r).toBe('launched');
      expect([process.listeners('SIGHUP').includes(ours), process.listeners('SIGHUP').includes(theirs), process.listeners('SIGINT').includes(theirs)]).toEqual([true, false, false]);
    } finally {
      process.off('SIGHUP', ours);
      process.off('SIGHUP', theirs);
      process.off('SIGINT', theirs);
    }
  });
});

describe('convertKerasH5 with an AbortSignal', () => {
  it('aborted after its first chunk: throws the reason, removes its temporary directory, leaves the forced outDir as it was', async () => {
    const file = join(dir, 'tiny.h5');
    await writeSyntheticKerasH5(file, TINY_VGG, { seed: 2 });
    const out = join(dir, 'tiny');
    mkdirSync(out);
    writeFileSync(join(out, 'earlier.txt'), 'an earlier conversion');
    const before = snapshot(out);
    const controller = new AbortController();
    const scratch = new Set<string>();
    const seen: string[][] = [];
    const progress: number[] = [];
    const converting = convertKerasH5(file, out, {
      models: [TINY_VGG],
      force: true,
      shardBytes: 4096,
      signal: controller.signal,
      scratch,
      onProgress: (bytes) => {
        progress.push(bytes);
        seen.push([...scratch]);
        controller.abort(new Interrupted('SIGINT'));
      },
    });
    await expect(converting).rejects.toBeInstanceOf(Interrupted);
    // The temporary directory was listed while it existed, beside outDir; now it is gone, and listed no more.
    expect(seen[0]).toHaveLength(1);
    expect(seen[0][0]).toMatch(new RegExp(`^${out}\\.tmp-${process.pid}-`));
    expect([progress.length, scratch.size, existsSync(seen[0][0])]).toEqual([1, 0, false]);
    expect(snapshot(out)).toEqual(before);
    expect(readdirSync(dir).filter((n) => n.startsWith('tiny.'))).toEqual(['tiny.h5']);
    // Not aborted: the whole file, progress up to the total.
    const done = await convertKerasH5(file, out, { models: [TINY_VGG], force: true, shardBytes: 4096, scratch, onProgress: (b) => progress.push(b) });
    expect(progress.at(-1)).toBe(done.bytes);
    expect(scratch.size).toBe(0);
    expect(existsSync(join(out, 'earlier.txt'))).toBe(false);
  });
});

describe('the commands, killed', () => {
  const line = (re: RegExp): Trigger['when'] => ({ stderr }) => re.test(stderr);

  it('convert: SIGTERM mid-conversion into a directory of earlier weights (--force): 143, the directory as it was', async () => {
    mkdirSync(weights);
    writeFileSync(join(weights, 'manifest.json'), '{"an": "earlier conversion"}\n');
    const before = snapshot(weights);
    const r = await runScript('convert', [h5, weights, '--force'], { env, trigger: { when: line(/converting: .*\((1\d|[2-9]\d)%\)/), signals: ['SIGTERM'] } });
    expectStoppedCleanly(r, 'SIGTERM', /converting \S+ into \S+/, [[weights, before]]);
    expect(r.stderr.trim().split('\n').at(-1)).toContain(`nothing partial left behind, ${weights} as it was`);
  });

  it('convert: the next run goes to the end', async () => {
    const r = await runScript('convert', [h5, weights, '--force'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*vgg16, 32 tensors, 553\.4 MB in 9 shards/);
    expect(JSON.parse(readFileSync(join(weights, 'manifest.json'), 'utf8')).shards).toHaveLength(9);
    expect(partialNames(dir)).toEqual([]);
  });

  it('weights --synthetic: SIGINT while its .h5 is being made (a directory in TMPDIR), --force over good weights: 130, at once, those weights as they were', async () => {
    const before = snapshot(weights);
    const started: Trigger['when'] = ({ stderr }) => /^writing seeded He-normal/m.test(stderr) && tmpEntries(tmp).some((d) => d.startsWith('gradcam-synthetic-'));
    const r = await runScript('weights', ['--synthetic', '--force', '--out', weights], { env, trigger: { when: started, signals: ['SIGINT'], delayMs: 500 } });
    expectStoppedCleanly(r, 'SIGINT', /writing synthetic vgg16 weights/, [[weights, before]]);
    // The samples are drawn in a worker: the main thread answers at once, not after the ~8 s of drawing.
    expect(r.seconds - r.killedAfter!).toBeLessThan(4);
  });

  describe('gradcam on one image', () => {
    const image = join(dir, 'photo.png');
    const args = [image, '--weights', weights, '--out', join(outputs, 'cam.png'), '--heatmap', join(outputs, 'cam.npy')];
    const kept = () =>
      [
        [outputs, snapshot(outputs)],
        [cache, snapshot(cache)],
        [weights, snapshot(weights)],
      ] as [string, Record<string, string>][];
    beforeAll(async () => {
      const { PNG } = await import('pngjs');
      const png = new PNG({ width: 40, height: 30 });
      png.data.fill(128);
      writeFileSync(image, PNG.sync.write(png));
    });

    it('SIGINT while the weights load (a shard open): 130, the overlay, the .npy and the tuning cache as they were', async () => {
      const before = kept();
      const loading: Trigger['when'] = ({ pid }) => hasOpen(pid, (p) => p.startsWith(weights) && /\.bin$|shard/.test(p));
      const r = await runScript('gradcam', args, { env, trigger: { when: loading, signals: ['SIGINT'] } });
      expectStoppedCleanly(r, 'SIGINT', /loading the weights from \S+/, before);
    });

    it('SIGTERM while tuning the kernels: 143, the tuning cache as it was', async () => {
      const before = kept();
      const r = await runScript('gradcam', args, { env, trigger: { when: line(/^tuning kernels for this GPU/m), signals: ['SIGTERM'] } });
      expectStoppedCleanly(r, 'SIGTERM', /tuning the kernels for this GPU/, before);
    });

    it('SIGINT while computing (--tune off): 130', async () => {
      const before = kept();
      const r = await runScript('gradcam', [...args, '--tune', 'off'], { env, trigger: { when: line(/^loaded /m), signals: ['SIGINT'], delayMs: 1000 } });
      expectStoppedCleanly(r, 'SIGINT', /(preparing the kernels|computing gradcam of \S+)/, before);
    });
  });

  it('bench on Node: SIGTERM while measuring: 143, the earlier reports as they were', async () => {
    const out = join(outputs, 'bench');
    const before: [string, Record<string, string>][] = [
      [out, snapshot(out)],
      [cache, snapshot(cache)],
    ];
    const args = ['--quick', '--size', '32', '--no-peer', '--methods', 'none', '--pixel', 'none', '--layers', 'block1_conv1', '--runs', '1', '--tune', 'off', '--out', out];
    const r = await runScript('bench', args, { env, trigger: { when: line(/^node: /m), signals: ['SIGTERM'], delayMs: 500 } });
    expectStoppedCleanly(r, 'SIGTERM', /benchmarking on Node/, before);
  });
});
