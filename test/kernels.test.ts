import { afterAll, beforeAll, describe, it } from 'vitest';
import { kernelCases } from './kernels/cases.js';
import { testDevice } from './support/nodeDevice.js';

let device: GPUDevice;
beforeAll(async () => {
  device = await testDevice();
});
afterAll(() => device?.destroy());

describe('kernels vs float64 CPU references (Dawn)', () => {
  it.each(kernelCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await c.run(device);
  });
});
