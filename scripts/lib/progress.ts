// Progress of a batch on stderr. On a terminal: one line rewritten with '\r' (done/total, a bar, images
// per second, the time left, the image at work), other lines printed above it. Elsewhere (a pipe, a log
// file, the tests): one plain line per image as it finishes, nothing rewritten.

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/** 0:07, 3:05, 1:02:03. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–:––';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * The terminal line: `12/40 [######--------] 1.3 img/s ETA 0:21 photos/a.jpg`, at most `width` columns:
 * the file name is cut first (from the left), then the bar narrows, then goes. `rate` is images per
 * second (undefined before the first image is done).
 */
export function progressLine(done: number, total: number, rate: number | undefined, current: string | undefined, width = 100): string {
  const speed = rate === undefined ? '–.– img/s' : `${rate < 10 ? rate.toPrecision(2) : rate.toFixed(1)} img/s`;
  const eta = rate === undefined || rate <= 0 ? 'ETA –:––' : `ETA ${formatDuration((total - done) / rate)}`;
  const count = `${done}/${total}`;
  const fixed = `${count} ${speed} ${eta}`.length;
  // The bar gets what is left after the numbers and up to 24 columns of the name.
  const nameRoom = current ? Math.min(current.length, 24) + 1 : 0;
  const barWidth = Math.min(20, width - fixed - nameRoom - 3);
  let bar = '';
  if (barWidth >= 5) {
    const filled = total > 0 ? Math.round((barWidth * done) / total) : barWidth;
    bar = ` [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`;
  }
  const head = `${count}${bar} ${speed} ${eta}`;
  if (!current) return head.slice(0, width);
  const room = width - head.length - 1;
  if (room < 4) return head.slice(0, width);
  return `${head} ${current.length > room ? `…${current.slice(current.length - room + 1)}` : current}`;
}

export interface BatchProgress {
  /** An image starts (the terminal line names it). */
  start(label: string): void;
  /** Extra state for the terminal line (e.g. 'scorecam 120/512'); ignored elsewhere. */
  detail(text: string): void;
  /**
   * An image is finished (done or failed): `line` is printed elsewhere than on a terminal, and on a
   * terminal too (above the bar) when `keep`. `counted` images make the rate.
   */
  finished(line: string, options: { counted: boolean; keep?: boolean }): void;
  /** A line that must be seen (a failure, a warning): printed above the bar on a terminal. */
  message(line: string): void;
  /** Clears the bar (before the last lines). */
  end(): void;
}

/**
 * `total` images to work through. `counted` images finished make the rate and the ETA; the rate is over
 * the wall time since the first image started (decoding, the GPU, writing: what the user waits for).
 */
export function batchProgress(total: number, stream: ProgressStream = process.stderr, now: () => number = () => performance.now()): BatchProgress {
  const tty = stream.isTTY === true;
  let done = 0;
  let counted = 0;
  let started: number | undefined;
  let current: string | undefined;
  let extra = '';
  let shownLine = false;
  const rate = () => (started === undefined || counted === 0 ? undefined : counted / ((now() - started) / 1000));
  const draw = () => {
    if (!tty) return;
    const width = Math.max(40, (stream.columns ?? 100) - 1);
    stream.write(`\r${progressLine(done, total, rate(), current && (extra ? `${current} (${extra})` : current), width)}\x1b[K`);
    shownLine = true;
  };
  const clear = () => {
    if (tty && shownLine) stream.write('\r\x1b[K');
    shownLine = false;
  };
  return {
    start(label) {
      started ??= now();
      current = label;
      extra = '';
      draw();
    },
    detail(text) {
      extra = text;
      draw();
    },
    finished(line, options) {
      done++;
      if (options.counted) counted++;
      current = undefined;
      if (!tty) stream.write(`${line}\n`);
      else if (options.keep) this.message(line);
      else draw();
    },
    message(line) {
      clear();
      stream.write(`${line}\n`);
      draw();
    },
    end() {
      clear();
    },
  };
}
