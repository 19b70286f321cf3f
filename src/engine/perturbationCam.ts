// The perturbation CAMs of pytorch-grad-cam, on the GPU: channel weights w[K] for a target conv layer
// from forwards of perturbed inputs, read off the kept batch-1 forward (A = the target layer's
// post-ReLU output [H, W, K]). The caller forms the map (Σ_k w_k A_k, ReLU, ÷ max).
//
// target score (both): s = sign · Σ_{c ∈ classes} score_c, score_c = softmax probability ('prob') or
//   logit ('logit', the 'predictions/logits' tensor).
// 'ablationcam' (AblationCAM, Desai & Ramaswamy 2020): s_k = the score with channel k of A zeroed,
//   running only the layers after the target; w_k = (s − s_k) / s (pytorch-grad-cam's
//   (original − ablated) / original; the ratio does not depend on the sign). s = 0 (or not finite):
//   the ratio is undefined, so w = 0 and a warning says why. pytorch-grad-cam's AblationLayer zeroes
//   the channel when min(A) = 0, always so after a ReLU unless every value is positive (then it
//   writes min(A) − 1e7); here the channel is always zeroed, as in the paper.
// 'scorecam' (Score-CAM, Wang et al. 2020): for each k, A_k upsampled to the input size (bilinear,
//   align_corners=True: torch.nn.UpsamplingBilinear2d), min–max normalised over the image, multiplied
//   into the preprocessed input (every channel); s_k = score of the full network on it; w = softmax_k s_k.
//
// The K perturbed forwards run as the rows of batched networks (the layers after the target for
// ablation, the whole model for Score-CAM) that borrow the kept network's weight buffers
// (Network.borrowing: no upload, same float32/float16 format) and own their activations, so the kept
// forward is never overwritten. Per chunk of B rows, one submission: a kernel builds the batch from A
// (and the kept input) on the GPU, the batched forward runs, a kernel writes each row's target score into
// scores[k]; after the last chunk one kernel turns the scores into w. Nothing is read back but 8 bytes
// of status (s and flags, for the warnings).
import { GpuCommandError } from './deviceErrors.js';
import { ablateChannelsVersions, packAblateParams, type AblateShape } from '../kernels/ablateChannels.js';
import { channelScoreWeightsVersions, STATS_FLAGS } from '../kernels/channelScoreWeights.js';
import { destroyDispatch, encodeDispatch, type Dispatch } from '../kernels/kernel.js';
import { packScoreCamMaskParams, scoreCamMasksVersions, type ScoreCamMaskShape } from '../kernels/scoreCamMasks.js';
import { packTargetCoefficients, packTargetScoresParams, targetScoresVersions, type TargetScoresShape } from '../kernels/targetScores.js';
import { Readback } from './gpuTimer.js';
import { convLayerNames, type ModelSpec } from './model.js';
import { Network } from './network.js';
import { assignBuffers, forwardLifetimes, INPUT_TENSOR, logitsTensor, planForward } from './plan.js';

export type PerturbationMethod = 'scorecam' | 'ablationcam';
export const PERTURBATION_METHODS: readonly PerturbationMethod[] = ['scorecam', 'ablationcam'];

export interface PerturbationTarget {
  /** Distinct class indices whose scores are summed. */
  classes: readonly number[];
  /** −1: the counterfactual (what lowers the classes' score). */
  sign: 1 | -1;
  score: 'prob' | 'logit';
}

export interface PerturbationOptions {
  /**
   * Perturbed inputs per batched forward (default DEFAULT_BATCH_ROWS). Lowered to fit
   * BATCH_MEMORY_BYTES and the device's buffer limits, and evened out over the chunks
   * (K = 20, 8 asked → 3 chunks of 7, the last with one padding row).
   */
  batchRows?: number;
  /** Called after each chunk has run on the GPU: channels done so far, K. */
  onProgress?: (done: number, total: number) => void;
}

export interface PerturbationResult {
  warnings: string[];
  /** Forward rows run (chunks × rows per chunk, padding rows included). */
  rows: number;
  submissions: number;
}

