import { requestNodeDevice } from '../../src/hosts/node/device.js';

/** One device per test file; fails the test file loudly if Dawn finds no adapter. */
export async function testDevice(): Promise<GPUDevice> {
  return requestNodeDevice();
}
