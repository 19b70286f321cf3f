// When the GPU goes away or refuses work, the engine's calls say so in their own words. WebGPU reports
// both quietly: a lost device (driver reset, device.destroy(), the OS reclaiming memory) turns every
// object made afterwards invalid without an exception, and only mapAsync fails (an AbortError with no
// message); an allocation the GPU cannot satisfy gives an invalid buffer and a GPUOutOfMemoryError that
// only an error scope sees. So each engine call is run through guardDevice(): it refuses to start on a
// lost device, rejects when the device is lost while it runs (even if something it awaits never
// settles), and turns what the error scopes caught into one-line errors, after the caller has freed
// what the failed call may have left half-made.

/** What device.lost said, or what a test hook pretended. */
export interface DeviceLossInfo {
  reason: string;
  message: string;
}

export class DeviceLostError extends Error {
  constructor(
    /** The call that failed, e.g. 'GradCam.run()'. */
    readonly what: string,
    readonly loss: DeviceLossInfo,
  ) {
    const said = loss.message ? `: ${oneLine(loss.message)}` : '';
    super(
      loss.reason === 'destroyed'
        ? `${what}: the GPU device was destroyed (device.destroy() was called) while this call needed it; open the engine again on a new device`
        : `${what}: the GPU device was lost (${loss.reason}${said}); everything on it is gone, so open the engine again on a new device (rerun the command, reload the page); ` +
            `if it keeps happening the GPU driver is resetting, often for lack of memory: try a smaller image, the f16 weights option, or close other GPU programs`,
    );
    this.name = 'DeviceLostError';
  }
}

/** An error scope caught the GPU refusing work: 'out-of-memory' (an allocation failed) or 'validation'. */
export class GpuCommandError extends Error {
  /** What the GPU said, on one line. */
  readonly gpuMessage: string;
  constructor(
    readonly what: string,
    readonly kind: 'out-of-memory' | 'validation' | 'internal',
    gpuMessage: string,
  ) {
    gpuMessage = oneLine(gpuMessage);
    super(
      kind === 'out-of-memory'
        ? `${what}: the GPU ran out of memory (${gpuMessage}); the buffers this call made were freed. Try a smaller image, fewer targets or batch rows, the f16 weights option, or close other GPU programs`
        : `${what}: WebGPU refused a command (${kind}: ${gpuMessage}); the buffers this call made were freed. A tensor beyond this device's limits, or a bug in gradcam-webgpu: please report this message`,
    );
    this.name = 'GpuCommandError';
    this.gpuMessage = gpuMessage;
  }
}

/** Dawn's messages run over several lines (the message, then "- While calling [Device].CreateBuffer(…)"): joined with '; '. */
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim().replace(/^- /, ''))
    .filter(Boolean)
    .join('; ');
}

interface Watch {
  loss?: DeviceLossInfo;
  /** Rejecters of the calls in flight: called once when the device is lost. */
  inFlight: Set<(loss: DeviceLossInfo) => void>;
}

const watches = new WeakMap<GPUDevice, Watch>();

/** Starts following `device.lost` (idempotent; guardDevice calls it). */
export function watchDeviceLoss(device: GPUDevice): void {
  if (watches.has(device)) return;
  const watch: Watch = { inFlight: new Set() };
  watches.set(device, watch);
  void device.lost.then((info) => {
    watch.loss ??= { reason: info.reason ?? 'unknown', message: info.message ?? '' };
    for (const reject of watch.inFlight) reject(watch.loss);
    watch.inFlight.clear();
  });
}

/** The loss of `device` if device.lost has resolved (or a test hook lost it), else undefined. */
export function deviceLossOf(device: GPUDevice): DeviceLossInfo | undefined {
  return watches.get(device)?.loss;
}

/**
 * TEST HOOK: loses `device` as a driver reset would (reason 'unknown', `message` as the driver's
 * words), by destroying it. The engine's errors then read as for a real loss; used by the Node host's
 * GRADCAM_FAULT and the tests, never by the engine itself.
 */
export function simulateDeviceLoss(device: GPUDevice, message: string): void {
  watchDeviceLoss(device);
  const watch = watches.get(device)!;
  watch.loss ??= { reason: 'unknown', message };
  device.destroy();
}

/**
 * Whether a failure was the device going away: known already, or (for an AbortError from mapAsync,
 * which is how Dawn and browsers fail a map on a lost device) confirmed by racing device.lost against
 * a 4-byte map, which fails on a lost device and succeeds on a live one.
 */
async function confirmLoss(device: GPUDevice, error: unknown): Promise<DeviceLossInfo | undefined> {
  const known = deviceLossOf(device);
  if (known) return known;
  const name = (error as { name?: unknown } | null)?.name;
  if (name !== 'AbortError' && name !== 'OperationError') return undefined;
  let probe: GPUBuffer | undefined;
  try {
    probe = device.createBuffer({ label: 'gradcam-webgpu device probe', size: 4, usage: GPUBufferUsage.MAP_READ });
    const mapped = await probe.mapAsync(GPUMapMode.READ).then(
      () => true,
      () => false,
    );
    if (mapped) return undefined;
    // The map failed: device.lost resolves soon if the device is lost (a second at most, then we give up).
    await Promise.race([device.lost, new Promise((r) => setTimeout(r, 1000))]);
  } catch {
    // A probe that cannot even be made says nothing more.
  } finally {
    probe?.destroy();
  }
  return deviceLossOf(device);
}

