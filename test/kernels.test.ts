import { afterAll, beforeAll, describe, it } from 'vitest';
import { kernelCases, missingFeatures } from './kernels/cases.js';
import { testDevice } from './support/nodeDevice.js';

let device: GPUDevice;
beforeAll(async () => {
  device = await testDevice();
});
afterAll(() => device?.destroy());

describe('kernels vs float64 CPU references (Dawn)', () => {
  // Versions that need a device feature (shader-f16, subgroups) are skipped, with the reason, where the adapter lacks it.
  it.for(kernelCases.map((c) => [c.name, c] as const))('%s', async ([, c], ctx) => {
    const missing = missingFeatures(c, device);
    if (missing.length) ctx.skip(`the device lacks ${missing.join(', ')}`);
    await c.run(device);
  });
});
