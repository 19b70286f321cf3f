// Grad-CAM on the GPU, as the Keras recipe ("Deep Learning with Python", 5.4.3) computes it:
// score = softmax output of class c (or its logit), A = output of the target conv layer (post-ReLU),
// G = dscore/dA, α_k = mean over H, W of G, map = mean over k of A·α_k, ReLU, divided by its max;
// then the OpenCV overlay (bilinear upsample, uint8, JET, jet·α + image, saturated).
// One command buffer per call: preprocess, forward, backward down to the target, CAM, overlay; only
// the results are read back. The backward path is derived from the forward plan, walked in reverse.
import { gradcamChannelWeightsVersions, gradcamHeatmapVersions, overlayJetVersions, packJetLut } from '../kernels/gradcam.js';
import { destroyDispatch, encodeDispatch, type Dispatch } from '../kernels/kernel.js';
import { chooseCandidate, opKernel } from './opKernels.js';
import { packResizeTable } from '../kernels/preprocessImage.js';
import { packSoftmaxScoreParams, softmaxScoreBackwardVersions, TOP_CLASS, type ScoreKind } from '../kernels/softmaxScoreBackward.js';
import { MAX_IMAGE_PIXELS } from './device.js';
import { PassTimer, Readback, type PassTiming } from './gpuTimer.js';
import { decodePredictions, topK, type Prediction } from './imagenet.js';
import { classCount, convLayerNames, elementCount, type ModelSpec } from './model.js';
import { Network, type ImageInput, type NetworkOptions, type StagedInput } from './network.js';
import type { ResizeMethod } from '../kernels/preprocessImage.js';
import type { GpuWeights, WeightMap } from './weights/gpuWeights.js';

export type { ScoreKind } from '../kernels/softmaxScoreBackward.js';

export interface GradCamOptions {
  /** ImageNet class (0–999); default: the top-1 class. */
  classIndex?: number;
  /** Any conv layer; default 'block5_conv3' (the last conv layer of the model). */
  layer?: string;
  score?: ScoreKind;
  /** Overlay weight of the JET heatmap, 0..1 (default 0.4, as the recipe). */
  alpha?: number;
  /** How many predictions to decode (default 5). */
  top?: number;
  resize?: ResizeMethod;
  /** Also read back G = dscore/dA at the target layer (for verification). */
  readGradient?: boolean;
  /** Also read back these forward tensors (Keras layer names, 'input', 'predictions/logits'). */
  read?: readonly string[];
}

export interface Map2D {
  data: Float32Array;
  width: number;
  height: number;
}

export interface GradCamResult {
  predictions: Prediction[];
  probabilities: Float32Array;
  classIndex: number;
  layer: string;
  score: ScoreKind;
  /** ReLU(map) / max: values in [0, 1]; all zero (never NaN) when the map has no positive value. */
  heatmap: Map2D;
  /** The map before ReLU and normalisation. */
  rawHeatmap: Map2D;
  /** RGBA8 at the input image's size (absent for a preprocessed Float32Array input). */
  overlay?: { width: number; height: number; data: Uint8ClampedArray };
  gradient?: Float32Array;
  /** The tensors asked for in `read`. */
  tensors: Map<string, Float32Array>;
  warnings: string[];
  /** GPU time per stage from timestamp queries, or wall-clock 'total' only when the device has none. */
  timingsMs: Record<string, number>;
  /** GPU time of every pass (labelled '<layer> <kind>'), empty when the device has no timestamp queries. */
  passTimings: PassTiming[];
}

/**
 * Checks a run's options against the model alone, so a caller can refuse bad arguments before any
 * weight is loaded or GPU work is done (the CLI does); run() checks the same way.
 */
export function checkGradCamOptions(model: ModelSpec, options: Pick<GradCamOptions, 'layer' | 'score' | 'alpha' | 'classIndex'>): void {
  const convLayers = convLayerNames(model);
  const { layer, score, alpha, classIndex } = options;
  if (layer !== undefined && !convLayers.includes(layer))
    throw new Error(`layer '${layer}' is not a conv layer of ${model.name}; choose one of ${convLayers.join(', ')}`);
  if (score !== undefined && score !== 'prob' && score !== 'logit') throw new Error(`score '${String(score)}': choose 'prob' or 'logit'`);
  if (alpha !== undefined && !(alpha >= 0 && alpha <= 1)) throw new Error(`alpha ${alpha}: must be between 0 and 1`);
  const classes = classCount(model);
  if (classIndex !== undefined && !(Number.isInteger(classIndex) && classIndex >= 0 && classIndex < classes))
    throw new Error(`class ${classIndex}: must be an integer in 0..${classes - 1}`);
}

