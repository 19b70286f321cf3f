// What `npm run bench` writes under bench-results/: per host a dated JSON, latest-<host>.json and
// latest.json (the newest report), latest.md (markdown of the hosts just run) and a PNG chart per host
// (forward GPU time per layer, ours vs TF.js WebGPU), drawn as SVG and rasterised by headless Chromium.
// Every file is written to a temporary name and renamed, so an interrupted run leaves no partial files.
// The markdown and the chart come from src/bench/report.ts, which the bench page uses too.
import { renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport } from '../../src/bench/run.js';
import { benchMarkdown, layerChartSvg } from '../../src/bench/report.js';
import { launchChromium } from '../../src/bench/chromium.js';

async function renderPngs(svgs: string[]): Promise<Uint8Array[]> {
  const browser = await launchChromium();
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
    await browser.close();
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
export async function writeBenchResults(outDir: string, reports: BenchReport[], command: string): Promise<{ markdown: string; files: string[] }> {
  mkdirSync(outDir, { recursive: true });
  const withChart = reports.filter((r) => r.layers.length > 0);
  const pngs = await renderPngs(withChart.map(layerChartSvg));
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
  writeAtomically(files);
  return { markdown, files: files.map((f) => f.path) };
}
