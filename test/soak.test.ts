// Soak: 1,000 Grad-CAM runs in one engine on a very small VGG-shaped model (test/support/soak.ts says
// what the cycle varies and what is checked): GPU memory held, by the engine's own ledger of every
// buffer, is back to the same value one cycle later; every cache stays within its cap and stops
// growing; the JS heap and RSS stay within the bounds below after warm-up. Then inputs that never
// repeat (a new image size, batch rows and class set every run) against the caps, and releaseCaches()
// against the memory create() allocated. The full-size version is `npm run soak` (scripts/soak.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GradCam, MAX_PLANS } from '../src/engine/gradcam.js';
import { gpuMemory } from '../src/engine/gpuMemory.js';
import { MAX_PERTURBATION_PLANS } from '../src/engine/perturbationCam.js';
import { heNormalWeights } from '../src/engine/synthetic.js';
import { COLORMAPS } from '../src/kernels/colormaps.js';
import { syntheticPhoto } from './support/images.js';
import { testDevice } from './support/nodeDevice.js';
import { formatSoakReport, runSoak } from './support/soak.js';
import { MICRO_VGG } from './support/microVgg.js';

const RUNS = 1000;
const PERIOD = 100;
/**
 * JS heap growth allowed from the end of warm-up to the end, after a full collection. A run's result is
 * ≥ 5 KiB on average (the overlay of these images alone: 5.2 KiB), so keeping one per run would add
 * ≥ 4 MiB over the 800 checked runs. What it grows without a leak is V8 settling (optimised code,
 * feedback): 0.4–0.6 MiB here, flat after ~2,000 calls in longer runs.
 */
const HEAP_BOUND = 2 * 2 ** 20;
/**
 * RSS growth allowed over the same runs. RSS moves by tens of MiB either way as malloc arenas and
 * SwiftShader's routine caches grow and shrink (−37 to +25 MiB measured), so this only catches a native
 * leak of ≥ 50 KiB per call (1,300 calls); GPU buffers, host memory on SwiftShader, the ledger counts exactly.
 */
const RSS_BOUND = 64 * 2 ** 20;

let device: GPUDevice;
beforeAll(async () => {
  device = await testDevice();
});
afterAll(() => device?.destroy());

const weights = heNormalWeights(MICRO_VGG, { seed: 8, classifierGain: 0.05 });
const images = [syntheticPhoto(16, 16, 1), syntheticPhoto(37, 29, 2), syntheticPhoto(64, 48, 3), syntheticPhoto(24, 40, 4)];

describe('soak', () => {
  it(`${RUNS} runs: the GPU ledger repeats every cycle, caches plateau within their caps, heap and RSS stay bounded`, async () => {
    const before = gpuMemory(device);
    const cam = await GradCam.create(device, MICRO_VGG, weights);
    const report = await runSoak(cam, { runs: RUNS, period: PERIOD, profile: 'tiny', images });
    console.log(formatSoakReport(report).join('\n'));
    expect(report.badResults).toEqual([]);
    expect(report.mismatches).toEqual([]);
    const caps = report.cacheMax;
    expect(caps.plans).toBeLessThanOrEqual(MAX_PLANS);
    expect(caps.perturbationPlans).toBeLessThanOrEqual(MAX_PERTURBATION_PLANS);
    expect(caps.batchedNetworks).toBeLessThanOrEqual(MAX_PERTURBATION_PLANS + 2);
    expect(caps.colormaps).toBeLessThanOrEqual(COLORMAPS.length);
    expect(caps.imageUploads).toBe(1);
    // The cycle asks for more plans than the LRU keeps: eviction ran, and was undone a cycle later.
    expect(report.end.cache.plans).toBe(MAX_PLANS);
    expect(report.end.cache.pipelines).toBe(report.warm.cache.pipelines);
    expect(report.heapGrowth).toBeLessThan(HEAP_BOUND);
    expect(report.rssGrowth).toBeLessThan(RSS_BOUND);
    // Everything beyond what create() allocated is a cache: released, the ledger is back there.
    expect(report.afterRelease).toEqual(report.created);
    cam.dispose();
    expect(gpuMemory(device)).toMatchObject({ buffers: before.buffers, bytes: before.bytes });
  }, 300_000);

  it('inputs that never repeat (image size, class set, target count, batch rows) keep every cache within its cap', async () => {
    const before = gpuMemory(device);
    const cam = await GradCam.create(device, MICRO_VGG, weights);
    const created = gpuMemory(device);
    const seen: { buffers: number; bytes: number }[] = [];
    for (let i = 0; i < 30; i++) {
      const size = { w: 11 + 3 * i, h: 50 - i };
      const n = 1 + ((i * 5) % 9);
      const targets = Array.from({ length: n }, (_, j) => ({ kind: 'class' as const, classIndex: (i + 3 * j) % 10 }));
      const options = i % 8 === 7 ? { method: 'ablationcam' as const, layer: 'block2_conv1', batchRows: 2 + (i >> 3) } : { method: 'gradcam' as const, layer: i % 2 ? 'block1_conv1' : 'block2_conv1', targets };
      const r = await cam.run(syntheticPhoto(size.w, size.h, i), options);
      expect(r.overlay!.width).toBe(size.w);
      const c = cam.cacheSizes();
      expect(c.plans).toBeLessThanOrEqual(MAX_PLANS);
      expect(c.perturbationPlans).toBeLessThanOrEqual(MAX_PERTURBATION_PLANS);
      expect(c.batchedNetworks).toBeLessThanOrEqual(MAX_PERTURBATION_PLANS);
      expect(c.imageUploads).toBe(1);
      // One overlay table per map size (block1_conv1 8×8, block2_conv1 4×4) onto the current image only.
      expect(c.overlayTables).toBeLessThanOrEqual(2);
      expect(c.overlays).toBeLessThanOrEqual(c.plans);
      const { buffers, bytes } = gpuMemory(device);
      seen.push({ buffers, bytes });
    }
    // The ledger levels off once the caches are full (by run 15): were evicted plans and networks not
    // freed, the second 15 runs would add as much again as the first.
    const most = (from: number, to: number, k: 'buffers' | 'bytes') => Math.max(...seen.slice(from, to).map((x) => x[k]));
    expect(most(15, 30, 'buffers')).toBeLessThan(1.25 * most(0, 15, 'buffers'));
    expect(most(15, 30, 'bytes')).toBeLessThan(1.25 * most(0, 15, 'bytes'));
    await cam.releaseCaches();
    expect(gpuMemory(device)).toMatchObject({ buffers: created.buffers, bytes: created.bytes });
    cam.dispose();
    expect(gpuMemory(device)).toMatchObject({ buffers: before.buffers, bytes: before.bytes });
  }, 120_000);
});
