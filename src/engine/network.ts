// A model spec + weights on a GPUDevice: buffers planned once, one dispatch per pass prepared once,
// one command buffer per forward, and readbacks of any tensor copied out right after the pass that
// writes it (so buffer sharing never hides a layer from the caller).
import { guardDevice, GpuCommandError } from './deviceErrors.js';
import { trackGpuMemory } from './gpuMemory.js';
import { destroyDispatch, encodeDispatch, type Dispatch } from '../kernels/kernel.js';
import { packHalfVersions, packedHalfBytes } from '../kernels/packHalf.js';
import { packResizeTable, preprocessImageVersions, type ResizeMethod } from '../kernels/preprocessImage.js';
import { chooseCandidate, opKernel, type Choices } from './opKernels.js';
import { elementCount, weightSpecs, type ModelSpec } from './model.js';
import { assignBuffers, forwardLifetimes, INPUT_TENSOR, planForward, type BufferPlan, type ForwardPlan, type Op } from './plan.js';
import { GpuWeights, uploadWeights, type WeightMap } from './weights/gpuWeights.js';
import { encodePasses, Readback, type PassTimer } from './gpuTimer.js';

export type { WeightMap } from './weights/gpuWeights.js';

/** RGBA8 pixels in ImageData layout (row-major, 4 bytes per pixel, R first). */
export interface ImageInput {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
}

export type OpKind = Op['kind'];

export interface NetworkOptions {
  /** A version forced per kernel, forward and backward (e.g. { conv3x3BiasRelu: 'naive' }). */
  versions?: Readonly<Record<string, string>>;
  /** Versions chosen by tuning on this adapter (src/engine/tuning.ts); default: each kernel's first. */
  choices?: Choices;
  /**
   * Store the dense layers' weights (89% of VGG16's bytes) as float16, halving their memory and the
   * bandwidth of those bandwidth-bound layers; arithmetic stays float32. Off by default: it changes
   * the numbers (relative L2 2e-4 to 6e-4 from fc1 on, measured by `npm run verify -- --f16`).
   */
  f16?: boolean;
  /** Images per forward (default 1); a batch > 1 takes preprocessed Float32Array input. */
  batch?: number;
  /** Tensors whose buffers must survive the whole forward (not shared with later tensors). */
  keep?: readonly string[];
}

export interface ForwardOptions {
  /** Tensors to read back, by name: 'input', Keras layer names, 'predictions/logits'. */
  read?: readonly string[];
  /** How an image input is resized to the network's input size (default 'nearest', as Keras). */
  resize?: ResizeMethod;
}

export interface StagedInput {
  /** The GPU preprocessing of an image input (absent for a preprocessed Float32Array). */
  preprocess?: Dispatch;
  /** The uploaded RGBA8 image, reusable by later passes (the Grad-CAM overlay) until the next image of another size. */
  imageBuffer?: GPUBuffer;
}

export interface ForwardResult {
  /** The model's final output (softmax probabilities for VGG). */
  probabilities: Float32Array;
  /** The tensors asked for in `read`. */
  tensors: Map<string, Float32Array>;
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export function validateImage(image: ImageInput): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new Error(`image: width and height must be positive integers (got ${width}×${height})`);
  if (data.length !== width * height * 4)
    throw new Error(`image: data has ${data.length} bytes but ${width}×${height} RGBA needs ${width * height * 4}; pass ImageData-style RGBA8 pixels`);
}

/** Replaces each dense layer's float32 kernel by its float16 packing, one tensor at a time. */
async function packDenseWeights(device: GPUDevice, plan: ForwardPlan, weights: GpuWeights): Promise<void> {
  for (const op of plan.ops) {
    if (op.kind !== 'dense' || weights.halves.has(op.weights)) continue;
    const count = op.shape.k * op.shape.m;
    const packed = device.createBuffer({ label: `${op.weights} (float16)`, size: packedHalfBytes(count), usage: STORAGE() });
    const d = await packHalfVersions[0].prepare(device, { count }, { x: weights.get(op.weights), y: packed });
    const encoder = device.createCommandEncoder({ label: `pack ${op.weights} as float16` });
    const pass = encoder.beginComputePass({ label: d.label });
    encodeDispatch(pass, d);
    pass.end();
    device.queue.submit([encoder.finish()]);
    // Destroying after the submit is allowed: the queued pass still reads them.
    destroyDispatch(d);
    weights.replaceWithHalves(op.weights, packed);
  }
}

