// What `npm run bench` writes under bench-results/: per host a dated JSON, latest-<host>.json and
// latest.json (the newest report), latest.md (markdown of the hosts just run) and a PNG chart per host
// (forward GPU time per layer, ours vs TF.js WebGPU), drawn as SVG and rasterised by headless Chromium.
// Every file is written to a temporary name and renamed, so an interrupted run leaves no partial files.
// The markdown and the chart come from src/bench/report.ts, which the bench page uses too.
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Browser } from 'puppeteer-core';
import type { BenchReport } from '../../src/bench/run.js';
import { benchMarkdown, layerChartSvg } from '../../src/bench/report.js';
import { launchChromium } from '../../src/bench/chromium.js';
import { withoutSignalListeners, type Cancellation } from './cancel.js';

/**
 * Chromium's single-instance socket lives in a directory of its own under TMPDIR
 * (org.chromium.Chromium.XXXXXX), named by a link in the profile; a browser that is killed rather than
 * closed leaves it behind.
 */
function removeSingletonDir(profile: string): void {
  let socket: string;
  try {
    socket = readlinkSync(join(profile, 'SingletonSocket'));
  } catch {
    return;
  }
  if (/^org\.chromium\./.test(basename(dirname(socket)))) rmSync(dirname(socket), { recursive: true, force: true });
}

/**
 * Kills the browser whose profile is `profile`, at once: its process group when the launch has returned
 * it, and (Linux) every process whose command line names the profile, which covers a launch still
 * in progress. Elsewhere puppeteer's own 'exit' listener kills a browser being launched, a moment later.
 */
function killBrowser(profile: string, pid: number | undefined): void {
  const kill = (target: number) => {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // Gone already.
    }
  };
  if (pid) kill(-pid);
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return;
  }
  for (const p of pids) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`--user-data-dir=${profile}`)) kill(Number(p));
    } catch {
      // Gone between the listing and the read.
    }
  }
}

/**
 * Headless Chromium that a Ctrl-C closes (scripts/lib/cancel.ts). Its profile is our own temporary
 * directory, listed in `cancel.temps`: removed however the process ends, even in the moment before
 * the signal listeners puppeteer adds during the launch are taken back (its SIGINT one exits at once).
 */
export async function launchStoppableChromium(cancel: Cancellation | undefined): Promise<{ browser: Browser; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'gradcam-chromium-'));
  cancel?.temps.add(profile);
  const removeProfile = () => {
    removeSingletonDir(profile);
    rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
    cancel?.temps.delete(profile);
  };
  let browser: Browser | undefined;
  // A second Ctrl-C does not wait for close(), and a signal during the launch does not wait for it to
  // end: the browser is killed, and its socket directory removed, before its profile is.
  const unhookExit = cancel?.onExit(() => {
    killBrowser(profile, browser?.process()?.pid);
    removeSingletonDir(profile);
  });
  try {
    browser = await withoutSignalListeners(() => launchChromium([`--user-data-dir=${profile}`]));
  } catch (e) {
    unhookExit?.();
    removeProfile();
    throw e;
  }
  const unhook = cancel?.onStop(async () => {
    await browser!.close();
    unhookExit?.();
  });
  return {
    browser,
    async close() {
      unhook?.();
      unhookExit?.();
      try {
        await browser!.close();
      } finally {
        removeProfile();
      }
    },
  };
}

async function renderPngs(svgs: string[], cancel: Cancellation | undefined): Promise<Uint8Array[]> {
  const { browser, close } = await launchStoppableChromium(cancel);
  try {
    const page = await browser.newPage();
    const out: Uint8Array[] = [];
    for (const svg of svgs) {
      await page.setContent(`<!doctype html><body style="margin:0">${svg}</body>`);
      const el = await page.$('svg');
      out.push(await el!.screenshot({ type: 'png' }));
    }
    return out;
  } finally {
    await close();
  }
}

function writeAtomically(files: { path: string; data: string | Uint8Array }[]): void {
  const tmp = files.map((f) => `${f.path}.${process.pid}.tmp`);
  try {
    files.forEach((f, i) => writeFileSync(tmp[i], f.data));
    files.forEach((f, i) => renameSync(tmp[i], f.path));
  } finally {
    for (const t of tmp) rmSync(t, { force: true });
  }
}

/** Writes the reports of this run; returns the markdown printed on stdout. */
export async function writeBenchResults(outDir: string, reports: BenchReport[], command: string, cancel?: Cancellation): Promise<{ markdown: string; files: string[] }> {
  const withChart = reports.filter((r) => r.layers.length > 0);
  const pngs = await renderPngs(withChart.map(layerChartSvg), cancel);
  const files: { path: string; data: string | Uint8Array }[] = [];
  for (const r of reports) {
    const json = JSON.stringify(r, null, 1);
    files.push({ path: join(outDir, `${r.date.replace(/[:.]/g, '-')}-${r.host}.json`), data: json });
    files.push({ path: join(outDir, `latest-${r.host}.json`), data: json });
  }
  withChart.forEach((r, i) => files.push({ path: join(outDir, `latest-${r.host}-layers.png`), data: pngs[i] }));
  // latest.json: the newest report (the last host run).
  files.push({ path: join(outDir, 'latest.json'), data: JSON.stringify(reports.at(-1), null, 1) });
  const markdown = benchMarkdown(reports, `Command: \`${command}\``);
  files.push({ path: join(outDir, 'latest.md'), data: markdown });
  // Created only now: a run stopped before this point leaves no empty directory either.
  mkdirSync(outDir, { recursive: true });
  writeAtomically(files);
  return { markdown, files: files.map((f) => f.path) };
}
