// npm run check:cancel [-- options] (see --help): weights, convert, gradcam and bench killed at every
// point where they have something half done, then run to the end (test/support/cancelMatrix.ts); a
// table of what each left, and exit code 1 if anything was left.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS, runCancelMatrix, type CommandName } from '../test/support/cancelMatrix.js';
import { parseCommandLine, runCli, UsageError, type CommandSpec, type OptionSpec } from './lib/cli.js';

const SPEC = {
  usage: 'npm run check:cancel -- [options]',
  summary:
    'Kills npm run weights, convert, gradcam and bench with SIGINT and SIGTERM (once, and twice in a row) at each\n' +
    'point where they have something half done, checks the exit code (130, 143), the last line, that nothing\n' +
    'partial is left (beside the outputs, in TMPDIR, a browser) and that earlier outputs are as they were; then runs\n' +
    'each to the end. Full-size VGG16: ~10 minutes on SwiftShader (2 cores), most of it gradcam run to the end.',
  positionals: { min: 0, max: 0, what: 'none' },
  options: {
    only: { type: 'string', value: '<a,b,…>', help: `these commands only: ${COMMANDS.join(', ')} (gradcam brings weights: it reads the weights that run makes)` },
    keep: { type: 'boolean', help: 'keep the working directory (printed at the end)' },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

runCli(async () => {
  const parsed = parseCommandLine('npm run check:cancel --', SPEC);
  if (!parsed) return;
  const only = new Set((parsed.values.only?.split(',').map((c) => c.trim()) ?? COMMANDS) as CommandName[]);
  for (const c of only) if (!(COMMANDS as readonly string[]).includes(c)) throw new UsageError(`--only ${parsed.values.only}: '${c}' is not one of ${COMMANDS.join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'gradcam-check-cancel-'));
  const header = ['command', 'killed at', 'signal', 'exit', 'stop (s)', 'run (s)', 'result'];
  console.log(`| ${header.join(' | ')} |\n|${header.map(() => ' --- ').join('|')}|`);
  let failed = 0;
  try {
    await runCancelMatrix(dir, only, (row) => {
      if (row.problems.length) failed++;
      const cells = [row.command, row.point, row.signals || '–', String(row.code), row.stopSeconds?.toFixed(2) ?? '–', row.seconds.toFixed(1), row.problems.length ? `FAILED: ${row.problems.join('; ')}` : 'clean'];
      console.log(`| ${cells.join(' | ')} |`);
    });
  } finally {
    if (parsed.values.keep) console.error(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  if (failed) throw new Error(`${failed} run${failed === 1 ? '' : 's'} left something behind or failed; see the table`);
});
