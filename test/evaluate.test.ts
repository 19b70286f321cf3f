// `npm run evaluate`'s arguments: each mistake is one line (exit 2) before any weight is read or GPU
// opened. The end-to-end run on full-size weights is test/evaluate-full.test.ts (npm run test:full).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const evaluate = (...args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', '--import', './scripts/lib/registerRaw.js', 'scripts/evaluate.ts', ...args]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('npm run evaluate: arguments', () => {
  it.each([
    [['--metrics', 'speed'], /--metrics speed: choose deletion, insertion, road, confidence or sanity/],
    [['--methods', 'gradcam,gradcam'], /--methods gradcam,gradcam: an entry is listed twice/],
    [['--methods', 'gradcam,lime'], /--methods lime: choose gradcam, /],
    [['--percentiles', '0,50'], /--percentiles 0,50: each a % of pixels kept, strictly between 0 and 100/],
    [['--steps', '0'], /--steps 0: must be an integer in 1\.\.1024/],
    [['--methods', 'saliency', '--layer', 'block5_conv3'], /--layer: saliency take no layer/],
    [['--layer', 'block9_conv1'], /--layer block9_conv1: not a conv layer; choose one of block1_conv1/],
  ] as const)('%s', async (args, message) => {
    const r = await evaluate('photo.png', '--weights', '/nonexistent/weights', ...args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});