/** pytorch-grad-cam's Score-CAM batch is 16; AblationCAM's tail is cheap per row, so more rows amortise its weights' reads. */
export const DEFAULT_BATCH_ROWS: Readonly<Record<PerturbationMethod, number>> = { ablationcam: 64, scorecam: 8 };

/** Activation memory one batched network may hold: batchRows is lowered to stay under it. */
export const BATCH_MEMORY_BYTES = 512 * 2 ** 20;

/**
 * Plans kept at once, least recently used evicted with any batched network no kept plan uses: each plan
 * is keyed by its rows per chunk, which follow batchRows, so a caller trying several would otherwise keep
 * a network of up to BATCH_MEMORY_BYTES for each. Two: Score-CAM and Ablation-CAM alternated keep theirs.
 */
export const MAX_PERTURBATION_PLANS = 2;

/** Chunks submitted ahead of the one being waited for (keeps the GPU busy while progress is reported). */
const CHUNKS_IN_FLIGHT = 2;

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** What a batched network over `model` needs per row: all its activation buffers, and the largest one. */
export function perRowBytes(model: ModelSpec): { total: number; largest: number } {
  const slots = assignBuffers(forwardLifetimes(planForward(model, 1))).slotBytes;
  return { total: slots.reduce((a, b) => a + b, 0), largest: Math.max(...slots) };
}

/** Rows per chunk: asked, capped by memory and K, then spread evenly over the chunks it takes. */
export function chunkRows(channels: number, asked: number, maxRows: number): { rows: number; chunks: number } {
  const cap = Math.max(1, Math.min(asked, maxRows, channels));
  const chunks = Math.ceil(channels / cap);
  return { rows: Math.ceil(channels / chunks), chunks };
}

interface Plan {
  method: PerturbationMethod;
  layer: string;
  channels: number;
  rows: number;
  chunks: number;
  net: Network;
  /** ablateChannels or scoreCamMasks; its params are rewritten per chunk. */
  build: Dispatch;
  buildShape: AblateShape | ScoreCamMaskShape;
  /** f32[K + 1]: s_k, then s (ablation). */
  scores: GPUBuffer;
  /** targetScores over the batch's output rows, per score kind. */
  rowScores: Map<PerturbationTarget['score'], Dispatch>;
  /** targetScores of the kept forward into scores[K] (ablation), per score kind. */
  original: Map<PerturbationTarget['score'], Dispatch>;
}

export class PerturbationCam {
  private readonly nets = new Map<string, Network>();
  private readonly plans = new Map<string, Plan>();
  private readonly classes: number;
  private readonly lastLayer: string;
  private readonly coefficients: GPUBuffer;
  private readonly stats: GPUBuffer;
  private readonly readback: Readback;
  private disposed = false;

  /** network: the batch-1 network whose activations (all kept) hold the current image's forward. */
  constructor(readonly network: Network) {
    const { model, plan } = network;
    if (plan.batch !== 1) throw new Error(`PerturbationCam: needs the batch-1 network of the kept forward (got batch ${plan.batch})`);
    const last = model.layers[model.layers.length - 1];
    if (last?.kind !== 'dense' || last.activation !== 'softmax') throw new Error(`${model.name}: the model must end in a softmax layer for the perturbation CAMs`);
    this.lastLayer = last.name;
    this.classes = last.units;
    const device = network.device;
    this.coefficients = device.createBuffer({ label: 'perturbation target coefficients', size: 4 * this.classes, usage: STORAGE() });
    this.stats = device.createBuffer({ label: 'perturbation status', size: 8, usage: STORAGE() });
    this.readback = new Readback(device);
  }

  /** Plans and batched networks kept (at most MAX_PERTURBATION_PLANS of each). */
  get cacheSizes(): { plans: number; networks: number } {
    return { plans: this.plans.size, networks: this.nets.size };
  }

  /** GPU bytes held: batched networks' activations, scores, coefficients, uniforms and readback. */
  get bytes(): number {
    let n = this.coefficients.size + this.stats.size + this.readback.bytes;
    for (const net of this.nets.values()) n += net.memoryBytes;
    for (const p of this.plans.values()) {
      n += p.scores.size;
      for (const d of [p.build, ...p.rowScores.values(), ...p.original.values()]) n += d.params.size;
    }
    return n;
  }

