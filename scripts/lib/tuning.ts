// `--tune auto|force|off` and `--verbose` for the command-line scripts: the per-device kernel choice,
// cached on disk (src/hosts/node/tuningStore.ts), with one line on stderr saying where it came from.
import { UsageError, type OptionSpec } from './cli.js';
import { describeTuning, fileTuningStore, type Tuning, type TuningMode } from '../../src/node.js';

/** The flags every command that runs the engine takes, for its option table. */
export const TUNE_OPTIONS = {
  tune: {
    type: 'string',
    value: 'auto|force|off',
    default: 'auto',
    help: 'kernel choice for this GPU: auto (measure once, then cached), force (measure again), off (default versions)',
  },
  verbose: { type: 'boolean', short: 'v', help: 'print the kernel choice, the kernel of every layer and the GPU time per stage' },
} as const satisfies Record<string, OptionSpec>;

export function parseTuneMode(value: string | undefined): TuningMode {
  const v = value ?? 'auto';
  if (v !== 'auto' && v !== 'force' && v !== 'off') throw new UsageError(`--tune ${v}: choose auto (tune once per GPU, then use the cache), force (tune again) or off (default versions)`);
  return v;
}

/**
 * The command-line face of the kernel choice: one line when a new device starts being tuned (every
 * measurement with --verbose), then where the choice came from (and each choice with --verbose).
 */
export function tuningLog(mode: TuningMode, verbose: boolean, log: (line: string) => void) {
  let announced = false;
  const where = fileTuningStore().where;
  return {
    onTuningProgress(line: string) {
      if (!announced) log(`tuning kernels for this GPU${mode === 'auto' ? ` (once; the choice is cached in ${where})` : ''} …`);
      announced = true;
      if (verbose) log(line);
    },
    report(tuning: Tuning) {
      const lines = describeTuning(tuning, where);
      if (verbose) for (const l of lines) log(l);
      else if (tuning.source === 'tuned') log(lines[0]);
    },
  };
}
