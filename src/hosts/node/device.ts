// Node host: a GPUDevice from Dawn (npm package `webgpu`). A hardware adapter is used when Dawn finds
// one; otherwise the SwiftShader Vulkan driver that Debian's chromium package ships is tried.
import { create, globals } from 'webgpu';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestEngineDevice, type EngineDeviceOptions } from '../../engine/device.js';
import { simulateDeviceLoss } from '../../engine/deviceErrors.js';
import { VGG16, type ModelSpec } from '../../engine/model.js';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

// The engine uses the WebGPU constant namespaces (GPUBufferUsage, …) as globals, as in a browser.
for (const [name, value] of Object.entries(globals)) {
  if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
}

export interface NodeAdapter {
  adapter: GPUAdapter;
  /** True when the adapter is the SwiftShader CPU fallback. */
  software: boolean;
  /** Dawn's GPU object; kept referenced for as long as the adapter is used. */
  gpu: GPU;
}

export class NoAdapterError extends Error {
  constructor(tried: string) {
    super(
      `No WebGPU adapter: ${tried}. On Debian/Ubuntu install a Vulkan loader and SwiftShader with ` +
        `'sudo apt-get install libvulkan1 chromium' (or a GPU driver with Vulkan support), or point ` +
        `VK_ICD_FILENAMES at a Vulkan ICD json.`,
    );
    this.name = 'NoAdapterError';
  }
}

function isSwiftShader(adapter: GPUAdapter): boolean {
  return /swiftshader/i.test(`${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description}`);
}

/**
 * Vulkan drivers print "error: XDG_RUNTIME_DIR is invalid or not set" for every instance when it is
 * unset (headless machines, CI); a private directory keeps the CLI's stderr for real messages.
 */
function ensureRuntimeDir(): void {
  if (process.env.XDG_RUNTIME_DIR) return;
  const dir = join(tmpdir(), `gradcam-webgpu-runtime-${process.getuid?.() ?? 'user'}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

// Dawn's instance must outlive every adapter and device made from it: collecting it while a device
// is in use aborts the process. There are one or two per process, so they are simply kept.
const liveInstances = new Set<GPU>();
function dawnInstance(): GPU {
  // Dawn rounds timestamp queries to ~65 µs by default (a browser's defence against timing attacks);
  // kernels on a GPU take tens of µs, so the benchmark and the tuner need them unrounded.
  const gpu = create(['disable-dawn-features=timestamp_quantization']);
  liveInstances.add(gpu);
  return gpu;
}

/**
 * The Vulkan drivers the loader would find: the ICD manifests in its search path (XDG config and data
 * directories, /etc). Lavapipe's are left out: Dawn rejects that driver.
 */
export function installedVulkanDrivers(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = homedir();
  const config = [env.XDG_CONFIG_HOME ?? join(home, '.config'), ...(env.XDG_CONFIG_DIRS ?? '/etc/xdg').split(':'), '/etc'];
  const data = [env.XDG_DATA_HOME ?? join(home, '.local/share'), ...(env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':')];
  const found: string[] = [];
  for (const base of [...config, ...data].filter(Boolean)) {
    const dir = join(base, 'vulkan', 'icd.d');
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) if (n.endsWith('.json') && !/^lvp_icd/.test(n)) found.push(join(dir, n));
  }
  return found;
}

export async function requestNodeAdapter(powerPreference: GPUPowerPreference = 'high-performance'): Promise<NodeAdapter> {
  ensureRuntimeDir();
  // With no GPU driver installed, go to SwiftShader directly: probing first makes Dawn print
  // "vkCreateInstance: Found no drivers!" and a stack location, which users read as a failure.
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && installedVulkanDrivers().length === 0 && existsSync(SWIFTSHADER_ICD))
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const userIcd = process.env.VK_ICD_FILENAMES;
  let gpu = dawnInstance();
  let adapter = await gpu.requestAdapter({ powerPreference });
  if (adapter) return { adapter, software: isSwiftShader(adapter), gpu };
  if (userIcd) throw new NoAdapterError(`Dawn found none with VK_ICD_FILENAMES=${userIcd}${userIcd === SWIFTSHADER_ICD ? ' (is libvulkan1 installed?)' : ''}`);
  if (!existsSync(SWIFTSHADER_ICD)) throw new NoAdapterError(`Dawn found no hardware adapter and ${SWIFTSHADER_ICD} does not exist`);
  // The Vulkan loader reads VK_ICD_FILENAMES each time Dawn creates an instance, so a second instance
  // created after setting it sees SwiftShader.
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  gpu = dawnInstance();
  adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) throw new NoAdapterError(`Dawn found no hardware adapter, and none with VK_ICD_FILENAMES=${SWIFTSHADER_ICD} (is libvulkan1 installed?)`);
  return { adapter, software: true, gpu };
}

export async function requestNodeDevice(model: ModelSpec = VGG16, options: EngineDeviceOptions = {}): Promise<GPUDevice> {
  const { adapter } = await requestNodeAdapter();
  const device = await requestEngineDevice(adapter, model, options);
  injectFault(device, process.env.GRADCAM_FAULT);
  return device;
}

/** The one fault GRADCAM_FAULT can inject (a test hook): see injectFault. */
export const DEVICE_LOST_FAULT = /^device-lost:submit:([1-9]\d*)$/;

/**
 * TEST HOOK, read here and nowhere else: GRADCAM_FAULT=device-lost:submit:<n> loses the device (as a
 * driver reset would, reason 'unknown') as its n-th queue submission is made, before the work runs, so
 * a test can check what a command does when the GPU goes away mid-run (in the gradcam CLI with
 * --tune off, submission 1 is the run's forward and backward). Unset: nothing changes.
 */
export function injectFault(device: GPUDevice, fault: string | undefined): void {
  if (!fault) return;
  const m = DEVICE_LOST_FAULT.exec(fault);
  if (!m) throw new Error(`GRADCAM_FAULT=${fault}: unknown fault; the test hook takes device-lost:submit:<n> (lose the device at its n-th queue submission), or unset it`);
  const at = Number(m[1]);
  const submit = device.queue.submit.bind(device.queue);
  let count = 0;
  device.queue.submit = (buffers: Iterable<GPUCommandBuffer>): undefined => {
    if (++count === at) simulateDeviceLoss(device, `${fault} (GRADCAM_FAULT test hook)`);
    return submit(buffers);
  };
}
