// When the GPU goes away or refuses work (src/engine/deviceErrors.ts): a device destroyed or lost in
// the middle of GradCam.create, run or explain rejects with the engine's own DeviceLostError (never a
// bare AbortError, never a hang), later calls are refused at once, and after dispose() the ledger of
// GPU memory is back to zero; a buffer the GPU refuses (a validation error injected by asking for more
// than maxBufferSize, the way an oversized tensor would) is caught by the error scopes and reported as
// GpuCommandError, with every cache freed and the engine usable again; out-of-memory is classified by
// its scope. Then the gradcam CLI on a device lost mid-run (the GRADCAM_FAULT test hook): one line,
// exit code 1, no file written.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceLostError, GpuCommandError, guardDevice } from '../src/engine/deviceErrors.js';
import { GradCam } from '../src/engine/gradcam.js';
import { compileKernel } from '../src/kernels/kernel.js';
import { gpuMemory } from '../src/engine/gpuMemory.js';
import { VGG16, type ModelSpec } from '../src/engine/model.js';
import { heNormalWeights } from '../src/engine/synthetic.js';
import { layoutManifest, MANIFEST_FILE } from '../src/engine/weights/format.js';
import { injectFault, requestNodeDevice } from '../src/hosts/node/device.js';
import { syntheticPhoto } from './support/images.js';
import { MICRO_VGG } from './support/microVgg.js';

const weights = heNormalWeights(MICRO_VGG, { seed: 8, classifierGain: 0.05 });
const image = syntheticPhoto(23, 17, 2);
const ledger = (device: GPUDevice) => {
  const { buffers, bytes } = gpuMemory(device);
  return { buffers, bytes };
};

/** Makes the first device.createBuffer whose label is `label` ask for more than maxBufferSize (a real validation error); returns the undo. */
function oversize(device: GPUDevice, label: string): () => void {
  const original = device.createBuffer;
  let done = false;
  device.createBuffer = (d: GPUBufferDescriptor) => {
    if (done || d.label !== label) return original(d);
    done = true;
    return original({ ...d, size: device.limits.maxBufferSize + 4 });
  };
  return () => void (device.createBuffer = original);
}

describe('a device destroyed mid-call: our error, no hang, nothing leaked', () => {
  it('GradCam.create: destroyed while its pipelines compile → DeviceLostError, every buffer freed', async () => {
    const device = await requestNodeDevice(MICRO_VGG);
    const compile = device.createComputePipelineAsync.bind(device);
    let calls = 0;
    device.createComputePipelineAsync = (d: GPUComputePipelineDescriptor) => {
      if (++calls === 2) device.destroy();
      return compile(d);
    };
    const error = await GradCam.create(device, MICRO_VGG, weights).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceLostError);
    expect((error as Error).message).toMatch(/^GradCam\.create\(microvgg\): the GPU device was destroyed \(device\.destroy\(\) was called\) while this call needed it; open the engine again on a new device$/);
    expect(ledger(device)).toEqual({ buffers: 0, bytes: 0 });
  });

  it('run: destroyed between Ablation-CAM chunks → DeviceLostError; then every call is refused at once; dispose() frees all', async () => {
    const device = await requestNodeDevice(MICRO_VGG);
    const cam = await GradCam.create(device, MICRO_VGG, weights);
    const error = await cam
      .run(image, { method: 'ablationcam', layer: 'block2_conv1', batchRows: 4, onProgress: (done) => void (done === 4 && device.destroy()) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceLostError);
    expect((error as Error).message).toMatch(/^GradCam\.run\(\): the GPU device was destroyed/);
    const t0 = performance.now();
    await expect(cam.explain({ classIndex: 1 })).rejects.toThrow(/^GradCam\.explain\(\): the GPU device was destroyed/);
    await expect(cam.run(image)).rejects.toBeInstanceOf(DeviceLostError);
    expect(performance.now() - t0).toBeLessThan(1000);
    cam.dispose();
    expect(ledger(device)).toEqual({ buffers: 0, bytes: 0 });
  });

});

