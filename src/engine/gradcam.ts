// Grad-CAM on the GPU, as the Keras recipe ("Deep Learning with Python", 5.4.3) computes it:
// score = softmax output of class c (or its logit), A = output of the target conv layer (post-ReLU),
// G = dscore/dA, α_k = mean over H, W of G, map = mean over k of A·α_k, ReLU, divided by its max;
// then the OpenCV overlay (bilinear upsample, uint8, JET, jet·α + image, saturated).
// run() records preprocess, forward, backward down to the target, CAM and overlay in one command buffer;
// only the results are read back. The image's activations stay on the GPU, so another class, layer or
// score needs only explain() (backward, CAM, overlay) and another α, blend or colormap only overlay().
// Buffers for the current image size are kept and reused. The backward path is derived from the forward
// plan, walked in reverse.
import { COLORMAPS, packColormapLut, type ColormapName } from '../kernels/colormaps.js';
import { BLEND_MODES, gradcamChannelWeightsVersions, gradcamHeatmapVersions, overlayHeatmapVersions, packOverlayParams, type BlendMode } from '../kernels/gradcam.js';
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
export type { BlendMode } from '../kernels/gradcam.js';
export type { ColormapName } from '../kernels/colormaps.js';

const DEFAULT_ALPHA = 0.4;

/** The overlay pass alone: changing these reruns only it (see GradCam.overlay). */
export interface OverlayOptions {
  /** Weight of the heatmap's colour, 0..1 (default 0.4, as the recipe). */
  alpha?: number;
  /** 'add' (default, the recipe): colour·α + image, saturated; 'normalized': (1 − α)·image + α·colour. */
  blend?: BlendMode;
  /** Default 'jet' (the recipe's). */
  colormap?: ColormapName;
}

/** What a map needs from a kept forward: changing these reruns the backward, the CAM and the overlay. */
export interface ExplainOptions extends OverlayOptions {
  /** ImageNet class (0–999); default: the top-1 class. */
  classIndex?: number;
  /** Any conv layer; default 'block5_conv3' (the last conv layer of the model). */
  layer?: string;
  score?: ScoreKind;
  /** How many predictions to decode (default 5). */
  top?: number;
  /** Also read back G = dscore/dA at the target layer (for verification). */
  readGradient?: boolean;
  /** Also read back these forward tensors (Keras layer names, 'input', 'predictions/logits'). */
  read?: readonly string[];
}

export interface GradCamOptions extends ExplainOptions {
  resize?: ResizeMethod;
}

export interface GradCamForwardOptions {
  resize?: ResizeMethod;
  /** How many predictions to decode (default 5). */
  top?: number;
  /** Also read back these forward tensors. */
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
  overlay?: RgbaImage;
  gradient?: Float32Array;
  /** The tensors asked for in `read`. */
  tensors: Map<string, Float32Array>;
  warnings: string[];
  /**
   * GPU time per stage that ran (from timestamp queries, absent when the device has none) and 'total':
   * the wall-clock time from recording the commands to the results on the CPU.
   */
  timingsMs: Record<string, number>;
  /** GPU time of every pass (labelled '<layer> <kind>'), empty when the device has no timestamp queries. */
  passTimings: PassTiming[];
}

export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** What GradCam.forward() gives: the predictions of an image whose activations stay on the GPU. */
export interface ForwardView {
  predictions: Prediction[];
  probabilities: Float32Array;
  tensors: Map<string, Float32Array>;
  timingsMs: Record<string, number>;
  passTimings: PassTiming[];
}

export interface OverlayResult {
  overlay: RgbaImage;
  /** The map it shows: the last explain() or run(). */
  classIndex: number;
  layer: string;
  timingsMs: Record<string, number>;
  passTimings: PassTiming[];
}

/**
 * How many submissions ran each stage since the engine was made (a backward of 20 passes counts once):
 * how a caller (and the demo page's tests) can see that a change reran only what it needed.
 */
export interface StageCounts {
  preprocess: number;
  forward: number;
  backward: number;
  cam: number;
  overlay: number;
}

