// Runs the same kernel cases as test/kernels.test.ts on the browser's WebGPU device and reports
// the outcome on window.__kernelResults (read by test/chrome.test.ts) and on the page.
import { requestBrowserDevice } from '../../src/hosts/browser/device.js';
import { browserKernelCases as kernelCases, missingFeatures } from '../kernels/cases.js';

export interface BrowserResults {
  done: boolean;
  total: number;
  passed: string[];
  /** Cases of versions that need a device feature the adapter lacks. */
  skipped: string[];
  failures: { name: string; message: string }[];
  fatal?: string;
  adapter?: string;
}

declare global {
  interface Window {
    __kernelResults: BrowserResults;
  }
}

const results: BrowserResults = { done: false, total: kernelCases.length, passed: [], skipped: [], failures: [] };
window.__kernelResults = results;
const log = document.getElementById('log')!;
const summary = document.getElementById('summary')!;
const filter = new URLSearchParams(location.search).get('filter');

function line(text: string, cls: string) {
  const li = document.createElement('li');
  li.className = cls;
  li.textContent = text;
  log.append(li);
}

try {
  const device = await requestBrowserDevice();
  const info = (await navigator.gpu.requestAdapter())?.info;
  results.adapter = `${info?.vendor ?? ''} ${info?.architecture ?? ''} ${info?.description ?? ''}`.trim();
  for (const c of kernelCases) {
    if (filter && !c.name.includes(filter)) continue;
    const missing = missingFeatures(c, device);
    if (missing.length) {
      results.skipped.push(c.name);
      line(`- ${c.name}: skipped, the device lacks ${missing.join(', ')}`, 'skip');
      continue;
    }
    const t0 = performance.now();
    try {
      await c.run(device);
      results.passed.push(c.name);
      line(`✓ ${c.name} (${(performance.now() - t0).toFixed(0)} ms)`, 'pass');
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      results.failures.push({ name: c.name, message });
      line(`✗ ${c.name}: ${message}`, 'fail');
    }
  }
  device.destroy();
} catch (e) {
  results.fatal = e instanceof Error ? e.message : String(e);
  line(`fatal: ${results.fatal}`, 'fail');
} finally {
  summary.textContent = `${results.passed.length} passed, ${results.skipped.length} skipped, ${results.failures.length} failed${results.fatal ? ' (fatal error)' : ''}`;
  results.done = true;
}