  private check(method: PerturbationMethod, layer: string, target: PerturbationTarget, weights: GPUBuffer): number {
    if (this.disposed) throw new Error('PerturbationCam: used after dispose()');
    const { model } = this.network;
    if (!PERTURBATION_METHODS.includes(method)) throw new Error(`method '${String(method)}': choose one of ${PERTURBATION_METHODS.join(', ')}`);
    const convLayers = convLayerNames(model);
    if (!convLayers.includes(layer)) throw new Error(`layer '${layer}' is not a conv layer of ${model.name}; choose one of ${convLayers.join(', ')}`);
    if (target.sign !== 1 && target.sign !== -1) throw new Error(`target sign ${String(target.sign)}: must be 1 or -1`);
    if (target.score !== 'prob' && target.score !== 'logit') throw new Error(`score '${String(target.score)}': choose 'prob' or 'logit'`);
    if (target.classes.length === 0) throw new Error('target: at least one class');
    const channels = this.network.tensorShape(layer)[2];
    if (weights.size < 4 * channels) throw new Error(`weights buffer: ${weights.size} bytes, ${layer} has ${channels} channels (${4 * channels} bytes)`);
    if (!(weights.usage & GPUBufferUsage.STORAGE)) throw new Error('weights buffer: needs STORAGE usage');
    return channels;
  }

  /** Throws unless `name`'s buffer is still its own at the end of the forward (a kept tensor). */
  private requireKept(name: string, why: string): void {
    const { network } = this;
    const buffer = network.tensorBuffer(name);
    const ops = network.plan.ops;
    const from = name === INPUT_TENSOR ? 0 : ops.findIndex((op) => op.output === name) + 1;
    for (const op of ops.slice(from))
      if (network.tensorBuffer(op.output) === buffer)
        throw new Error(`PerturbationCam: ${why} needs '${name}' kept after the forward, but '${op.output}' reuses its buffer; create the network with keep: ['${name}', …] (GradCam does)`);
  }

  private async batchedNet(key: string, model: ModelSpec, rows: number): Promise<Network> {
    const cacheKey = `${key}|${rows}`;
    let net = this.nets.get(cacheKey);
    if (!net) {
      net = await Network.borrowing(this.network, model, { batch: rows, keep: [logitsTensor(this.lastLayer), this.lastLayer] });
      this.nets.set(cacheKey, net);
    }
    return net;
  }

  private async plan(method: PerturbationMethod, layer: string, asked: number): Promise<{ plan: Plan; lowered?: number }> {
    const { network } = this;
    const { device, model } = network;
    const [h, w, channels] = network.tensorShape(layer);
    const index = model.layers.findIndex((l) => l.name === layer);
    // Ablation: the layers after the target, on A's shape. Score-CAM: the whole model.
    const sub: ModelSpec =
      method === 'ablationcam' ? { name: `${model.name} after ${layer}`, inputShape: [h, w, channels], layers: model.layers.slice(index + 1) } : model;
    const per = perRowBytes(sub);
    const bindable = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    const maxRows = Math.max(1, Math.min(Math.floor(BATCH_MEMORY_BYTES / per.total), Math.floor(bindable / per.largest)));
    const { rows, chunks } = chunkRows(channels, asked, maxRows);
    const key = `${method}|${layer}|${rows}`;
    const lowered = asked > maxRows && maxRows < channels ? maxRows : undefined;
    const cached = this.plans.get(key);
    if (cached) {
      // Most recently used last (Map order), for evictPlans.
      this.plans.delete(key);
      this.plans.set(key, cached);
      return { plan: cached, lowered };
    }

    this.requireKept(layer, method);
    if (method === 'scorecam') this.requireKept(INPUT_TENSOR, method);
    this.evictPlans();
    const net = await this.batchedNet(method === 'ablationcam' ? `after ${layer}` : 'full', sub, rows);
    this.dropUnusedNets(net);
    const scores = device.createBuffer({ label: `${method} ${layer} scores`, size: 4 * (channels + 1), usage: STORAGE() });
    const made: Dispatch[] = [];
    try {
      let build: Dispatch;
      let buildShape: AblateShape | ScoreCamMaskShape;
      if (method === 'ablationcam') {
        const shape: AblateShape = { rows, positions: h * w, channels, k0: 0 };
        build = await ablateChannelsVersions[0].prepare(device, shape, { a: network.tensorBuffer(layer), x: net.tensorBuffer(INPUT_TENSOR) }, `ablate ${layer}`);
        buildShape = shape;
      } else {
        const [H, W, C] = model.inputShape;
        const shape: ScoreCamMaskShape = { rows, k0: 0, channels, srcH: h, srcW: w, dstH: H, dstW: W, inChannels: C };
        build = await scoreCamMasksVersions[0].prepare(
          device,
          shape,
          { a: network.tensorBuffer(layer), input: network.tensorBuffer(INPUT_TENSOR), x: net.tensorBuffer(INPUT_TENSOR) },
          `Score-CAM masks ${layer}`,
        );
        buildShape = shape;
      }
      made.push(build);
      const plan: Plan = { method, layer, channels, rows, chunks, net, build, buildShape, scores, rowScores: new Map(), original: new Map() };
      this.plans.set(key, plan);
      return { plan, lowered };
    } catch (e) {
      made.forEach(destroyDispatch);
      scores.destroy();
      this.dropUnusedNets();
      throw e;
    }
  }

