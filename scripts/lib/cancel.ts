// Ctrl-C and SIGTERM for the commands that write files (weights, convert, gradcam on one image, bench):
// they stop with nothing partial left behind, say so in one line, and exit with 130 (SIGINT) or 143
// (SIGTERM). Node's own reaction to both signals ends the process on the spot, without running a
// `finally`: the temporary directory beside a conversion's output, the synthetic .h5 under the system's
// temporary directory and Chromium's profile directory stayed behind.
// The handler runs between two turns of the event loop, never inside a synchronous write or rename, so
// every file the commands write (under a temporary name, then renamed) is whole or absent when it runs.
// It aborts `signal` (work that watches it stops), runs the stop hooks (closing a browser removes its
// profile), removes the paths in `temps`, prints the line and exits. A second signal exits at once:
// the exit hooks kill what would still write (a browser) and the paths in `temps` are removed all the
// same. They are also removed when the process exits any other way (an error, another library's
// process.exit). Long synchronous work would hold the handler off: the converter yields between
// chunks, and the synthetic weights are drawn in a worker (scripts/lib/syntheticWorker.ts).
import { rmSync } from 'node:fs';

export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

/** The reason `Cancellation.signal` is aborted with. */
export class Interrupted extends Error {
  constructor(readonly signal: StopSignal) {
    super(`interrupted by ${signal}`);
    this.name = 'Interrupted';
  }
}

export interface Cancellation {
  /** Aborted at the first signal (reason: Interrupted), for work that can stop by itself. */
  readonly signal: AbortSignal;
  /**
   * Paths (files or directories) being written under temporary names: add one before its first byte,
   * delete it once renamed into place. Whatever is in it when the command stops is removed.
   */
  readonly temps: Set<string>;
  /** What the command is doing now ('converting a.h5 into weights/vgg16') and, optionally, what a stop leaves ('weights/vgg16 as it was'). */
  doing(stage: string, outcome?: string): void;
  /** Run at the first signal before exiting, newest first, for at most `hookMs` together: closing a browser, a server. */
  onStop(hook: () => unknown): () => void;
  /**
   * Synchronous, run just before the paths in `temps` are removed however the process ends (a second
   * signal, an error, an exit by someone else): killing a child that writes into one of them.
   */
  onExit(hook: () => void): () => void;
  /** Takes the handlers off (the command went on to handle signals itself, or a test is done with it). */
  dispose(): void;
}

export interface CancellationOptions {
  log?: (line: string) => void;
  /** Ends the command (default process.exit); when given, process.exitCode is left alone too. */
  exit?: (code: number) => void;
  /** Where SIGINT, SIGTERM and 'exit' come from (default the process; a test gives an EventEmitter). */
  events?: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
  /** How long the stop hooks may take together before the command exits regardless (default 5 s). */
  hookMs?: number;
}

let stoppingBy: StopSignal | undefined;

/** The signal that is stopping the command, if one is: its errors from then on are a consequence, not news. */
export function stoppingSignal(): StopSignal | undefined {
  return stoppingBy;
}

/** Installs the handlers; call it before the first temporary path exists. */
export function cancellation(options: CancellationOptions = {}): Cancellation {
  const log = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const events = options.events ?? process;
  const hookMs = options.hookMs ?? 5000;
  const controller = new AbortController();
  const temps = new Set<string>();
  const hooks: (() => unknown)[] = [];
  const exitHooks: (() => void)[] = [];
  let stage = 'starting';
  let outcome: string | undefined;
  let first: StopSignal | undefined;
  let finished = false;

  /** Runs the exit hooks, then removes what is in `temps`; returns the paths that would not go, with why. */
  const removeTemps = (): string[] => {
    for (const hook of exitHooks.splice(0).reverse()) {
      try {
        hook();
      } catch {
        // Best effort: the removal below says what is left.
      }
    }
    const failed: string[] = [];
    for (const path of temps) {
      try {
        rmSync(path, { recursive: true, force: true, maxRetries: 3 });
        temps.delete(path);
      } catch (e) {
        failed.push(`${path} (${(e as Error).message})`);
      }
    }
    return failed;
  };

  const finish = (signal: StopSignal, again: boolean) => {
    if (finished) return;
    finished = true;
    const failed = removeTemps();
    const what = `interrupted by ${signal}${again ? ' again (stopped at once)' : ''} while ${stage}`;
    if (failed.length) log(`${what}; could not remove ${failed.join(', ')}: delete ${failed.length === 1 ? 'it' : 'them'} by hand`);
    else log(`${what}; ${outcome ?? 'nothing partial left behind'}`);
    exit(SIGNAL_EXIT_CODES[signal]);
  };

  const onSignal = (signal: StopSignal) => {
    if (first) return finish(signal, true);
    first = signal;
    stoppingBy = signal;
    // If the hooks let the work run on to a natural end, the exit code still says what happened.
    if (!options.exit) process.exitCode = SIGNAL_EXIT_CODES[signal];
    controller.abort(new Interrupted(signal));
    if (hooks.length === 0) return finish(signal, false);
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, hookMs).unref());
    const stops = Promise.allSettled([...hooks].reverse().map(async (hook) => hook()));
    void Promise.race([stops, deadline]).then(() => finish(signal, false));
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  const onExit = () => void removeTemps();
  events.on('SIGINT', onInt);
  events.on('SIGTERM', onTerm);
  events.on('exit', onExit);

  return {
    signal: controller.signal,
    temps,
    doing(what, after) {
      stage = what;
      outcome = after;
    },
    onStop(hook) {
      hooks.push(hook);
      return () => void (hooks.includes(hook) && hooks.splice(hooks.indexOf(hook), 1));
    },
    onExit(hook) {
      exitHooks.push(hook);
      return () => void (exitHooks.includes(hook) && exitHooks.splice(exitHooks.indexOf(hook), 1));
    },
    dispose() {
      events.off('SIGINT', onInt);
      events.off('SIGTERM', onTerm);
      events.off('exit', onExit);
      if (stoppingBy === first) stoppingBy = undefined;
    },
  };
}

const PROCESS_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs `launch` (puppeteer.launch underneath) and takes back the signal listeners it adds: puppeteer's
 * SIGINT listener kills the browser and exits on the spot, leaving its profile directory under the
 * system's temporary directory and skipping every other handler; its SIGTERM one closes the browser and
 * lets the command run on without it. A command that closes the browser in a stop hook (which removes
 * the profile) needs neither; puppeteer's 'exit' listener stays, killing the browser however the process ends.
 */
export async function withoutSignalListeners<T>(launch: () => Promise<T>): Promise<T> {
  const before = new Map(PROCESS_SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  try {
    return await launch();
  } finally {
    for (const s of PROCESS_SIGNALS) for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.off(s, l as () => void);
  }
}