/** The uploaded image and its preprocessing, kept while images of the same size and resize follow. */
interface ImageStage {
  width: number;
  height: number;
  resize: ResizeMethod;
  src: GPUBuffer;
  table: GPUBuffer;
  preprocess: Dispatch;
}

/** A network whose weight buffers belong to another one (see Network.borrowing). */
interface Lender {
  readonly model: ModelSpec;
  readonly isDisposed: boolean;
}

export interface EncodeForwardOptions {
  /** Encoder work to record after op i (-1: after the input is ready), outside the compute passes. */
  after?: ReadonlyMap<number, () => void>;
  /** Times the passes. */
  timer?: PassTimer;
  /** With a timer: one timed pass per kernel instead of one per stage (profiling). */
  profile?: boolean;
}

/** How an exclusive() call reports failures: its name in messages, and what to free after a GPU error. */
export interface ExclusiveGuard {
  /** e.g. 'GradCam.run()'. */
  what?: string;
  /** Frees what a refused allocation may have left in caches (default: the image upload). */
  release?: () => void;
}

/**
 * Refuses a network whose buffers this device cannot bind, naming the tensor and the limit, before
 * anything is allocated (WebGPU would hand out invalid buffers and fail later, far from the cause).
 */
function checkBufferLimits(device: GPUDevice, model: ModelSpec, plan: ForwardPlan, bufferPlan: BufferPlan): void {
  const limits = device.limits;
  const limit = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
  const max = limits[limit];
  const fix = `request the device with ${limit} raised (requestEngineDevice asks for what the model needs) or use a smaller input shape`;
  for (const [name, slot] of bufferPlan.slotOf) {
    const bytes = bufferPlan.slotBytes[slot];
    if (bytes <= max) continue;
    const shape = plan.tensors.get(name)?.shape ?? [];
    throw new Error(`${model.name}: tensor '${name}' (${plan.batch > 1 ? `${plan.batch}×` : ''}${shape.join('×')} float32) needs a ${bytes}-byte buffer, above this device's ${limit} of ${max}; ${fix}`);
  }
  for (const s of weightSpecs(model)) {
    const bytes = 4 * elementCount(s.shape);
    if (bytes > max) throw new Error(`${model.name}: weight tensor '${s.name}' (${s.shape.join('×')} float32) needs a ${bytes}-byte buffer, above this device's ${limit} of ${max}; ${fix}`);
  }
}

