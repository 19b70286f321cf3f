// Small helpers shared by the command-line scripts: one-line errors, progress lines on stderr.
import type { ConvertResult } from './convert.js';

/** Runs a CLI main: any error becomes one 'error: …' line on stderr and exit code 1. */
export function runCli(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
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

export function describeConversion(r: ConvertResult): string {
  const mb = r.bytes / 1e6;
  const rss = process.resourceUsage().maxRSS / 1024;
  return (
    `wrote ${r.outDir}: ${r.manifest.model}, ${r.manifest.tensors.length} tensors, ${mb.toFixed(1)} MB in ${r.manifest.shards.length} shards ` +
    `(${r.seconds.toFixed(1)} s, ${(mb / r.seconds).toFixed(0)} MB/s, peak RSS ${rss.toFixed(0)} MB)`
  );
}
