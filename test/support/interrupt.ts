// Killing a command at a chosen point and checking what it left: for test/cancel.test.ts and
// scripts/cancelCheck.ts. A command runs as `node --import tsx --import ./scripts/lib/registerRaw.js
// scripts/<name>.ts`, as npm runs it, with its own TMPDIR (so whatever it or the libraries under it
// leave in the system's temporary directory shows) and its own tuning cache.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { inferShapes, elementCount, type ModelSpec } from '../../src/engine/model.js';

export const SCRIPT = ['--import', 'tsx', '--import', './scripts/lib/registerRaw.js'];

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From the start to the exit. */
  seconds: number;
  /** From the start to the first signal sent (undefined: none was). */
  killedAfter?: number;
}

export interface Trigger {
  /** Sent when `when` first holds (checked at each output and every 20 ms). */
  when: (seen: { stdout: string; stderr: string; pid: number; seconds: number }) => boolean;
  /** The signals, `gapMs` apart (default 100 ms); a second one tests the stop-at-once path. */
  signals: NodeJS.Signals[];
  gapMs?: number;
  /** Wait this long after `when` holds before the first signal. */
  delayMs?: number;
}

/** Runs scripts/<script>.ts with `args`; sends the trigger's signals when it fires; resolves at the exit. */
export function runScript(
  script: string,
  args: string[],
  o: { env: Record<string, string>; trigger?: Trigger; timeoutMs?: number; cwd?: string },
): Promise<RunResult> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...SCRIPT, `scripts/${script}.ts`, ...args], {
    cwd: o.cwd,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let killedAfter: number | undefined;
  let fired = false;
  const seconds = () => (performance.now() - t0) / 1000;
  const check = () => {
    if (fired || !o.trigger || child.exitCode !== null || !child.pid) return;
    if (!o.trigger.when({ stdout, stderr, pid: child.pid, seconds: seconds() })) return;
    fired = true;
    const { signals, gapMs = 100, delayMs = 0 } = o.trigger;
    signals.forEach((s, i) =>
      setTimeout(() => {
        killedAfter ??= seconds();
        if (child.exitCode === null && child.signalCode === null) child.kill(s);
      }, delayMs + i * gapMs),
    );
  };
  child.stdout!.on('data', (d: Buffer) => ((stdout += d), check()));
  child.stderr!.on('data', (d: Buffer) => ((stderr += d), check()));
  const poll = setInterval(check, 20);
  const limit = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(limit);
      resolve({ code, signal, stdout, stderr, seconds: seconds(), killedAfter });
    }),
  );
}

export const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

export interface StopExpectation {
  signal: keyof typeof EXIT_CODES;
  /** What the last line says was interrupted (a regular expression's source). */
  stage: RegExp;
  /** The TMPDIR the command was given: it must hold nothing new. */
  tmp: string;
  /** Searched (recursively) for names of writes in progress. */
  root: string;
  /** Directories with their snapshot() from before the run: they must be as they were. */
  kept: [string, Record<string, string>][];
}

/**
 * What is wrong with an interrupted run (empty: nothing): the exit code is 130 or 143 rather than a
 * death by signal, the last line says what was interrupted and that nothing partial was left, there is
 * no 'error:' line, nothing new in TMPDIR, nothing named like a write in progress, the kept
 * directories as they were.
 */
export function stopProblems(r: RunResult, e: StopExpectation): string[] {
  const problems: string[] = [];
  if (r.killedAfter === undefined) problems.push(`never signalled: the trigger did not fire before the exit (code ${r.code})`);
  if (r.code !== EXIT_CODES[e.signal] || r.signal !== null) problems.push(`exit ${r.code ?? `by ${r.signal}`}, expected ${EXIT_CODES[e.signal]}`);
  const lines = r.stderr.trim().split('\n');
  for (const l of lines.filter((l) => l.startsWith('error:'))) problems.push(`an error line: ${l}`);
  const last = lines.at(-1) ?? '';
  if (!new RegExp(`^interrupted by ${e.signal}( again \\(stopped at once\\))? while ${e.stage.source}; nothing (partial left behind|written)`).test(last))
    problems.push(`last line: ${JSON.stringify(last)}`);
  const alive = processesMentioning(e.tmp);
  if (alive.length) problems.push(`processes still running from TMPDIR (a browser?): ${alive.join('; ')}`);
  const left = tmpEntries(e.tmp);
  if (left.length) problems.push(`left in TMPDIR: ${left.join(', ')}`);
  const partial = partialNames(e.root);
  if (partial.length) problems.push(`named like a write in progress: ${partial.join(', ')}`);
  for (const [dir, before] of e.kept) {
    const after = snapshot(dir);
    const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => before[k] !== after[k]);
    if (changed.length) problems.push(`${dir} changed: ${changed.join(', ')}`);
  }
  return problems;
}