/** Options of guardDevice. */
export interface GuardOptions<T> {
  /**
   * Frees what the call may have left half-made, before its error is thrown: after an error scope
   * caught an out-of-memory or validation error (WebGPU hands out invalid buffers without throwing,
   * and they may sit in caches), and after a loss.
   */
  release?: () => void;
  /** A result that arrived after the call had already rejected (the device was lost first): free it. */
  orphan?: (result: T) => void;
  /** How long the call may go on after a loss before it is given up on (default LOSS_GRACE_MS). */
  graceMs?: number;
}

/**
 * Runs one engine call on `device`: refused at once if the device is lost; inside 'out-of-memory' and
 * 'validation' error scopes (popped when it ends, whatever happens); rejected with DeviceLostError as
 * soon as the device is lost, and with GpuCommandError when a scope caught an error, after
 * `options.release`. Other failures pass through unchanged unless the device turns out to be lost.
 *
 * Error scopes are one stack per device, so two engines running at the same moment on one device can
 * see each other's errors; each engine runs its own calls one at a time (Network.exclusive).
 */
export async function guardDevice<T>(device: GPUDevice, what: string, f: () => Promise<T>, options: GuardOptions<T> = {}): Promise<T> {
  watchDeviceLoss(device);
  const watch = watches.get(device)!;
  if (watch.loss) throw new DeviceLostError(what, watch.loss);
  let onLoss!: () => void;
  const lost = new Promise<'lost'>((resolve) => (onLoss = () => resolve('lost')));
  watch.inFlight.add(onLoss);
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  // An async wrapper: a synchronous throw in f still reaches the pops below.
  const work = (async () => f())();
  const outcome = work.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  let first = await Promise.race([outcome, lost]);
  watch.inFlight.delete(onLoss);
  if (first === 'lost') {
    // Everything fails fast on a lost device, so the call normally ends within moments: waiting for it
    // means no work of it is still running when the caller hears of the loss (and disposes). One that
    // does not end (a driver that never settles a map) is given up on after the grace period.
    let timer: ReturnType<typeof setTimeout> | undefined;
    first = await Promise.race([outcome, new Promise<'lost'>((resolve) => (timer = setTimeout(() => resolve('lost'), options.graceMs ?? LOSS_GRACE_MS)))]);
    clearTimeout(timer);
    if (first === 'lost') void work.then((value) => options.orphan?.(value)).catch(() => undefined);
  }
  // Both scopes are popped (in push order's reverse) whatever happened, so the device's stack stays balanced.
  const [validation, outOfMemory] = await Promise.all([popScope(device), popScope(device)]);
  const result = first !== 'lost' && 'value' in first ? first : undefined;
  const failure = first === 'lost' ? undefined : 'error' in first ? relabel(first.error, what) : undefined;
  const scoped = outOfMemory ? new GpuCommandError(what, 'out-of-memory', outOfMemory.message) : validation ? new GpuCommandError(what, 'validation', validation.message) : undefined;
  const loss = deviceLossOf(device) ?? (failure !== undefined ? await confirmLoss(device, failure) : undefined);
  // Results already on the CPU stay good after a loss; a result that lives on the device (orphan given) does not.
  const failed = first === 'lost' || failure !== undefined || scoped !== undefined || (loss !== undefined && options.orphan !== undefined);
  if (!failed) return result!.value;
  if (result) options.orphan?.(result.value);
  // A nested scope's error (thrown as GpuCommandError where it was caught) frees the caches too.
  if (loss || scoped || failure instanceof GpuCommandError) options.release?.();
  if (loss) throw failure instanceof DeviceLostError ? failure : new DeviceLostError(what, loss);
  // The scope's error is the cause; a failure after it (an invalid buffer bound later) is its consequence.
  throw scoped ?? failure;
}

/** How long a call may go on after its device was lost before it is given up on (see guardDevice). */
export const LOSS_GRACE_MS = 2000;

/** An error from a nested guarded call (Network.create inside GradCam.create) named for the outer call, the one the caller made. */
function relabel(error: unknown, what: string): unknown {
  if (error instanceof DeviceLostError && error.what !== what) return new DeviceLostError(what, error.loss);
  if (error instanceof GpuCommandError && error.what !== what) return new GpuCommandError(what, error.kind, error.gpuMessage);
  return error;
}

async function popScope(device: GPUDevice): Promise<GPUError | null> {
  try {
    return await device.popErrorScope();
  } catch {
    // A lost device may reject instead of resolving null (older implementations): the loss is reported instead.
    return null;
  }
}