export class Network {
  private disposed = false;
  private imageStage?: ImageStage;
  private forwards = 0;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly device: GPUDevice,
    readonly model: ModelSpec,
    readonly plan: ForwardPlan,
    private readonly weights: GpuWeights,
    private readonly slots: GPUBuffer[],
    private readonly slotOf: Map<string, number>,
    private readonly dispatches: Dispatch[],
    /** The kernel version chosen for each op, in op order. */
    readonly versions: string[],
    private readonly options: NetworkOptions,
    /** Set when the weights are borrowed: they are the lender's to destroy, not ours. */
    private readonly lender?: Lender,
  ) {}

  /**
   * Weights in memory are uploaded; weights already on the GPU (from a loader) are taken over: the
   * network destroys them in dispose(), and on failure here.
   */
  static async create(device: GPUDevice, model: ModelSpec, weights: WeightMap | GpuWeights, options: NetworkOptions = {}): Promise<Network> {
    if (weights instanceof GpuWeights && weights.model.name !== model.name)
      throw new Error(`weights are for ${weights.model.name}, not ${model.name}`);
    trackGpuMemory(device);
    const plan = planForward(model, options.batch ?? 1, { denseWeightsF16: options.f16 });
    const bufferPlan = assignBuffers(forwardLifetimes(plan), new Set(options.keep ?? []));
    try {
      checkBufferLimits(device, model, plan, bufferPlan);
    } catch (e) {
      if (weights instanceof GpuWeights) weights.destroy();
      throw e;
    }
    // An allocation the GPU refuses gives an invalid buffer, not an exception: the error scopes catch it,
    // and the half-made network is freed (weights given on the GPU included, as on any failure here).
    return guardDevice(
      device,
      `Network.create(${model.name})`,
      async () => {
        const gpuWeights = weights instanceof GpuWeights ? weights : uploadWeights(device, model, weights);
        return Network.build(device, model, plan, bufferPlan, gpuWeights, options);
      },
      { orphan: (net) => net.dispose(), release: () => (weights instanceof GpuWeights ? weights.destroy() : undefined) },
    );
  }

  /**
   * A network over `model`, a sub-model of `lender`'s (e.g. the layers after a target layer, with that
   * layer's output shape as input; or the whole model at another batch size), that runs on `lender`'s
   * weight buffers: nothing is uploaded or packed again, and dispose() leaves the weights to `lender`,
   * which must outlive it (using it after `lender.dispose()` throws). Every weight tensor of `model`
   * must be one of `lender`'s with the same shape. The dense weights keep `lender`'s format (float32,
   * or packed float16 when it was made with `f16`), so `f16` is not an option here; kernel `versions`
   * and tuned `choices` default to `lender`'s. Activations are the new network's own.
   */
  static async borrowing(lender: Network, model: ModelSpec, options: Omit<NetworkOptions, 'f16'> = {}): Promise<Network> {
    if (lender.disposed) throw new Error(`${lender.model.name}: used after dispose()`);
    if (lender.lender) throw new Error(`${model.name}: borrow from the network that owns the weights (${lender.lender.model.name}), not from a borrower`);
    const have = new Map(weightSpecs(lender.model).map((s) => [s.name, s.shape]));
    const buffers = new Map<string, GPUBuffer>();
    for (const s of weightSpecs(model)) {
      const shape = have.get(s.name);
      if (!shape) throw new Error(`${model.name}: weight tensor '${s.name}' is not one of ${lender.model.name}'s`);
      if (shape.join('×') !== s.shape.join('×'))
        throw new Error(`${model.name}: weight tensor '${s.name}' is ${s.shape.join('×')} here but ${shape.join('×')} in ${lender.model.name}`);
      buffers.set(s.name, lender.weights.get(s.name));
    }
    // A view over the lender's buffers (never destroyed through it), with their float16 marks.
    const view = new GpuWeights(model, buffers);
    for (const name of buffers.keys()) if (lender.weights.halves.has(name)) view.halves.add(name);
    const f16 = lender.plan.ops.some((op) => op.kind === 'dense' && op.shape.weightsF16 === true);
    const lent: Lender = {
      model: lender.model,
      get isDisposed() {
        return lender.disposed;
      },
    };
    const all: NetworkOptions = { versions: lender.options.versions, choices: lender.options.choices, ...options, f16 };
    const plan = planForward(model, all.batch ?? 1, { denseWeightsF16: f16 });
    const bufferPlan = assignBuffers(forwardLifetimes(plan), new Set(all.keep ?? []));
    checkBufferLimits(lender.device, model, plan, bufferPlan);
    return Network.build(lender.device, model, plan, bufferPlan, view, all, lent);
  }

  private static async build(
    device: GPUDevice,
    model: ModelSpec,
    plan: ForwardPlan,
    bufferPlan: BufferPlan,
    gpuWeights: GpuWeights,
    options: NetworkOptions,
    lender?: Lender,
  ): Promise<Network> {
    const slots: GPUBuffer[] = [];
    const dispatches: Dispatch[] = [];
    try {
      if (lender) {
        // Packing would replace (destroy) the lender's float32 buffers: the formats must already agree.
        for (const op of plan.ops)
          if (op.kind === 'dense' && gpuWeights.halves.has(op.weights) !== (options.f16 === true))
            throw new Error(`${model.name}: ${op.weights} is stored as ${options.f16 ? 'float32' : 'float16'} in ${lender.model.name}`);
      } else if (options.f16) {
        await packDenseWeights(device, plan, gpuWeights);
      }
      bufferPlan.slotBytes.forEach((size, i) => slots.push(device.createBuffer({ label: `activations ${i}`, size, usage: STORAGE() })));
      const tensor = (name: string) => slots[bufferPlan.slotOf.get(name)!];
      const versions: string[] = [];
      for (const op of plan.ops) {
        const k = opKernel(op, 'forward', { features: device.features })!;
        const c = chooseCandidate(k, options.versions?.[k.kernel], options.choices);
        versions.push(c.version);
        const x = tensor(op.input);
        const y = tensor(op.output);
        const buffers: Record<string, GPUBuffer> =
          op.kind === 'conv3x3' || op.kind === 'dense' ? { x, weights: gpuWeights.get(op.weights), bias: gpuWeights.get(op.bias), y } : { x, y };
        dispatches.push(await c.prepare(device, buffers, `${op.layer} ${op.kind}`));
      }
      return new Network(device, model, plan, gpuWeights, slots, bufferPlan.slotOf, dispatches, versions, options, lender);
    } catch (err) {
      if (!lender) gpuWeights.destroy();
      for (const b of slots) b.destroy();
      dispatches.forEach(destroyDispatch);
      throw err;
    }
  }

  /** Shape of a tensor (without the batch axis), e.g. tensorShape('block5_conv3') → [14, 14, 512]. */
  tensorShape(name: string): number[] {
    const t = this.plan.tensors.get(name);
    if (!t) throw new Error(`${this.model.name}: no tensor '${name}' (have: ${[...this.plan.tensors.keys()].join(', ')})`);
    return [...t.shape];
  }

  /** The GPU buffer of one weight tensor (`fc1/kernel`…), e.g. to check what was loaded. */
  weightBuffer(name: string): GPUBuffer {
    return this.weights.get(name);
  }

  /** Whether a weight tensor is stored as packed float16 (see NetworkOptions.f16). */
  weightIsHalf(name: string): boolean {
    return this.weights.halves.has(name);
  }

  /** GPU memory held by weights (unless borrowed), activations and the current image's upload, in bytes. */
  get memoryBytes(): number {
    let total = this.lender ? 0 : this.weights.bytes;
    for (const b of this.slots) total += b.size;
    if (this.imageStage) total += this.imageStage.src.size + this.imageStage.table.size;
    return total;
  }

  /**
   * Runs GPU work that uses the shared image upload and activations one call at a time, in call order:
   * forward() and every GradCam call on this network go through it, so concurrent calls never see each
   * other's pixels.
   */
  exclusive<T>(f: () => Promise<T>, guard: ExclusiveGuard = {}): Promise<T> {
    const next = this.queue.then(() => {
      this.checkUsable();
      // A lost device or a refused allocation rejects with the engine's own error (see deviceErrors.ts).
      return guardDevice(this.device, guard.what ?? `${this.model.name} forward`, f, { release: guard.release ?? (() => this.releaseImageStage()) });
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The GPU buffer holding a tensor (shared with other tensors unless kept; see NetworkOptions.keep). */
  tensorBuffer(name: string): GPUBuffer {
    const t = this.plan.tensors.get(name);
    if (!t) this.tensorShape(name);
    return this.slots[this.slotOf.get(name)!];
  }

  /**
   * Writes a preprocessed input, or uploads an image and prepares its GPU preprocessing. The upload
   * buffer is reused by the next image of the same size: call inside exclusive() and submit before
   * the next call.
   */
  async stageInput(input: ImageInput | Float32Array<ArrayBuffer>, resize: ResizeMethod = 'nearest'): Promise<StagedInput> {
    this.checkUsable();
    const { device } = this;
    const inputSlot = this.tensorBuffer(INPUT_TENSOR);
    const [h, w] = this.model.inputShape;
    const batch = this.plan.batch;
    if (input instanceof Float32Array) {
      const n = batch * elementCount(this.model.inputShape);
      if (input.length !== n) throw new Error(`input: got ${input.length} floats, ${this.model.name} takes ${batch}×${this.model.inputShape.join('×')} = ${n} (NHWC, batch ${batch})`);
      device.queue.writeBuffer(inputSlot, 0, input);
      return {};
    }
    if (batch !== 1) throw new Error(`input: a batch-${batch} network takes ${batch} preprocessed images as one Float32Array (NHWC), not an image`);
    validateImage(input);
    const pixels = new Uint32Array(input.width * input.height);
    new Uint8Array(pixels.buffer).set(input.data);
    let stage = this.imageStage;
    if (!stage || stage.width !== input.width || stage.height !== input.height || stage.resize !== resize) {
      this.dropImageStage();
      const shape = { srcW: input.width, srcH: input.height, dstW: w, dstH: h, method: resize } as const;
      const tableData = packResizeTable(shape);
      const src = device.createBuffer({ label: 'image rgba8', size: pixels.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      const table = device.createBuffer({ label: 'resize table', size: tableData.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(table, 0, tableData);
      try {
        const preprocess = await preprocessImageVersions[0].prepare(device, shape, { src, table, y: inputSlot });
        stage = { width: input.width, height: input.height, resize, src, table, preprocess };
      } catch (e) {
        src.destroy();
        table.destroy();
        throw e;
      }
      this.imageStage = stage;
    }
    device.queue.writeBuffer(stage.src, 0, pixels);
    // Kept for the next image of this size (a webcam's frames, a slider's reruns); freed by dispose().
    return { preprocess: stage.preprocess, imageBuffer: stage.src };
  }

  /** Whether an image upload (and its preprocessing) is kept: at most one, for the last image's size. */
  get keptImageUploads(): number {
    return this.imageStage ? 1 : 0;
  }

  /** Frees the kept image upload (call inside exclusive(); the next image makes it again). */
  releaseImageStage(): void {
    this.dropImageStage();
  }

  private dropImageStage(): void {
    if (!this.imageStage) return;
    this.imageStage.src.destroy();
    this.imageStage.table.destroy();
    destroyDispatch(this.imageStage.preprocess);
    this.imageStage = undefined;
  }

  /** Forwards recorded so far: a caller keeping activations can tell whether another forward overwrote them. */
  get forwardCount(): number {
    return this.forwards;
  }

  private checkUsable(): void {
    if (this.disposed) throw new Error(`${this.model.name}: used after dispose()`);
    if (this.lender?.isDisposed) throw new Error(`${this.model.name}: its weights' owner ${this.lender.model.name} was disposed`);
  }

  /**
   * Records the forward (after the input's preprocessing, if any): one compute pass for the preprocessing
   * and one for the layers, or with `profile` and a timer one timed pass per kernel (see encodePasses).
   * `after.get(i)` records encoder work (a copy out before a buffer is reused) after op i (-1: after the
   * input is ready), outside any pass: the layers' pass is split there. With `staged` = {} the input is
   * whatever `tensorBuffer('input')` holds when the passes run: a caller's kernel or copy recorded
   * earlier in the same encoder can write it on the GPU.
   */
  encodeForward(encoder: GPUCommandEncoder, staged: StagedInput, options: EncodeForwardOptions = {}): void {
    if (this.lender?.isDisposed) this.checkUsable();
    const { after, timer, profile } = options;
    this.forwards++;
    if (staged.preprocess) encodePasses(encoder, [staged.preprocess], 'preprocess', timer, profile);
    after?.get(-1)?.();
    let start = 0;
    this.dispatches.forEach((_, i) => {
      const then = after?.get(i);
      if (!then && i < this.dispatches.length - 1) return;
      encodePasses(encoder, this.dispatches.slice(start, i + 1), 'forward', timer, profile);
      then?.();
      start = i + 1;
    });
  }

  forward(input: ImageInput | Float32Array<ArrayBuffer>, options: ForwardOptions = {}): Promise<ForwardResult> {
    return this.exclusive(() => this.forwardNow(input, options));
  }

  private async forwardNow(input: ImageInput | Float32Array<ArrayBuffer>, options: ForwardOptions): Promise<ForwardResult> {
    const { device, plan } = this;
    const read = [...new Set([...(options.read ?? []), plan.output])];
    for (const name of read) this.tensorShape(name);
    // Where each readback is copied: after the step that writes the tensor (or its alias root).
    const producer = new Map<string, number>([[INPUT_TENSOR, -1]]);
    plan.ops.forEach((op, i) => producer.set(op.output, i));
    const copiesAfter = new Map<number, string[]>();
    for (const name of read) {
      const t = plan.tensors.get(name)!;
      const step = producer.get(t.aliasOf ?? name)!;
      copiesAfter.set(step, [...(copiesAfter.get(step) ?? []), name]);
    }
    const staged = await this.stageInput(input, options.resize);
    const readback = new Readback(device);
    try {
      device.pushErrorScope('validation');
      const encoder = device.createCommandEncoder({ label: `${this.model.name} forward` });
      const after = new Map(
        [...copiesAfter].map(([step, names]) => [
          step,
          () => {
            for (const name of names) readback.copy(encoder, name, this.tensorBuffer(name), 4 * plan.batch * elementCount(plan.tensors.get(name)!.shape));
          },
        ]),
      );
      this.encodeForward(encoder, staged, { after });
      device.queue.submit([encoder.finish()]);
      const error = await device.popErrorScope();
      if (error) throw new GpuCommandError(`${this.model.name} forward`, 'validation', error.message);
      const tensors = new Map([...(await readback.read())].map(([name, bytes]) => [name, new Float32Array(bytes)]));
      const probabilities = tensors.get(plan.output)!;
      if (!options.read?.includes(plan.output)) tensors.delete(plan.output);
      return { probabilities, tensors };
    } finally {
      readback.destroy();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (!this.lender) this.weights.destroy();
    for (const b of this.slots) b.destroy();
    this.dispatches.forEach(destroyDispatch);
    this.dropImageStage();
  }
}