/** The command lines (pid: args) of running processes that mention `text` (Linux: /proc/<pid>/cmdline). */
export function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (args.includes(text) && Number(pid) !== process.pid) found.push(`${pid}: ${args.slice(0, 120)}`);
    } catch {
      // Gone between the listing and the read.
    }
  }
  return found;
}

/** Whether process `pid` has a file open whose path passes `test` (Linux: /proc/<pid>/fd). */
export function hasOpen(pid: number, test: (path: string) => boolean): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      if (test(readlinkSync(`/proc/${pid}/fd/${fd}`))) return true;
    } catch {
      // Closed between the listing and the read.
    }
  }
  return false;
}

/**
 * Every file and directory under `root` (relative, sorted): a small file by a hash of its bytes, a
 * large one (a weight shard) by size, inode and mtime, which a rewrite in place or a rename changes.
 */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  let entries;
  try {
    entries = readdirSync(root, { recursive: true, withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const path = join(e.parentPath, e.name);
    const name = relative(root, path);
    const st = statSync(path);
    if (e.isDirectory()) out[name] = 'dir';
    else if (st.size > 1 << 20) out[name] = `${st.size} bytes, inode ${st.ino}, mtime ${st.mtimeMs}`;
    else out[name] = `${st.size} bytes, sha1 ${createHash('sha1').update(readFileSync(path)).digest('hex')}`;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * The entries of a TMPDIR given to commands, less the two that are kept across runs on purpose: tsx's
 * compile cache (tsx-<uid>) and the private XDG_RUNTIME_DIR of src/hosts/node/device.ts.
 */
export function tmpEntries(tmp: string): string[] {
  return readdirSync(tmp)
    .filter((n) => !/^(tsx|gradcam-webgpu-runtime)-\d+$/.test(n))
    .sort();
}

/** Names that a write in progress has (ours: `x.tmp-<pid>-…`, `.x.tmp-<pid>`, `x.<pid>.tmp`, `x.old-…`; downloads: `.part`). */
export const PARTIAL_NAME = /\.tmp\b|\.tmp-|\.old-|\.part$/;

/** Entries under `root` (recursively) named like a write in progress. */
export function partialNames(root: string): string[] {
  try {
    return (readdirSync(root, { recursive: true }) as string[]).filter((n) => PARTIAL_NAME.test(n)).sort();
  } catch {
    return [];
  }
}

/**
 * A Keras-1-layout .h5 (the official files' layout, as src/hosts/node/keras/syntheticH5.ts writes it) of
 * `model` with every weight `value`: the converter's full-size input in a second or two, where seeded
 * He-normal weights take ~8 s to draw. The values mean nothing; the shapes and the layout are what is read.
 */
export async function writeConstantKerasH5(path: string, model: ModelSpec, value = 1e-3): Promise<void> {
  const { default: h5wasm, File: H5File } = await import('h5wasm/node');
  await h5wasm.ready;
  const fixed = (list: string[]) => `S${Math.max(1, ...list.map((s) => s.length))}`;
  const f = new H5File(path, 'w', { libver: ['earliest', 'v108'] });
  try {
    const layers = inferShapes(model);
    const names = layers.map((l) => l.layer.name);
    f.create_attribute('layer_names', names, [names.length], fixed(names));
    for (const l of layers) {
      const g = f.create_group(l.layer.name);
      const weightNames = l.weights.map((w) => `${l.layer.name}_${w.name.endsWith('/kernel') ? 'W' : 'b'}_1:0`);
      g.create_attribute('weight_names', weightNames, [weightNames.length], fixed(weightNames));
      l.weights.forEach((w, i) => g.create_dataset({ name: weightNames[i], data: new Float32Array(elementCount(w.shape)).fill(value), shape: w.shape, dtype: '<f' }));
    }
  } finally {
    f.close();
  }
}
