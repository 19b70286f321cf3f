// `npm run evaluate` end to end on full-size synthetic VGG16 weights (opt-in: `npm run test:full`; about
// 1–2 minutes on a 2-core CPU): one image, the deletion curve at one step (two batched rows: the image
// and its fully blurred copy); the metrics' numbers themselves are checked against references in
// test/metrics.test.ts, the arguments in test/evaluate.test.ts.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticPhoto } from './support/images.js';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-evaluate-'));
const weights = join(dir, 'vgg16');
const image = join(dir, 'photo.png');
const SCRIPT = ['--import', 'tsx', '--import', './scripts/lib/registerRaw.js'];

function run(args: string[]) {
  return promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 24, env: { ...process.env, GRADCAM_CACHE_DIR: join(dir, 'cache') } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}
const evaluate = (...args: string[]) => run([...SCRIPT, 'scripts/evaluate.ts', ...args]);

beforeAll(async () => {
  const r = await run([...SCRIPT, 'scripts/weights.ts', '--synthetic', '--seed', '3', '--out', weights]);
  expect(r.stderr).not.toMatch(/^error/m);
  const img = syntheticPhoto(96, 80, 5);
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data);
  writeFileSync(image, PNG.sync.write(png));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run evaluate', () => {
  it('--json and --out: the numbers on stdout, metrics.json and a chart PIL can open', async () => {
    const out = join(dir, 'report');
    const r = await evaluate(image, '--weights', weights, '--metrics', 'deletion', '--steps', '1', '--out', out, '--json', '--tune', 'off');
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout.trim());
    expect(json.predictions).toHaveLength(5);
    const [res] = json.results;
    expect(res.method).toBe('gradcam');
    expect(res.classIndex).toBe(json.predictions[0].index);
    expect(res.deletion.fractions).toEqual([0, 1]);
    expect(res.deletion.scores[0]).toBeCloseTo(json.predictions[0].probability, 5);
    expect(res.deletion.auc).toBeCloseTo((res.deletion.scores[0] + res.deletion.scores[1]) / 2, 10);
    expect(res.summary).toEqual({ deletionAuc: res.deletion.auc });
    expect(res.mapShape).toEqual([224, 224]);
    const saved = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(saved.results[0].deletion).toEqual(res.deletion);
    const size = execFileSync('/usr/bin/python3', ['-c', 'import sys; from PIL import Image; im = Image.open(sys.argv[1]); print(im.size[0], im.size[1], im.mode)', join(out, 'deletion.png')]).toString().trim();
    expect(size).toBe('640 400 RGBA');
    expect(existsSync(join(out, 'insertion.png'))).toBe(false);
  }, 300_000);
});