/**
 * Checks a run's options against the model alone, so a caller can refuse bad arguments before any
 * weight is loaded or GPU work is done (the CLI does); run() checks the same way.
 */
export function checkGradCamOptions(model: ModelSpec, options: Pick<GradCamOptions, 'layer' | 'score' | 'alpha' | 'classIndex' | 'blend' | 'colormap'>): void {
  const convLayers = convLayerNames(model);
  const { layer, score, alpha, classIndex, blend, colormap } = options;
  if (layer !== undefined && !convLayers.includes(layer))
    throw new Error(`layer '${layer}' is not a conv layer of ${model.name}; choose one of ${convLayers.join(', ')}`);
  if (score !== undefined && score !== 'prob' && score !== 'logit') throw new Error(`score '${String(score)}': choose 'prob' or 'logit'`);
  if (alpha !== undefined && !(alpha >= 0 && alpha <= 1)) throw new Error(`alpha ${alpha}: must be between 0 and 1`);
  if (blend !== undefined && !BLEND_MODES.includes(blend)) throw new Error(`blend '${String(blend)}': choose one of ${BLEND_MODES.join(', ')}`);
  if (colormap !== undefined && !COLORMAPS.includes(colormap)) throw new Error(`colormap '${String(colormap)}': choose one of ${COLORMAPS.join(', ')}`);
  const classes = classCount(model);
  if (classIndex !== undefined && !(Number.isInteger(classIndex) && classIndex >= 0 && classIndex < classes))
    throw new Error(`class ${classIndex}: must be an integer in 0..${classes - 1}`);
}

export { MAX_IMAGE_PIXELS };

interface TargetPlan {
  key: string;
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


/** The kept image's size and its upload buffer (the overlay blends onto it). */
interface KeptImage {
  width: number;
  height: number;
  buffer: GPUBuffer;
}

const keptImage = (image: ImageInput | Float32Array, staged: StagedInput): KeptImage | undefined =>
  !(image instanceof Float32Array) && staged.imageBuffer ? { width: image.width, height: image.height, buffer: staged.imageBuffer } : undefined;

/** The image whose activations are on the GPU now. */
interface KeptForward {
  /** The network's forward count right after ours: another forward (network.forward()) overwrites the activations. */
  generation: number;
  image?: KeptImage;
  probabilities: Float32Array;
}

/** The last map computed on the kept forward, for overlay(). */
interface KeptMap {
  generation: number;
  plan: TargetPlan;
  classIndex: number;
}

/** One submission: passes recorded under their stage names, buffers copied out at the end. */
interface Recorder {
  stage(dispatches: readonly Dispatch[], stage: keyof StageCounts): void;
  forward(staged: StagedInput): void;
  read(name: string, buffer: GPUBuffer, bytes?: number): void;
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
/** Passes one submission may time: VGG19's forward and backward with the CAM and overlay need about 60. */
const MAX_TIMED_PASSES = 160;

export class GradCam {
  private readonly grads = new Map<string, GPUBuffer>();
  private readonly targets = new Map<string, TargetPlan>();
  /** `kernel.version` run for each layer's backward pass, as prepared so far. */
  readonly backwardVersions = new Map<string, string>();
  /** Recorded passes per stage since creation (see StageCounts). */
  readonly stageCounts: StageCounts = { preprocess: 0, forward: 0, backward: 0, cam: 0, overlay: 0 };
  private readonly classStats: GPUBuffer;
  private readonly luts = new Map<ColormapName, GPUBuffer>();
  /** The overlay of one target's map onto the current image, per (target, colormap): kept while the image size stays. */
  private readonly overlays = new Map<string, Dispatch>();
  private readonly overlayTables = new Map<string, GPUBuffer>();
  private overlayOut?: GPUBuffer;
  private overlayImage?: GPUBuffer;
  private readonly timer?: PassTimer;
  private readonly readback: Readback;
  private kept?: KeptForward;
  private keptMap?: KeptMap;
  private disposed = false;