describe('the GPU refusing work, then lost: error scopes, our message, caches freed', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    device = await requestNodeDevice(MICRO_VGG);
  });
  afterAll(() => device?.destroy());

  it('create: a refused activation buffer → GpuCommandError (validation), nothing left allocated', async () => {
    const before = ledger(device);
    const undo = oversize(device, 'activations 0');
    const error = await GradCam.create(device, MICRO_VGG, weights)
      .catch((e: unknown) => e)
      .finally(undo);
    expect(error).toBeInstanceOf(GpuCommandError);
    expect((error as GpuCommandError).kind).toBe('validation');
    expect((error as Error).message).toMatch(/^GradCam\.create\(microvgg\): WebGPU refused a command \(validation: .*exceeds the max buffer size limit.*\); the buffers this call made were freed\./);
    expect(ledger(device)).toEqual(before);
  });

  it('run: a refused heatmap buffer → GpuCommandError; caches freed to what create() made; the next run works', async () => {
    const cam = await GradCam.create(device, MICRO_VGG, weights);
    const created = ledger(device);
    const good = await cam.run(image, { layer: 'block2_conv1', classIndex: 4 });
    // Another method: a new map plan, whose heatmap buffer is refused.
    const undo = oversize(device, 'heatmap block2_conv1');
    const error = await cam
      .run(image, { layer: 'block2_conv1', method: 'gradcam++' })
      .catch((e: unknown) => e)
      .finally(undo);
    expect(error).toBeInstanceOf(GpuCommandError);
    expect((error as Error).message).toMatch(/^GradCam\.run\(\): WebGPU refused a command \(validation: .*max buffer size/);
    expect(ledger(device)).toEqual(created);
    expect(cam.cacheSizes()).toMatchObject({ plans: 0, gradients: 0, overlays: 0, imageUploads: 0, readbackBuffers: 0 });
    // The refused plan was not kept: the same call now works, and the first map is what it was.
    const again = await cam.run(image, { layer: 'block2_conv1', classIndex: 4 });
    expect(again.heatmap.data).toEqual(good.heatmap.data);
    expect((await cam.run(image, { layer: 'block2_conv1', method: 'gradcam++' })).heatmap.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    cam.dispose();
  });

  it('a model whose tensor exceeds the device limits is refused by name before anything is allocated', async () => {
    // 2048×2048 input, 16 filters: block1_conv1 is 256 MiB, above the default 128 MiB binding limit.
    const big: ModelSpec = {
      name: 'bigvgg',
      inputShape: [2048, 2048, 3],
      layers: [
        { name: 'block1_conv1', kind: 'conv3x3', filters: 16, activation: 'relu' },
        ...[1, 2, 3, 4, 5].map((i) => ({ name: `pool${i}`, kind: 'maxpool2x2' as const })),
        { name: 'flatten', kind: 'flatten' },
        { name: 'predictions', kind: 'dense', units: 10, activation: 'softmax' },
      ],
    };
    const before = gpuMemory(device);
    await expect(GradCam.create(device, big, heNormalWeights(big))).rejects.toThrow(
      new RegExp(`^bigvgg: tensor 'block1_conv1' \\(2048×2048×16 float32\\) needs a 268435456-byte buffer, above this device's maxStorageBufferBindingSize of ${device.limits.maxStorageBufferBindingSize}; request the device with maxStorageBufferBindingSize raised`),
    );
    expect(gpuMemory(device).created).toBe(before.created);
  });

  it("a shader that does not compile, inside an engine call: the compiler's message, not the bare scope error", async () => {
    const broken = { label: 'broken', code: '@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }', entryPoint: 'main', bindings: [] };
    const error = await guardDevice(device, 'GradCam.run()', () => compileKernel(device, broken)).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(GpuCommandError);
    expect((error as Error).message).toMatch(/^Could not build the compute pipeline 'broken': [^]*\n  error at broken:1:\d+: cannot convert/);
  });

  it('a driver reset (the GRADCAM_FAULT hook: lost at a submission) in explain() → DeviceLostError with the reason and what to do', async () => {
    // Last on this device: it does not survive.
    const before = ledger(device);
    const cam = await GradCam.create(device, MICRO_VGG, weights);
    injectFault(device, 'device-lost:submit:2');
    const r = await cam.run(image, { layer: 'block2_conv1' });
    expect(r.heatmap.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    const error = await cam.explain({ layer: 'block2_conv1', classIndex: 3 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceLostError);
    expect((error as DeviceLostError).loss).toEqual({ reason: 'unknown', message: 'device-lost:submit:2 (GRADCAM_FAULT test hook)' });
    expect((error as Error).message).toMatch(
      /^GradCam\.explain\(\): the GPU device was lost \(unknown: device-lost:submit:2 \(GRADCAM_FAULT test hook\)\); everything on it is gone, so open the engine again on a new device .*close other GPU programs$/,
    );
    expect((error as Error).message).not.toMatch(/\n/);
    await expect(cam.overlay()).rejects.toThrow(/^GradCam\.overlay\(\): the GPU device was lost \(unknown/);
    cam.dispose();
    expect(ledger(device)).toEqual(before);
    expect(() => injectFault(device, 'device-lost:soon')).toThrow(/^GRADCAM_FAULT=device-lost:soon: unknown fault; the test hook takes device-lost:submit:<n>/);
  });
});

describe('guardDevice on a scripted device: out-of-memory, a call that never settles', () => {
  /** A device whose error scopes return what the test says, and whose loss the test triggers. */
  function scriptedDevice(errors: Partial<Record<GPUErrorFilter, string>>) {
    const stack: GPUErrorFilter[] = [];
    let lose!: (info: GPUDeviceLostInfo) => void;
    const device = {
      lost: new Promise<GPUDeviceLostInfo>((r) => (lose = r)),
      pushErrorScope: (filter: GPUErrorFilter) => void stack.push(filter),
      popErrorScope: async () => {
        const filter = stack.pop()!;
        return errors[filter] ? ({ message: errors[filter] } as GPUError) : null;
      },
    } as unknown as GPUDevice;
    return { device, lose: (message: string) => lose({ reason: 'unknown', message } as GPUDeviceLostInfo), depth: () => stack.length };
  }

  it('an out-of-memory error caught by its scope → GpuCommandError after release(), the half-made result freed', async () => {
    const d = scriptedDevice({ 'out-of-memory': 'Allocation of 411 MB failed', validation: 'Buffer is invalid' });
    const freed: string[] = [];
    const error = await guardDevice(d.device, 'GradCam.run()', async () => 'result', { release: () => freed.push('caches'), orphan: (r) => freed.push(r) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuCommandError);
    expect((error as GpuCommandError).kind).toBe('out-of-memory');
    expect((error as Error).message).toBe(
      'GradCam.run(): the GPU ran out of memory (Allocation of 411 MB failed); the buffers this call made were freed. Try a smaller image, fewer targets or batch rows, the f16 weights option, or close other GPU programs',
    );
    expect(freed).toEqual(['result', 'caches']);
    expect(d.depth()).toBe(0);
  });

  it('a call that never settles rejects as soon as the device is lost; its late result is freed', async () => {
    const d = scriptedDevice({});
    let finish!: (v: string) => void;
    const freed: string[] = [];
    const call = guardDevice(d.device, 'GradCam.run()', () => new Promise<string>((r) => (finish = r)), { orphan: (r) => freed.push(r), graceMs: 20 });
    setTimeout(() => d.lose('VK_ERROR_DEVICE_LOST'), 10);
    const t0 = performance.now();
    await expect(call).rejects.toThrow(/^GradCam\.run\(\): the GPU device was lost \(unknown: VK_ERROR_DEVICE_LOST\)/);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(d.depth()).toBe(0);
    finish('late');
    await new Promise((r) => setTimeout(r, 0));
    expect(freed).toEqual(['late']);
    // Later calls are refused before they start.
    await expect(guardDevice(d.device, 'GradCam.explain()', async () => 1)).rejects.toThrow(/^GradCam\.explain\(\): the GPU device was lost/);
  });
});

describe('gradcam CLI on a device lost mid-run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gradcam-lost-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A VGG16 weights directory of zeros (the CLI takes VGG16 or VGG19 only; the run never gets to use them). */
  function zeroWeights(out: string): void {
    const manifest = layoutManifest(VGG16);
    mkdirSync(out, { recursive: true });
    const zeros = new Uint8Array(Math.max(...manifest.shards.map((s) => s.bytes)));
    for (const s of manifest.shards) {
      const bytes = zeros.subarray(0, s.bytes);
      s.sha256 = createHash('sha256').update(bytes).digest('hex');
      writeFileSync(join(out, s.file), bytes);
    }
    writeFileSync(join(out, MANIFEST_FILE), JSON.stringify(manifest));
  }

  it('one error line naming the loss, exit code 1, no overlay, .npy or JSON', async () => {
    const weightsDir = join(dir, 'vgg16');
    zeroWeights(weightsDir);
    const png = new PNG({ width: image.width, height: image.height });
    png.data = Buffer.from(image.data);
    writeFileSync(join(dir, 'photo.png'), PNG.sync.write(png));
    const outDir = join(dir, 'out');
    mkdirSync(outDir);
    const args = [join(dir, 'photo.png'), '--weights', weightsDir, '--tune', 'off', '--json', '--out', join(outDir, 'overlay.png'), '--heatmap', join(outDir, 'heat.npy')];
    const env = { ...process.env, GRADCAM_CACHE_DIR: join(dir, 'cache'), GRADCAM_FAULT: 'device-lost:submit:1' };
    const r = await promisify(execFile)(process.execPath, ['bin/gradcam.js', ...args], { env, maxBuffer: 1 << 20 }).then(
      (x) => ({ code: 0, stdout: x.stdout, stderr: x.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    // The loss in one line; besides it only the weights' progress line.
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => !l.startsWith('loaded vgg16 weights from ')), r.stderr).toHaveLength(1);
    expect(lines[lines.length - 1]).toMatch(/^error: GradCam\.run\(\): the GPU device was lost \(unknown: device-lost:submit:1 \(GRADCAM_FAULT test hook\)\); everything on it is gone, so open the engine again on a new device \(rerun the command, reload the page\)/);
    expect(readdirSync(outDir)).toEqual([]);
  }, 120_000);
});