export { MAX_IMAGE_PIXELS };

interface TargetPlan {
  layer: string;
  score: ScoreKind;
  backward: Dispatch[];
  scoreDispatch: Dispatch;
  cam: Dispatch[];
  shape: [number, number, number];
  alpha: GPUBuffer;
  raw: GPUBuffer;
  heat: GPUBuffer;
  heatStats: GPUBuffer;
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class GradCam {
  private readonly grads = new Map<string, GPUBuffer>();
  private readonly targets = new Map<string, TargetPlan>();
  /** `kernel.version` run for each layer's backward pass, as prepared so far. */
  readonly backwardVersions = new Map<string, string>();
  private readonly classStats: GPUBuffer;
  private readonly lut: GPUBuffer;
  private disposed = false;

  private constructor(
    readonly network: Network,
    readonly convLayers: readonly string[],
    private readonly options: NetworkOptions,
  ) {
    const device = network.device;
    this.classStats = device.createBuffer({ label: 'chosen class', size: 16, usage: STORAGE() });
    const lut = packJetLut();
    this.lut = device.createBuffer({ label: 'JET colormap', size: lut.byteLength, usage: STORAGE() });
    device.queue.writeBuffer(this.lut, 0, lut);
  }

  /** Keeps every activation (the backward pass needs them), so any conv layer can be the target. */
  static async create(device: GPUDevice, model: ModelSpec, weights: WeightMap | GpuWeights, options: NetworkOptions = {}): Promise<GradCam> {
    if ((options.batch ?? 1) !== 1) throw new Error(`GradCam: one image at a time (batch ${options.batch} asked); use Network for batched forwards`);
    const all = model.layers.map((l) => l.name);
    const network = await Network.create(device, model, weights, { ...options, keep: ['input', ...all] });
    return new GradCam(network, convLayerNames(model), options);
  }

  get model(): ModelSpec {
    return this.network.model;
  }

  /** GPU memory held: weights, activations, gradients and per-target buffers, in bytes. */
  get memoryBytes(): number {
    let n = this.network.memoryBytes + this.classStats.size + this.lut.size;
    for (const b of this.grads.values()) n += b.size;
    for (const t of this.targets.values()) n += t.alpha.size + t.raw.size + t.heat.size + t.heatStats.size;
    return n;
  }

  get defaultLayer(): string {
    return this.convLayers[this.convLayers.length - 1];
  }

  private gradBuffer(name: string): GPUBuffer {
    const root = this.network.plan.tensors.get(name)?.aliasOf ?? name;
    let b = this.grads.get(root);
    if (!b) {
      const bytes = 4 * elementCount(this.network.tensorShape(root));
      b = this.network.device.createBuffer({ label: `d(score)/d(${root})`, size: bytes, usage: STORAGE() });
      this.grads.set(root, b);
    }
    return b;
  }

  private async target(layer: string, score: ScoreKind): Promise<TargetPlan> {
    const key = `${layer}|${score}`;
    const cached = this.targets.get(key);
    if (cached) return cached;
    const { network } = this;
    const device = network.device;
    const ops = network.plan.ops;
    const backward: Dispatch[] = [];
    let scoreDispatch: Dispatch | undefined;
    const weight = (name: string) => network.weightBuffer(name);
    for (let i = ops.length - 1; i >= 0; i--) {
      const op = ops[i];
      if (op.output === layer) break;
      const label = `${op.layer} ${op.kind} backward`;
      switch (op.kind) {
        case 'softmax': {
          const shape = { c: op.shape.c, score, classIndex: TOP_CLASS };
          scoreDispatch = await softmaxScoreBackwardVersions[0].prepare(
            device,
            shape,
            { p: network.tensorBuffer(op.output), dz: this.gradBuffer(op.input), stats: this.classStats },
            label,
          );
          backward.push(scoreDispatch);
          break;
        }
        case 'dense':
        case 'maxpool2x2':
        case 'conv3x3': {
          const k = opKernel(op, 'backward')!;
          const c = chooseCandidate(k, this.options.versions?.[k.kernel], this.options.choices);
          this.backwardVersions.set(op.layer, `${k.kernel}.${c.version}`);
          const dy = this.gradBuffer(op.output);
          const dx = this.gradBuffer(op.input);
          const buffers: Record<string, GPUBuffer> =
            op.kind === 'maxpool2x2' ? { dy, x: network.tensorBuffer(op.input), dx } : { dy, y: network.tensorBuffer(op.output), weights: weight(op.weights), dx };
          backward.push(await c.prepare(device, buffers, label));
          break;
        }
      }
    }
    if (!scoreDispatch) throw new Error(`${this.model.name}: the model must end in a softmax layer for Grad-CAM`);
    const shape = network.tensorShape(layer) as [number, number, number];
    const cam = { positions: shape[0] * shape[1], channels: shape[2] };
    const alpha = device.createBuffer({ label: `α ${layer}`, size: 4 * cam.channels, usage: STORAGE() });
    const raw = device.createBuffer({ label: `raw map ${layer}`, size: 4 * cam.positions, usage: STORAGE() });
    const heat = device.createBuffer({ label: `heatmap ${layer}`, size: 4 * cam.positions, usage: STORAGE() });
    const heatStats = device.createBuffer({ label: `heatmap max ${layer}`, size: 16, usage: STORAGE() });
    const camDispatches = [
      await gradcamChannelWeightsVersions[0].prepare(device, cam, { grad: this.gradBuffer(layer), alpha }),
      await gradcamHeatmapVersions[0].prepare(device, cam, { activations: network.tensorBuffer(layer), alpha, raw, heat, stats: heatStats }),
    ];
    const plan: TargetPlan = { layer, score, backward, scoreDispatch, cam: camDispatches, shape, alpha, raw, heat, heatStats };
    this.targets.set(key, plan);
    return plan;
  }

  async run(image: ImageInput | Float32Array<ArrayBuffer>, options: GradCamOptions = {}): Promise<GradCamResult> {
    if (this.disposed) throw new Error('GradCam: run() after dispose()');
    checkGradCamOptions(this.model, options);
    const layer = options.layer ?? this.defaultLayer;
    const score = options.score ?? 'prob';
    const alphaBlend = options.alpha ?? 0.4;
    const classes = elementCount(this.network.tensorShape(this.network.plan.output));
    const classIndex = options.classIndex;
    if (!(image instanceof Float32Array) && image.width * image.height > MAX_IMAGE_PIXELS)
      throw new Error(`image ${image.width}×${image.height} is larger than the ${MAX_IMAGE_PIXELS / 1e6} megapixel limit; downscale it first`);

    const { network } = this;
    const device = network.device;
    const plan = await this.target(layer, score);
    device.queue.writeBuffer(plan.scoreDispatch.params, 0, packSoftmaxScoreParams({ c: classes, score, classIndex: classIndex ?? TOP_CLASS }));

    const staged: StagedInput = await network.stageInput(image, options.resize);
    const temporaries: GPUBuffer[] = [];
    let overlay: Dispatch | undefined;
    let overlayOut: GPUBuffer | undefined;
    const [h, w] = [plan.shape[0], plan.shape[1]];
    if (!(image instanceof Float32Array) && staged.imageBuffer) {
      const shape = { srcW: w, srcH: h, dstW: image.width, dstH: image.height, alpha: alphaBlend };
      const table = packResizeTable({ srcW: w, srcH: h, dstW: image.width, dstH: image.height, method: 'bilinear' });
      const tableBuffer = device.createBuffer({ label: 'overlay resize table', size: table.byteLength, usage: STORAGE() });
      device.queue.writeBuffer(tableBuffer, 0, table);
      overlayOut = device.createBuffer({ label: 'overlay rgba8', size: 4 * image.width * image.height, usage: STORAGE() });
      temporaries.push(tableBuffer, overlayOut);
      overlay = await overlayJetVersions[0].prepare(device, shape, { heat: plan.heat, table: tableBuffer, lut: this.lut, image: staged.imageBuffer, out: overlayOut });
    }

    const timer = PassTimer.create(device, 96);
    const readback = new Readback(device);
    const t0 = performance.now();
    try {
      device.pushErrorScope('validation');
      const encoder = device.createCommandEncoder({ label: `Grad-CAM ${layer}` });
      network.encodeForward(encoder, staged, undefined, timer);
      const encodeStage = (dispatches: Dispatch[], stage: string) => {
        for (const d of dispatches) {
          const pass = encoder.beginComputePass(timer?.pass(d.label, stage) ?? { label: d.label });
          encodeDispatch(pass, d);
          pass.end();
        }
      };
      encodeStage(plan.backward, 'backward');
      encodeStage(plan.cam, 'cam');
      if (overlay) encodeStage([overlay], 'overlay');
      timer?.resolve(encoder);
      readback.copy(encoder, 'probabilities', network.tensorBuffer(network.plan.output));
      readback.copy(encoder, 'class', this.classStats, 4);
      readback.copy(encoder, 'heat', plan.heat);
      readback.copy(encoder, 'raw', plan.raw);
      readback.copy(encoder, 'max', plan.heatStats, 4);
      if (overlayOut) readback.copy(encoder, 'overlay', overlayOut);
      if (options.readGradient) readback.copy(encoder, 'gradient', this.gradBuffer(layer));
      // Every activation is kept for the backward pass, so any tensor can be copied out at the end.
      for (const name of options.read ?? []) readback.copy(encoder, `tensor:${name}`, network.tensorBuffer(name), 4 * elementCount(network.tensorShape(name)));
      device.queue.submit([encoder.finish()]);
      const error = await device.popErrorScope();
      if (error) throw new Error(`Grad-CAM: WebGPU validation error: ${error.message}`);
      const out = await readback.read();
      const wall = performance.now() - t0;
      const timed = timer ? await timer.read() : undefined;
      const timingsMs: Record<string, number> = { ...timed?.stages, total: wall };
      const probabilities = new Float32Array(out.get('probabilities')!);
      const chosen = new Uint32Array(out.get('class')!)[0];
      const heatmapMax = new Float32Array(out.get('max')!)[0];
      const warnings: string[] = [];
      if (!(heatmapMax > 0))
        warnings.push(
          `the Grad-CAM map for class ${chosen} at ${layer} has no positive value (max ${heatmapMax}); the heatmap is all zeros, ` +
            `so this layer shows no evidence for the class${score === 'prob' ? " (a saturated softmax can cause this: try score 'logit')" : ''}`,
        );
      return {
        predictions:
          classes === 1000
            ? decodePredictions(probabilities, options.top ?? 5)
            : topK(probabilities, Math.min(options.top ?? 5, classes)).map((index) => ({ index, wnid: '', label: `class ${index}`, probability: probabilities[index] })),
        probabilities,
        classIndex: chosen,
        layer,
        score,
        heatmap: { data: new Float32Array(out.get('heat')!), width: w, height: h },
        rawHeatmap: { data: new Float32Array(out.get('raw')!), width: w, height: h },
        overlay: overlayOut && !(image instanceof Float32Array) ? { width: image.width, height: image.height, data: new Uint8ClampedArray(out.get('overlay')!) } : undefined,
        gradient: options.readGradient ? new Float32Array(out.get('gradient')!) : undefined,
        tensors: new Map((options.read ?? []).map((name) => [name, new Float32Array(out.get(`tensor:${name}`)!)])),
        warnings,
        timingsMs,
        passTimings: timed?.passes ?? [],
      };
    } finally {
      readback.destroy();
      timer?.destroy();
      staged.release();
      for (const b of temporaries) b.destroy();
      if (overlay) destroyDispatch(overlay);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.targets.values()) {
      [...t.backward, ...t.cam].forEach(destroyDispatch);
      for (const b of [t.alpha, t.raw, t.heat, t.heatStats]) b.destroy();
    }
    for (const b of this.grads.values()) b.destroy();
    this.classStats.destroy();
    this.lut.destroy();
    this.network.dispose();
  }
}