  private constructor(
    readonly network: Network,
    readonly convLayers: readonly string[],
    private readonly options: NetworkOptions,
  ) {
    const device = network.device;
    this.classStats = device.createBuffer({ label: 'chosen class', size: 16, usage: STORAGE() });
    this.timer = PassTimer.create(device, MAX_TIMED_PASSES);
    this.readback = new Readback(device);
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

  /** GPU memory held: weights, activations, the image upload, gradients, per-target, overlay, readback and timer buffers, in bytes. */
  get memoryBytes(): number {
    let n = this.network.memoryBytes + this.classStats.size + this.readback.bytes + (this.timer?.bytes ?? 0) + (this.overlayOut?.size ?? 0);
    for (const b of [...this.grads.values(), ...this.luts.values(), ...this.overlayTables.values()]) n += b.size;
    for (const t of this.targets.values()) n += t.alpha.size + t.raw.size + t.heat.size + t.heatStats.size;
    return n;
  }

  get defaultLayer(): string {
    return this.convLayers[this.convLayers.length - 1];
  }

  /** Whether an image's forward is kept on the GPU, so explain() and overlay() can run. */
  get hasForward(): boolean {
    return this.kept !== undefined && this.kept.generation === this.network.forwardCount;
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

  private lut(name: ColormapName): GPUBuffer {
    let b = this.luts.get(name);
    if (!b) {
      const lut = packColormapLut(name);
      b = this.network.device.createBuffer({ label: `${name} colormap`, size: lut.byteLength, usage: STORAGE() });
      this.network.device.queue.writeBuffer(b, 0, lut);
      this.luts.set(name, b);
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
    const plan: TargetPlan = { key, layer, score, backward, scoreDispatch, cam: camDispatches, shape, alpha, raw, heat, heatStats };
    this.targets.set(key, plan);
    return plan;
  }

  /**
   * The overlay pass of a target's map onto the kept image. For one image size there is one output
   * buffer and one resize table per map size; a dispatch (bind group) per (target, colormap). α and the
   * blend are written into its uniform before each use.
   */
  private async overlayPlan(plan: TargetPlan, image: KeptImage, options: OverlayOptions): Promise<Dispatch> {
    const device = this.network.device;
    if (this.overlayImage !== image.buffer) {
      // A new image buffer (another size): every prepared overlay binds the old one.
      this.dropOverlays();
      this.overlayImage = image.buffer;
    }
    const colormap = options.colormap ?? 'jet';
    const key = `${plan.key}|${colormap}`;
    const [h, w] = [plan.shape[0], plan.shape[1]];
    const shape = { srcW: w, srcH: h, dstW: image.width, dstH: image.height, alpha: options.alpha ?? DEFAULT_ALPHA, blend: options.blend ?? 'add' };
    const out = (this.overlayOut ??= device.createBuffer({ label: 'overlay rgba8', size: 4 * image.width * image.height, usage: STORAGE() }));
    let table = this.overlayTables.get(`${w}x${h}`);
    if (!table) {
      const tableData = packResizeTable({ srcW: w, srcH: h, dstW: image.width, dstH: image.height, method: 'bilinear' });
      table = device.createBuffer({ label: `overlay resize table ${w}×${h}`, size: tableData.byteLength, usage: STORAGE() });
      device.queue.writeBuffer(table, 0, tableData);
      this.overlayTables.set(`${w}x${h}`, table);
    }
    let dispatch = this.overlays.get(key);
    if (!dispatch) {
      dispatch = await overlayHeatmapVersions[0].prepare(device, shape, { heat: plan.heat, table, lut: this.lut(colormap), image: image.buffer, out });
      this.overlays.set(key, dispatch);
    }
    device.queue.writeBuffer(dispatch.params, 0, packOverlayParams(shape));
    return dispatch;
  }

  private dropOverlays(): void {
    this.overlays.forEach(destroyDispatch);
    this.overlays.clear();
    for (const t of this.overlayTables.values()) t.destroy();
    this.overlayTables.clear();
    this.overlayOut?.destroy();
    this.overlayOut = undefined;
  }

  /** One operation at a time, in the network's queue: they share the kept forward, the image upload, the timer and the readback buffers. */
  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    return this.network.exclusive(() => {
      if (this.disposed) throw new Error('GradCam: used after dispose()');
      return f();
    });
  }

  /**
   * Records one command buffer, submits it and reads back what `record` asked for. `forwardGeneration`
   * is the network's forward count right after this submission's forward, if it has one.
   */
  private async execute(
    label: string,
    record: (r: Recorder) => void,
  ): Promise<{ out: Map<string, ArrayBuffer>; timingsMs: Record<string, number>; passTimings: PassTiming[]; forwardGeneration?: number }> {
    const { device } = this.network;
    const timer = this.timer;
    timer?.reset();
    const counts: Partial<StageCounts> = {};
    const count = (stage: keyof StageCounts) => (counts[stage] = (counts[stage] ?? 0) + 1);
    let forwardGeneration: number | undefined;
    const t0 = performance.now();
    device.pushErrorScope('validation');
    let scopeOpen = true;
    try {
      const encoder = device.createCommandEncoder({ label });
      const copies: [string, GPUBuffer, number | undefined][] = [];
      record({
        stage: (dispatches, stage) => {
          for (const d of dispatches) {
            const pass = encoder.beginComputePass(timer?.pass(d.label, stage) ?? { label: d.label });
            encodeDispatch(pass, d);
            pass.end();
          }
          if (dispatches.length) count(stage);
        },
        forward: (staged) => {
          this.network.encodeForward(encoder, staged, undefined, timer);
          forwardGeneration = this.network.forwardCount;
          if (staged.preprocess) count('preprocess');
          count('forward');
        },
        read: (name, buffer, bytes) => copies.push([name, buffer, bytes]),
      });
      timer?.resolve(encoder);
      for (const [name, buffer, bytes] of copies) this.readback.copy(encoder, name, buffer, bytes);
      device.queue.submit([encoder.finish()]);
      scopeOpen = false;
      const error = await device.popErrorScope();
      if (error) throw new Error(`${label}: WebGPU validation error: ${error.message}`);
      for (const [stage, n] of Object.entries(counts) as [keyof StageCounts, number][]) this.stageCounts[stage] += n;
      const out = await this.readback.read();
      const wall = performance.now() - t0;
      const timed = timer ? await timer.read() : undefined;
      return { out, timingsMs: { ...timed?.stages, total: wall }, passTimings: timed?.passes ?? [], forwardGeneration };
    } finally {
      if (scopeOpen) await device.popErrorScope();
      // A failed round leaves nothing pending: the next one starts clean.
      this.readback.discard();
    }
  }

  private predictions(probabilities: Float32Array, top = 5): Prediction[] {
    const classes = probabilities.length;
    return classes === 1000
      ? decodePredictions(probabilities, top)
      : topK(probabilities, Math.min(top, classes)).map((index) => ({ index, wnid: '', label: `class ${index}`, probability: probabilities[index] }));
  }

  private async stage(image: ImageInput | Float32Array<ArrayBuffer>, resize?: ResizeMethod): Promise<StagedInput> {
    if (!(image instanceof Float32Array) && image.width * image.height > MAX_IMAGE_PIXELS)
      throw new Error(`image ${image.width}×${image.height} is larger than the ${MAX_IMAGE_PIXELS / 1e6} megapixel limit; downscale it first`);
    return this.network.stageInput(image, resize);
  }

  private keep(image: KeptImage | undefined, probabilities: Float32Array, generation: number): void {
    this.kept = { generation, image, probabilities };
    this.keptMap = undefined;
  }

  private forget(): void {
    this.kept = undefined;
    this.keptMap = undefined;
  }

  private requireForward(what: string): KeptForward {
    if (!this.kept) throw new Error(`GradCam.${what}(): no image yet; call forward(image) or run(image) first`);
    if (this.kept.generation !== this.network.forwardCount)
      throw new Error(`GradCam.${what}(): the network ran another forward since this image's; call forward(image) or run(image) again`);
    return this.kept;
  }

  /** Records backward → CAM (→ overlay) for a target and asks for the map's readbacks. */
  private recordExplain(r: Recorder, plan: TargetPlan, overlay: Dispatch | undefined, options: ExplainOptions): void {
    r.stage(plan.backward, 'backward');
    r.stage(plan.cam, 'cam');
    if (overlay) r.stage([overlay], 'overlay');
    r.read('class', this.classStats, 4);
    r.read('heat', plan.heat);
    r.read('raw', plan.raw);
    r.read('max', plan.heatStats, 4);
    if (overlay) r.read('overlay', this.overlayOut!);
    if (options.readGradient) r.read('gradient', this.gradBuffer(plan.layer));
    this.recordTensorReads(r, options.read);
  }

  /** Every activation is kept for the backward pass, so any tensor can be copied out at the end. */
  private recordTensorReads(r: Recorder, names: readonly string[] = []): void {
    for (const name of new Set(names)) r.read(`tensor:${name}`, this.network.tensorBuffer(name), 4 * elementCount(this.network.tensorShape(name)));
  }

  private static tensorsRead(out: Map<string, ArrayBuffer>, names: readonly string[] = []): Map<string, Float32Array> {
    return new Map(names.map((name) => [name, new Float32Array(out.get(`tensor:${name}`)!)]));
  }

  private async prepareExplain(options: ExplainOptions): Promise<TargetPlan> {
    checkGradCamOptions(this.model, options);
    for (const name of options.read ?? []) this.network.tensorShape(name);
    const plan = await this.target(options.layer ?? this.defaultLayer, options.score ?? 'prob');
    const classes = elementCount(this.network.tensorShape(this.network.plan.output));
    this.network.device.queue.writeBuffer(plan.scoreDispatch.params, 0, packSoftmaxScoreParams({ c: classes, score: plan.score, classIndex: options.classIndex ?? TOP_CLASS }));
    return plan;
  }

  private explained(
    plan: TargetPlan,
    options: ExplainOptions,
    probabilities: Float32Array,
    image: KeptImage | undefined,
    run: { out: Map<string, ArrayBuffer>; timingsMs: Record<string, number>; passTimings: PassTiming[] },
    generation: number,
  ): GradCamResult {
    const { out } = run;
    const [h, w] = [plan.shape[0], plan.shape[1]];
    const chosen = new Uint32Array(out.get('class')!)[0];
    const heatmapMax = new Float32Array(out.get('max')!)[0];
    const warnings: string[] = [];
    if (!(heatmapMax > 0))
      warnings.push(
        `the Grad-CAM map for class ${chosen} at ${plan.layer} has no positive value (max ${heatmapMax}); the heatmap is all zeros, ` +
          `so this layer shows no evidence for the class${plan.score === 'prob' ? " (a saturated softmax can cause this: try score 'logit')" : ''}`,
      );
    this.keptMap = { generation: generation, plan, classIndex: chosen };
    const overlay = out.get('overlay');
    return {
      predictions: this.predictions(probabilities, options.top),
      probabilities,
      classIndex: chosen,
      layer: plan.layer,
      score: plan.score,
      heatmap: { data: new Float32Array(out.get('heat')!), width: w, height: h },
      rawHeatmap: { data: new Float32Array(out.get('raw')!), width: w, height: h },
      overlay: overlay && image ? { width: image.width, height: image.height, data: new Uint8ClampedArray(overlay) } : undefined,
      gradient: options.readGradient ? new Float32Array(out.get('gradient')!) : undefined,
      tensors: GradCam.tensorsRead(out, options.read),
      warnings,
      timingsMs: run.timingsMs,
      passTimings: run.passTimings,
    };
  }

  /**
   * Everything for one image in one submission: preprocess, forward, backward to the target, CAM and
   * overlay. The forward stays on the GPU, so explain() and overlay() can follow without it.
   */
  run(image: ImageInput | Float32Array<ArrayBuffer>, options: GradCamOptions = {}): Promise<GradCamResult> {
    return this.exclusive(async () => {
      const plan = await this.prepareExplain(options);
      // The upload below overwrites (or frees) the kept image: nothing is kept until this run succeeds.
      this.forget();
      const staged = await this.stage(image, options.resize);
      const kept = keptImage(image, staged);
      const overlay = kept ? await this.overlayPlan(plan, kept, options) : undefined;
      const output = this.network.tensorBuffer(this.network.plan.output);
      const r = await this.execute(`Grad-CAM ${plan.layer}`, (rec) => {
        rec.forward(staged);
        this.recordExplain(rec, plan, overlay, options);
        rec.read('probabilities', output);
      });
      const probabilities = new Float32Array(r.out.get('probabilities')!);
      this.keep(kept, probabilities, r.forwardGeneration!);
      return this.explained(plan, options, probabilities, kept, r, r.forwardGeneration!);
    });
  }

  /** Preprocess and forward only: the predictions, with every activation kept for explain(). */
  forward(image: ImageInput | Float32Array<ArrayBuffer>, options: GradCamForwardOptions = {}): Promise<ForwardView> {
    return this.exclusive(async () => {
      for (const name of options.read ?? []) this.network.tensorShape(name);
      this.forget();
      const staged = await this.stage(image, options.resize);
      const r = await this.execute(`${this.model.name} forward`, (rec) => {
        rec.forward(staged);
        rec.read('probabilities', this.network.tensorBuffer(this.network.plan.output));
        this.recordTensorReads(rec, options.read);
      });
      const probabilities = new Float32Array(r.out.get('probabilities')!);
      this.keep(keptImage(image, staged), probabilities, r.forwardGeneration!);
      return {
        predictions: this.predictions(probabilities, options.top),
        probabilities,
        tensors: GradCam.tensorsRead(r.out, options.read),
        timingsMs: r.timingsMs,
        passTimings: r.passTimings,
      };
    });
  }

  /** Backward, CAM and overlay on the kept forward: another class, layer or score without a new forward. */
  explain(options: ExplainOptions = {}): Promise<GradCamResult> {
    return this.exclusive(async () => {
      const kept = this.requireForward('explain');
      const plan = await this.prepareExplain(options);
      const overlay = kept.image ? await this.overlayPlan(plan, kept.image, options) : undefined;
      const r = await this.execute(`Grad-CAM ${plan.layer} (kept forward)`, (rec) => this.recordExplain(rec, plan, overlay, options));
      return this.explained(plan, options, kept.probabilities, kept.image, r, kept.generation);
    });
  }

  /** The overlay pass alone, on the last map: another α, blend or colormap. */
  overlay(options: OverlayOptions = {}): Promise<OverlayResult> {
    return this.exclusive(async () => {
      checkGradCamOptions(this.model, options);
      const kept = this.requireForward('overlay');
      const map = this.keptMap;
      if (!map || map.generation !== kept.generation) throw new Error('GradCam.overlay(): no map for this image yet; call explain() or run(image) first');
      if (!kept.image) throw new Error('GradCam.overlay(): the kept input is a preprocessed tensor, not an image; there is nothing to overlay');
      const image = kept.image;
      const o = await this.overlayPlan(map.plan, image, options);
      const r = await this.execute('overlay', (rec) => {
        rec.stage([o], 'overlay');
        rec.read('overlay', this.overlayOut!);
      });
      return {
        overlay: { width: image.width, height: image.height, data: new Uint8ClampedArray(r.out.get('overlay')!) },
        classIndex: map.classIndex,
        layer: map.plan.layer,
        timingsMs: r.timingsMs,
        passTimings: r.passTimings,
      };
    });
  }

  /** Frees every GPU buffer at once; calls still in flight then fail, so await them first. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.targets.values()) {
      [...t.backward, ...t.cam].forEach(destroyDispatch);
      for (const b of [t.alpha, t.raw, t.heat, t.heatStats]) b.destroy();
    }
    this.dropOverlays();
    for (const b of [...this.grads.values(), ...this.luts.values()]) b.destroy();
    this.classStats.destroy();
    this.timer?.destroy();
    this.readback.destroy();
    this.network.dispose();
  }
}
