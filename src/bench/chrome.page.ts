// The Chrome host of `npm run bench`: the configuration comes in the URL (?config=<json>), progress
// goes to the console (relayed by scripts/bench.ts), the report to window.__bench. The bench page
// (src/app/bench.ts) is the same run with a form and a report view, for people in their own browser.
import { requestBrowserDevice } from '../hosts/browser/device.js';
import { localStorageTuningStore } from '../hosts/browser/tuningStore.js';
import { vgg16AtSize } from './config.js';
import { runBench, type BenchConfig, type BenchReport } from './run.js';
import { browserPeer } from './tfjsPeer.browser.js';

/** What scripts/bench.ts passes: BenchConfig with the model named by input size. */
export type ChromeBenchConfig = Omit<BenchConfig, 'model'> & { size: number };

declare global {
  interface Window {
    __bench: { done: boolean; report?: BenchReport; error?: string };
  }
}

window.__bench = { done: false };
const logEl = document.getElementById('log')!;
const log = (line: string) => {
  console.log(`bench: ${line}`);
  logEl.textContent += `${line}\n`;
};

async function main() {
  const config = JSON.parse(new URLSearchParams(location.search).get('config') ?? '{}') as ChromeBenchConfig;
  const model = vgg16AtSize(config.size);
  const device = await requestBrowserDevice(model);
  try {
    const report = await runBench(device, { name: 'chrome', log, peer: browserPeer, tuningStore: localStorageTuningStore() }, { ...config, model });
    window.__bench = { done: true, report };
  } finally {
    device.destroy();
  }
}

main().catch((e: unknown) => {
  const message = e instanceof Error ? e.message : String(e);
  logEl.className = 'error';
  log(`error: ${message}`);
  window.__bench = { done: true, error: message };
});