  /** Makes room for one more plan: the least recently used go (their networks in dropUnusedNets). */
  private evictPlans(): void {
    for (const [key, p] of this.plans) {
      if (this.plans.size < MAX_PERTURBATION_PLANS) break;
      this.plans.delete(key);
      this.destroyPlan(p);
    }
  }

  /** Disposes the batched networks that no kept plan uses (but `keep`, about to be used by a new plan). */
  private dropUnusedNets(keep?: Network): void {
    const used = new Set([...this.plans.values()].map((p) => p.net));
    if (keep) used.add(keep);
    for (const [key, net] of this.nets)
      if (!used.has(net)) {
        net.dispose();
        this.nets.delete(key);
      }
  }

  private destroyPlan(p: Plan): void {
    [p.build, ...p.rowScores.values(), ...p.original.values()].forEach(destroyDispatch);
    p.scores.destroy();
  }

  /** The output tensor a score kind reads: probabilities or logits. */
  private scoreTensor(score: PerturbationTarget['score']): string {
    return score === 'prob' ? this.lastLayer : logitsTensor(this.lastLayer);
  }

  private async scoreDispatches(plan: Plan, score: PerturbationTarget['score']): Promise<{ rowScores: Dispatch; original?: Dispatch }> {
    const device = this.network.device;
    const tensor = this.scoreTensor(score);
    let rowScores = plan.rowScores.get(score);
    if (!rowScores) {
      const shape: TargetScoresShape = { rows: plan.rows, classes: this.classes, k0: 0, valid: plan.rows };
      rowScores = await targetScoresVersions[0].prepare(device, shape, { y: plan.net.tensorBuffer(tensor), t: this.coefficients, scores: plan.scores }, `${plan.method} ${plan.layer} row scores (${score})`);
      plan.rowScores.set(score, rowScores);
    }
    if (plan.method !== 'ablationcam') return { rowScores };
    let original = plan.original.get(score);
    if (!original) {
      const shape: TargetScoresShape = { rows: 1, classes: this.classes, k0: plan.channels, valid: 1 };
      original = await targetScoresVersions[0].prepare(device, shape, { y: this.network.tensorBuffer(tensor), t: this.coefficients, scores: plan.scores }, `${plan.layer} unperturbed score (${score})`);
      plan.original.set(score, original);
    }
    return { rowScores, original };
  }

