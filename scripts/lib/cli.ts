// Small helpers shared by the command-line scripts: one option table per command from which both the
// parser and `--help` are made (so the help cannot drift from the flags), one-line errors, progress
// lines on stderr.
import { parseArgs } from 'node:util';
import type { ConvertResult } from '../../src/hosts/node/keras/convert.js';
import { stoppingSignal } from './cancel.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder shown in the help, e.g. '<dir>'. */
  value?: string;
  default?: string;
  /** One line on what it does. */
  help: string;
}

export interface CommandSpec<O extends Record<string, OptionSpec>> {
  /** How it is run, e.g. 'npm run verify -- [image]'. */
  usage: string;
  /** A few lines on what the command does. */
  summary: string;
  options: O;
  /** Paragraphs after the option list. */
  notes?: string[];
  /** How many positional arguments it takes. */
  positionals: { min: number; max: number; what: string };
}

export type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K]['type'] extends 'boolean' ? boolean : O[K] extends { default: string } ? string : string | undefined;
};

export class UsageError extends Error {}

export function helpText<O extends Record<string, OptionSpec>>(spec: CommandSpec<O>): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`;
    const def = o.default !== undefined ? ` (default: ${o.default})` : '';
    return [flag, `${o.help}${def}`] as const;
  });
  rows.push(['-h, --help', 'print this help and exit']);
  const width = Math.min(30, Math.max(...rows.map(([f]) => f.length)) + 2);
  const lines = rows.map(([f, h]) => (f.length + 2 > width ? `  ${f}\n  ${' '.repeat(width)}${h}` : `  ${f.padEnd(width)}${h}`));
  return [`usage: ${spec.usage}`, '', spec.summary, '', 'options:', ...lines, ...(spec.notes ?? []).flatMap((n) => ['', n])].join('\n');
}

/**
 * Parses argv by the spec. `--help` anywhere prints the help and returns undefined. A string option's
 * value may start with '-' (`--class -1` reaches our range check rather than Node's parser hint);
 * every mistake is a UsageError naming the flag and pointing at --help.
 */
export function parseCommandLine<O extends Record<string, OptionSpec>>(
  command: string,
  spec: CommandSpec<O>,
  argv: string[] = process.argv.slice(2),
): { values: OptionValues<O>; positionals: string[] } | undefined {
  const see = `see '${command} --help'`;
  const byShort = new Map(Object.entries(spec.options).filter(([, o]) => o.short).map(([name, o]) => [`-${o.short}`, name]));
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      args.push(...argv.slice(i));
      break;
    }
    if (a === '--help' || a === '-h') {
      console.log(helpText(spec));
      return undefined;
    }
    const name = a.startsWith('--') ? a.slice(2) : byShort.get(a);
    const option = name !== undefined && !name.includes('=') ? spec.options[name] : undefined;
    if (option?.type === 'string') {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value${option.value ? ` ${option.value}` : ''}; ${see}`);
      args.push(`--${name}=${argv[++i]}`);
    } else args.push(a);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(Object.entries(spec.options).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}) }])),
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    const flag = /'(-[^'\s]*)/.exec(e instanceof Error ? e.message : '')?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${flag ?? ''}; ${see}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(`${flag ?? 'an option'} takes no value; ${see}`);
    throw new UsageError(`${e instanceof Error ? e.message : String(e)}; ${see}`);
  }
  const { min, max, what } = spec.positionals;
  const positionals = parsed.positionals;
  if (positionals.length < min || positionals.length > max) {
    const expected = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw new UsageError(`expected ${expected} argument${max === 1 ? '' : 's'} (${what}), got ${positionals.length}${positionals.length ? `: ${positionals.join(' ')}` : ''}; ${see}`);
  }
  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, o] of Object.entries(spec.options)) {
    const v = parsed.values[name];
    values[name] = o.type === 'boolean' ? v === true : typeof v === 'string' ? v : o.default;
  }
  return { values: values as OptionValues<O>, positionals };
}

/** An integer flag within [min, max], with our own message (not Number()'s silent coercions). */
export function integerFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} ${value}: must be an integer in ${min}..${max}`);
  return n;
}

/** One of a fixed list of words. */
export function choiceFlag<T extends string>(name: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`--${name} ${value}: choose ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`);
  return value as T;
}

/**
 * Runs a CLI main: any error becomes one 'error: …' line on stderr and exit code 1 (2 for usage errors).
 * Not while a signal stops the command (scripts/lib/cancel.ts): the work it aborted fails, and the
 * signal's handler says what happened.
 */
export function runCli(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    if (stoppingSignal()) return;
    // Libraries compiled to WebAssembly can throw non-Error values: never print '[object Object]'.
    const message = e instanceof Error ? e.message : typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e);
    process.stderr.write(`error: ${message}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  });
}

/** A progress line that rewrites itself on a terminal and prints every 10% otherwise. */
export function progressPrinter(): { update(text: string, fraction?: number): void; done(): void } {
  const tty = process.stderr.isTTY;
  let lastDecile = -1;
  let dirty = false;
  return {
    update(text, fraction) {
      if (tty) {
        process.stderr.write(`\r${text}\x1b[K`);
        dirty = true;
      } else {
        const decile = fraction === undefined ? -1 : Math.floor(fraction * 10);
        if (decile > lastDecile) {
          lastDecile = decile;
          process.stderr.write(`${text}\n`);
        }
      }
    },
    done() {
      if (dirty) process.stderr.write('\n');
      dirty = false;
    },
  };
}

/** The converter's onProgress as a progress line: 'converting: 123.4 / 553.4 MB (22%)'. */
export function conversionProgress(): (bytes: number, total: number) => void {
  const bar = progressPrinter();
  return (bytes, total) => {
    bar.update(`converting: ${(bytes / 1e6).toFixed(1)} / ${(total / 1e6).toFixed(1)} MB (${Math.floor((100 * bytes) / total)}%)`, bytes / total);
    if (bytes === total) bar.done();
  };
}

export function describeConversion(r: ConvertResult): string {
  const mb = r.bytes / 1e6;
  const rss = process.resourceUsage().maxRSS / 1024;
  return (
    `wrote ${r.outDir}: ${r.manifest.model}, ${r.manifest.tensors.length} tensors, ${mb.toFixed(1)} MB in ${r.manifest.shards.length} shards ` +
    `(${r.seconds.toFixed(1)} s, ${(mb / r.seconds).toFixed(0)} MB/s, peak RSS ${rss.toFixed(0)} MB)`
  );
}
