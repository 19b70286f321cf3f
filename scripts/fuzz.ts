// npm run fuzz -- [options] (see --help)
// Longer fuzzing runs than the test suite's (test/fuzz.test.ts): seeded mutations of valid files for
// every parser a user's file reaches, each case classified as a result that passes its sanity check,
// our own one-line error, or a failure (crash, another exception class, a message of several lines or
// without the file's name, over the time limit, a jump in peak memory). Failing inputs are written to
// --out for reproduction, one file per case with what was done to it in its name. Exit code 1 when any
// case fails. The mutators, targets and runner are in test/support/fuzz.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_LIMITS, fuzz, fuzzTarget, PARSERS, type ParserName } from '../test/support/fuzz.js';
import { choiceFlag, integerFlag, parseCommandLine, runCli, type CommandSpec, type OptionSpec } from './lib/cli.js';

const SPEC = {
  usage: 'npm run fuzz -- [options]',
  summary:
    'Mutates valid .h5, PNG, JPEG, manifest.json and .npy files (seeded: the same options give the same cases)\n' +
    'and runs each through the parser a user\'s file reaches; prints, per parser, how many cases decoded, how\n' +
    'many ended in our one-line error, and every failure; exits 1 if any case failed.',
  positionals: { min: 0, max: 0, what: 'none' },
  options: {
    parser: { type: 'string', value: `${PARSERS.join('|')}|all`, default: 'all', help: 'which parser to fuzz' },
    cases: { type: 'string', value: '<n>', default: '5000', help: 'cases per parser' },
    from: { type: 'string', value: '<i>', default: '0', help: 'first case number (with --cases 1: rerun one case)' },
    seed: { type: 'string', value: '<n>', default: '1', help: 'seed of the mutations (the test suite uses 1 with 500 cases)' },
    'time-limit': {
      type: 'string',
      value: '<ms>',
      help: `per case (default ${DEFAULT_LIMITS.timeMs}; .h5 5000, as a case may wait for a call into HDF5 to time out after ${DEFAULT_LIMITS.h5CallMs} ms)`,
    },
    out: { type: 'string', value: '<dir>', default: join(tmpdir(), 'gradcam-fuzz-failures'), help: 'where failing inputs are written' },
    messages: { type: 'boolean', help: 'also print the distinct error messages (numbers as N) with their counts' },
  },
  notes: [
    'A failing case is saved as <out>/<parser>-<seed>-<case>.<ext>, with <…>.txt saying what was mutated and\n' +
      'how it failed; rerun it with --parser <parser> --seed <seed> --from <case> --cases 1.',
  ],
} satisfies CommandSpec<Record<string, OptionSpec>>;

const EXTENSION: Record<ParserName, string> = { h5: 'h5', png: 'png', jpeg: 'jpg', manifest: 'json', npy: 'npy' };

runCli(async () => {
  const parsed = parseCommandLine('npm run fuzz --', SPEC);
  if (!parsed) return;
  const { values } = parsed;
  const parsers = values.parser === 'all' ? PARSERS : [choiceFlag('parser', values.parser, PARSERS)];
  const cases = integerFlag('cases', values.cases, 1, 10_000_000)!;
  const first = integerFlag('from', values.from, 0, 2 ** 31 - 1)!;
  const seed = integerFlag('seed', values.seed, 0, 2 ** 31 - 1)!;
  const timeMs = integerFlag('time-limit', values['time-limit'], 1, 3_600_000);
  const out = resolve(values.out);
  const work = mkdtempSync(join(tmpdir(), 'gradcam-fuzz-'));
  let failed = 0;
  console.log(`cases are written to ${join(work, 'cases')}: if one never ends, its input is there`);
  try {
    for (const parser of parsers) {
      const target = await fuzzTarget(parser, join(work, 'seeds'));
      const run = await fuzz(target, join(work, 'cases'), {
        cases,
        first,
        seed,
        limits: timeMs === undefined ? {} : { timeMs },
        onFailure(r, bytes, index) {
          mkdirSync(out, { recursive: true });
          const base = join(out, `${parser}-${seed}-${index}`);
          writeFileSync(`${base}.${EXTENSION[parser]}`, bytes);
          writeFileSync(`${base}.txt`, `${r.seed}: ${r.what}\n${r.detail}\n`);
        },
        onProgress(done) {
          if (done % 1000 === 0 && done < cases) process.stderr.write(`${parser}: ${done} / ${cases}\n`);
        },
      });
      failed += run.failures.length;
      console.log(
        `${parser.padEnd(8)} ${run.cases} cases (seed ${seed}): ${run.ok} decoded, ${run.errors} our error, ${run.failures.length} failed; ` +
          `slowest ${run.slowestMs.toFixed(0)} ms, ${run.seconds.toFixed(1)} s` +
          (run.guard ? `; HDF5 stopped at the time limit ${run.guard.timeouts}×, after an abort ${run.guard.aborts}×` : ''),
      );
      for (const f of run.failures) console.log(`  FAIL ${f.detail}`);
      if (values.messages) for (const [m, n] of [...run.messages].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${m}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (failed) {
    console.log(`${failed} failing inputs written to ${out}`);
    process.exitCode = 1;
  }
});