  /**
   * Writes w[K] (f32) for `layer` into `weights` (a STORAGE buffer of ≥ 4·K bytes). Call inside
   * network.exclusive(), after a forward whose activations are still in place; it submits one command
   * buffer per chunk of rows.
   */
  async channelWeights(
    method: PerturbationMethod,
    layer: string,
    target: PerturbationTarget,
    weights: GPUBuffer,
    options: PerturbationOptions = {},
  ): Promise<PerturbationResult> {
    const channels = this.check(method, layer, target, weights);
    const asked = options.batchRows ?? DEFAULT_BATCH_ROWS[method];
    if (!(Number.isInteger(asked) && asked >= 1)) throw new Error(`batchRows ${asked}: must be a positive integer`);
    const t = packTargetCoefficients(this.classes, target.classes, target.sign);
    const { plan, lowered } = await this.plan(method, layer, asked);
    const { rowScores, original } = await this.scoreDispatches(plan, target.score);
    const device = this.network.device;
    const ablation = method === 'ablationcam';
    const finish = await channelScoreWeightsVersions[0].prepare(device, { channels, ablation }, { scores: plan.scores, w: weights, stats: this.stats }, `${method} ${layer} weights`);

    const warnings: string[] = [];
    if (lowered !== undefined) warnings.push(`${method} ${layer}: batchRows ${asked} lowered to ${lowered} to fit ${BATCH_MEMORY_BYTES / 2 ** 20} MiB of activations and the device's buffer limits`);
    device.queue.writeBuffer(this.coefficients, 0, t);
    let submissions = 0;
    const inFlight: { done: number; work: Promise<unknown> }[] = [];
    const settle = async () => {
      const chunk = inFlight.shift()!;
      await chunk.work;
      options.onProgress?.(chunk.done, channels);
    };
    device.pushErrorScope('validation');
    let scopeOpen = true;
    try {
      for (let c = 0; c < plan.chunks; c++) {
        const k0 = c * plan.rows;
        const valid = Math.min(plan.rows, channels - k0);
        device.queue.writeBuffer(plan.build.params, 0, ablation ? packAblateParams({ ...(plan.buildShape as AblateShape), k0 }) : packScoreCamMaskParams({ ...(plan.buildShape as ScoreCamMaskShape), k0 }));
        device.queue.writeBuffer(rowScores.params, 0, packTargetScoresParams({ rows: plan.rows, classes: this.classes, k0, valid }));
        const encoder = device.createCommandEncoder({ label: `${method} ${layer} rows ${k0}–${k0 + valid - 1}` });
        const run = (d: Dispatch) => {
          const pass = encoder.beginComputePass({ label: d.label });
          encodeDispatch(pass, d);
          pass.end();
        };
        if (c === 0 && original) run(original);
        run(plan.build);
        plan.net.encodeForward(encoder, {});
        run(rowScores);
        if (c === plan.chunks - 1) {
          run(finish);
          this.readback.copy(encoder, 'stats', this.stats, 8);
        }
        device.queue.submit([encoder.finish()]);
        submissions++;
        inFlight.push({ done: k0 + valid, work: device.queue.onSubmittedWorkDone() });
        while (inFlight.length > CHUNKS_IN_FLIGHT) await settle();
      }
      while (inFlight.length > 0) await settle();
      scopeOpen = false;
      const error = await device.popErrorScope();
      if (error) throw new GpuCommandError(`${method} ${layer}`, 'validation', error.message);
      const stats = new Uint32Array((await this.readback.read()).get('stats')!);
      const s = new Float32Array(stats.buffer, 0, 1)[0];
      const flags = stats[1];
      const what = `${target.sign < 0 ? '−' : ''}${target.score} of class${target.classes.length > 1 ? 'es' : ''} ${target.classes.join(' + ')}`;
      if (flags & STATS_FLAGS.scoreUnusable)
        warnings.push(
          `ablationcam ${layer}: the target score (${what}) of the image is ${s}, so the ablation ratio (s − s_k) / s is undefined; ` +
            `every channel weight was set to 0 (the map is all zeros)${target.score === 'prob' ? '' : "; try score 'prob'"}`,
        );
      if (flags & STATS_FLAGS.scoreNotFinite) warnings.push(`${method} ${layer}: some perturbed target scores (${what}) are not finite; the weights are not meaningful`);
      return { warnings, rows: plan.chunks * plan.rows, submissions };
    } finally {
      if (scopeOpen) await device.popErrorScope();
      this.readback.discard();
      destroyDispatch(finish);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.plans.values()) this.destroyPlan(p);
    this.plans.clear();
    for (const net of this.nets.values()) net.dispose();
    this.nets.clear();
    this.coefficients.destroy();
    this.stats.destroy();
    this.readback.destroy();
  }
}

