// The long check of Ctrl-C and SIGTERM (`npm run check:cancel`, scripts/cancelCheck.ts): every command
// killed at each point where it has something half done, by SIGINT or SIGTERM, once or twice in a row,
// and each then run to the end, which must work. test/cancel.test.ts runs a CI-sized part of this.
// Full-size VGG16 throughout; on SwiftShader (2 cores) the gradcam run to the end alone takes ~2 min.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { MODELS } from '../../src/engine/model.js';
import { hasOpen, partialNames, processesMentioning, runScript, snapshot, stopProblems, tmpEntries, writeConstantKerasH5, type RunResult, type Trigger } from './interrupt.js';

export const COMMANDS = ['weights', 'convert', 'gradcam', 'bench'] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface CancelRow {
  command: CommandName;
  /** Where it was killed, or 'to the end'. */
  point: string;
  /** 'SIGINT', 'SIGINT ×2', or '' for a run to the end. */
  signals: string;
  code: number | null;
  /** From the first signal to the exit. */
  stopSeconds?: number;
  seconds: number;
  problems: string[];
}

interface Kill {
  point: string;
  args: string[];
  trigger: Trigger;
  stage: RegExp;
  /** Directories that must be as they were. */
  kept: string[];
}

/** Runs the matrix in `dir` (a fresh directory), calling `onRow` as each run ends. */
export async function runCancelMatrix(dir: string, only: ReadonlySet<CommandName>, onRow: (row: CancelRow) => void): Promise<CancelRow[]> {
  const tmp = join(dir, 'tmp');
  const cache = join(dir, 'cache');
  const outputs = join(dir, 'outputs');
  const weights = join(dir, 'vgg16');
  for (const d of [tmp, cache, outputs]) mkdirSync(d, { recursive: true });
  const env = { TMPDIR: tmp, GRADCAM_CACHE_DIR: cache, XDG_CACHE_HOME: join(dir, 'xdg') };
  const rows: CancelRow[] = [];
  const line =
    (re: RegExp): Trigger['when'] =>
    ({ stderr }) =>
      re.test(stderr);

  const kill = async (command: CommandName, k: Kill) => {
    const before = k.kept.map((d) => [d, snapshot(d)] as [string, Record<string, string>]);
    const r = await runScript(command, k.args, { env, trigger: k.trigger, timeoutMs: 300_000 });
    const problems = stopProblems(r, { signal: k.trigger.signals[0] as 'SIGINT' | 'SIGTERM', stage: k.stage, tmp, root: dir, kept: before });
    push(command, k.point, k.trigger.signals, r, problems);
  };
  const toTheEnd = async (command: CommandName, args: string[], check: (r: RunResult) => string[]) => {
    const r = await runScript(command, args, { env, timeoutMs: 600_000 });
    const problems = [...(r.code === 0 ? [] : [`exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').at(-1)}`]), ...check(r)];
    const partial = partialNames(dir);
    if (partial.length) problems.push(`named like a write in progress: ${partial.join(', ')}`);
    if (tmpEntries(tmp).length) problems.push(`left in TMPDIR: ${tmpEntries(tmp).join(', ')}`);
    push(command, 'to the end', [], r, problems);
  };
  const push = (command: CommandName, point: string, signals: string[], r: RunResult, problems: string[]) => {
    const row: CancelRow = {
      command,
      point,
      signals: signals.length === 0 ? '' : signals.length === 1 ? signals[0] : `${signals[0]} ×${signals.length}`,
      code: r.code,
      stopSeconds: r.killedAfter === undefined ? undefined : r.seconds - r.killedAfter,
      seconds: r.seconds,
      problems,
    };
    rows.push(row);
    onRow(row);
  };

  // weights first: its run to the end makes the weights gradcam reads.
  const synthetic = ['--synthetic', '--force', '--out', weights];
  const drawing: Trigger['when'] = ({ stderr }) => /^writing seeded He-normal/m.test(stderr) && tmpEntries(tmp).some((d) => d.startsWith('gradcam-synthetic-'));
  const h5Written = () => tmpEntries(tmp).some((d) => d.startsWith('gradcam-synthetic-') && readdirSync(join(tmp, d)).some((f) => f.endsWith('.h5') && statSync(join(tmp, d, f)).size > 0));
  const converted = (percent: number) => line(new RegExp(`converting: .*\\((${percent}|[${Math.floor(percent / 10) + 1}-9]\\d)%\\)`));
  if (only.has('weights') || only.has('gradcam')) {
    await kill('weights', { point: 'drawing the samples', args: synthetic, trigger: { when: drawing, signals: ['SIGINT'], delayMs: 500 }, stage: /writing synthetic vgg16 weights/, kept: [weights] });
    await kill('weights', { point: 'drawing the samples', args: synthetic, trigger: { when: drawing, signals: ['SIGTERM', 'SIGTERM'], delayMs: 500, gapMs: 20 }, stage: /writing synthetic vgg16 weights/, kept: [weights] });
    await kill('weights', { point: 'writing the .h5', args: synthetic, trigger: { when: h5Written, signals: ['SIGINT'] }, stage: /writing synthetic vgg16 weights/, kept: [weights] });
    await kill('weights', { point: 'converting (30%)', args: synthetic, trigger: { when: converted(30), signals: ['SIGTERM'] }, stage: /converting the synthetic weights into \S+/, kept: [weights] });
    await toTheEnd('weights', synthetic, (r) => (/RANDOM weights \(synthetic, seed 1\)/.test(r.stdout) ? [] : [`stdout: ${r.stdout.trim()}`]));
  }

  if (only.has('convert')) {
    const h5 = join(dir, 'constant-vgg16.h5');
    if (!existsSync(h5)) await writeConstantKerasH5(h5, MODELS.vgg16);
    const into = ['--force'];
    await kill('convert', { point: 'the first chunk', args: [h5, weights, ...into], trigger: { when: line(/converting: /), signals: ['SIGINT'] }, stage: /converting \S+ into \S+/, kept: [weights] });
    await kill('convert', { point: 'converting (50%)', args: [h5, weights, ...into], trigger: { when: converted(50), signals: ['SIGTERM'] }, stage: /converting \S+ into \S+/, kept: [weights] });
    await kill('convert', { point: 'converting (70%), twice', args: [h5, weights, ...into], trigger: { when: converted(70), signals: ['SIGINT', 'SIGINT'], gapMs: 10 }, stage: /converting \S+ into \S+/, kept: [weights] });
    const other = join(dir, 'converted');
    await toTheEnd('convert', [h5, other], (r) => (existsSync(join(other, 'manifest.json')) ? [] : [`no ${other}/manifest.json; stdout: ${r.stdout.trim()}`]));
    rmSync(other, { recursive: true, force: true });
  }

  if (only.has('gradcam')) {
    const image = join(dir, 'photo.png');
    const png = new PNG({ width: 64, height: 48 });
    for (let i = 0; i < png.data.length; i++) png.data[i] = (i * 37) % 256;
    writeFileSync(image, PNG.sync.write(png));
    const cam = join(outputs, 'cam.png');
    const npy = join(outputs, 'cam.npy');
    writeFileSync(cam, 'an overlay from an earlier run');
    writeFileSync(npy, 'a heatmap from an earlier run');
    const args = [image, '--weights', weights, '--out', cam, '--heatmap', npy];
    const kept = [outputs, cache, weights];
    const loading: Trigger['when'] = ({ pid }) => hasOpen(pid, (p) => p.startsWith(weights) && p.endsWith('.bin'));
    await kill('gradcam', { point: 'loading the weights', args, trigger: { when: loading, signals: ['SIGINT'] }, stage: /loading the weights from \S+/, kept });
    await kill('gradcam', { point: 'tuning', args, trigger: { when: line(/^tuning kernels for this GPU/m), signals: ['SIGTERM'], delayMs: 2000 }, stage: /tuning the kernels for this GPU/, kept });
    const computing = { when: line(/^loaded /m), delayMs: 4000 };
    await kill('gradcam', { point: 'computing', args: [...args, '--tune', 'off'], trigger: { ...computing, signals: ['SIGINT'] }, stage: /(preparing the kernels|computing gradcam of \S+)/, kept });
    await kill('gradcam', { point: 'computing, twice', args: [...args, '--tune', 'off'], trigger: { ...computing, signals: ['SIGTERM', 'SIGTERM'], gapMs: 10 }, stage: /(preparing the kernels|computing gradcam of \S+)/, kept });
    await toTheEnd('gradcam', [...args, '--tune', 'off'], () => (readFileSync(cam).subarray(1, 4).toString() === 'PNG' ? [] : [`${cam} is not the new overlay`]));
  }

  if (only.has('bench')) {
    const out = join(outputs, 'bench');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'latest.json'), '{"an": "earlier report"}\n');
    const small = ['--quick', '--size', '32', '--no-peer', '--methods', 'none', '--pixel', 'none', '--layers', 'block1_conv1', '--runs', '1', '--tune', 'off', '--out', out];
    const kept = [out, cache];
    await kill('bench', { point: 'measuring on Node', args: small, trigger: { when: line(/^node: /m), signals: ['SIGTERM'], delayMs: 500 }, stage: /benchmarking on Node/, kept });
    // The chart is drawn by Chromium once the measuring is done: killed when that browser runs.
    const drawing: Trigger['when'] = () => processesMentioning(join(tmp, 'gradcam-chromium-')).length > 0;
    await kill('bench', { point: 'drawing the chart (Chromium)', args: small, trigger: { when: drawing, signals: ['SIGINT'], delayMs: 300 }, stage: /writing the results to \S+/, kept });
    await kill('bench', { point: 'the Chrome host', args: [...small, '--host', 'chrome'], trigger: { when: line(/^chrome /m), signals: ['SIGINT'] }, stage: /benchmarking in headless Chrome/, kept });
    await kill('bench', { point: 'the Chrome host, twice', args: [...small, '--host', 'chrome'], trigger: { when: line(/^chrome /m), signals: ['SIGTERM', 'SIGTERM'], gapMs: 10 }, stage: /benchmarking in headless Chrome/, kept });
    await toTheEnd('bench', small, () => (existsSync(join(out, 'latest.md')) ? [] : [`no ${out}/latest.md`]));
  }
  return rows;
}
