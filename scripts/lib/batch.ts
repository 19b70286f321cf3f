// The work of `gradcam` on many images (folder mode) and of --methods on one: one forward per image,
// then each method on the kept forward (explain() for the CAM methods, attribute() for the pixel-level
// ones), the metrics on request, and the outputs written together or not at all. The engine is opened
// once, when the first image has decoded (a folder whose every pending image is unreadable never loads
// the weights); the next image is decoded while the GPU works on the current one (a prefetch of one).
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  composeGrid,
  DeviceLostError,
  encodeImage,
  encodeNpy,
  formatTarget,
  isPixelMethod,
  readImage,
  writeFilesAtomically,
  type BlendMode,
  type CamMethod,
  type CamTarget,
  type ColormapName,
  type EvaluateResult,
  type GradCam,
  type ImageInput,
  type MetricName,
  type PixelMethod,
  type Prediction,
  type RgbaImage,
} from '../../src/node.js';
import { GALLERY_FILE, heatmapOutput, isDone, outputsOf, readRecords, recordsText, RESULTS_FILE, type FolderImage, type ImageRecord, type MetricSummary } from './folder.js';
import { galleryHtml } from './gallery.js';
import { metricsSummary } from './metrics.js';

export type AnyMethod = CamMethod | PixelMethod;

/** What to compute for every image (the flags of `gradcam`, checked). */
export interface ExplainSettings {
  methods: readonly AnyMethod[];
  classIndex?: number;
  target?: CamTarget;
  layers: readonly string[];
  augSmooth: boolean;
  eigenSmooth: boolean;
  score?: 'prob' | 'logit';
  alpha: number;
  blend: BlendMode;
  colormap: ColormapName;
  /** Predictions kept per image. */
  top: number;
  sampling: { samples?: number; steps?: number; seed?: number; noise?: number; baseline?: number };
  batchRows?: number;
  /** One pixel-level method: its image at the image's size rather than 224×224 (grid tiles always are). */
  imageSize: boolean;
  metrics?: readonly MetricName[];
}

export interface MethodOutcome {
  method: AnyMethod;
  score: string;
  target: string;
  classIndex: number;
  layers?: string[];
  /** The overlay (CAM methods) or the rendering (pixel-level methods). */
  image: RgbaImage;
  /** What --heatmap writes: the normalised CAM at its layer's size, or the pixel method's map. */
  npy: { data: Float32Array; shape: number[] };
  evaluation?: EvaluateResult;
  warnings: string[];
  ms: number;
  sampling?: unknown;
  completeness?: unknown;
}

export interface Explained {
  predictions: Prediction[];
  classIndex: number;
  target: string;
  methods: MethodOutcome[];
  /** The image to write: the one method's, or the grid (original, then one tile per method). */
  image: RgbaImage;
  timingsMs: Record<string, number>;
}

const rgba = (image: ImageInput): RgbaImage =>
  image.data instanceof Uint8ClampedArray ? (image as RgbaImage) : { width: image.width, height: image.height, data: new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.byteLength) };

/** GradCam.evaluate()'s numbers, without the curves: the score read, the headline numbers, the sanity verdict. */
export function summarizeMetrics(e: EvaluateResult): MetricSummary {
  return { score: e.score, ...metricsSummary(e), ...(e.sanity ? { sanityVerdict: e.sanity.verdict } : {}) };
}

/**
 * One image: its forward, then every method on the kept forward (one class for all: the one asked for,
 * or the top-1), each method's metrics on request, and the grid when there are several methods.
 * `detail` hears the long parts (Score-CAM channels, samples, metrics) as they go.
 */
export async function explainImage(cam: GradCam, image: ImageInput, s: ExplainSettings, detail: (text: string) => void = () => {}): Promise<Explained> {
  const t0 = performance.now();
  const forward = await cam.forward(image, { top: s.top });
  const timingsMs: Record<string, number> = { forward: performance.now() - t0 };
  // Every method explains the same class: the one named, or the top-1 of this forward.
  const classIndex = s.classIndex ?? (s.target ? undefined : forward.predictions[0].index);
  const grid = s.methods.length > 1;
  const outcomes: MethodOutcome[] = [];
  for (const method of s.methods) {
    const tm = performance.now();
    const progress = (unit: string) => (done: number, total: number) => detail(`${method} ${done}/${total} ${unit}`);
    let outcome: MethodOutcome;
    if (isPixelMethod(method)) {
      const r = await cam.attribute({
        method,
        classIndex,
        target: s.target,
        layer: method === 'guided-gradcam' ? s.layers[0] : undefined,
        score: s.score,
        top: s.top,
        ...s.sampling,
        batchRows: s.batchRows,
        onProgress: progress('samples'),
        size: grid || s.imageSize ? 'image' : 'model',
      });
      const a = r.attribution;
      outcome = {
        method,
        score: r.score,
        target: formatTarget(r.target),
        classIndex: r.classIndex,
        ...(r.layer ? { layers: [r.layer] } : {}),
        image: r.rendering,
        npy: r.map ? { data: r.map.data, shape: [r.map.height, r.map.width] } : { data: a.data, shape: [a.height, a.width, a.channels] },
        warnings: r.warnings,
        ms: 0,
        ...(r.sampling ? { sampling: r.sampling } : {}),
        ...(r.completeness ? { completeness: r.completeness } : {}),
      };
    } else {
      const r = await cam.explain({
        method,
        classIndex,
        target: s.target,
        layers: s.layers,
        augSmooth: s.augSmooth,
        eigenSmooth: s.eigenSmooth,
        score: s.score,
        alpha: s.alpha,
        blend: s.blend,
        colormap: s.colormap,
        top: s.top,
        onProgress: progress('channels'),
      });
      if (!r.overlay) throw new Error(`${method}: the engine returned no overlay`);
      outcome = {
        method,
        score: r.score,
        target: formatTarget(r.target),
        classIndex: r.classIndex,
        layers: r.layers,
        image: r.overlay,
        npy: { data: r.heatmap.data, shape: [r.heatmap.height, r.heatmap.width] },
        warnings: r.warnings,
        ms: 0,
      };
    }
    outcome.ms = timingsMs[method] = performance.now() - tm;
    if (s.metrics?.length) {
      const te = performance.now();
      outcome.evaluation = await cam.evaluate({
        metrics: s.metrics,
        method,
        classIndex: outcome.classIndex,
        layer: isPixelMethod(method) && method !== 'guided-gradcam' ? undefined : s.layers[0],
        // The map judged is the one written: the same score and sampling.
        mapScore: s.score,
        sampling: s.sampling,
        onProgress: (metric, done, total) => detail(`${method} ${metric} ${done}/${total}`),
      });
      outcome.warnings.push(...outcome.evaluation.warnings);
      timingsMs[`metrics ${method}`] = performance.now() - te;
    }
    outcomes.push(outcome);
  }
  const first = outcomes[0];
  let out = first.image;
  if (grid) {
    const tg = performance.now();
    out = composeGrid([{ image: rgba(image), label: 'original' }, ...outcomes.map((o) => ({ image: o.image, label: o.method }))], {});
    timingsMs.grid = performance.now() - tg;
  }
  timingsMs.total = performance.now() - t0;
  return { predictions: forward.predictions, classIndex: first.classIndex, target: first.target, methods: outcomes, image: out, timingsMs };
}

/** The record of an explained image (results.jsonl, and the JSON of `gradcam --methods` on one image). */
export function recordOf(image: { file: string; output: string }, outputs: string[], size: { width: number; height: number }, e: Explained, extraMs: Record<string, number> = {}): ImageRecord {
  const several = e.methods.length > 1;
  const layers = e.methods.find((m) => m.layers)?.layers;
  const r: ImageRecord = {
    file: image.file,
    output: image.output,
    outputs,
    width: size.width,
    height: size.height,
    predictions: e.predictions.map((p) => ({ classIndex: p.index, wnid: p.wnid, name: p.label, probability: p.probability })),
    ...(several ? { methods: e.methods.map((m) => m.method) } : { method: e.methods[0].method }),
    target: e.target,
    classIndex: e.classIndex,
    ...(layers ? { layers } : {}),
    score: several ? Object.fromEntries(e.methods.map((m) => [m.method, m.score])) : e.methods[0].score,
  };
  if (e.methods.some((m) => m.evaluation))
    r.metrics = several
      ? Object.fromEntries(e.methods.filter((m) => m.evaluation).map((m) => [m.method, summarizeMetrics(m.evaluation!)]))
      : summarizeMetrics(e.methods[0].evaluation!);
  const warnings = e.methods.flatMap((m) => m.warnings.map((w) => (several ? `${m.method}: ${w}` : w)));
  if (warnings.length) r.warnings = warnings;
  r.timingsMs = Object.fromEntries(Object.entries({ ...extraMs, ...e.timingsMs }).map(([k, v]) => [k, Math.round(v * 10) / 10]));
  return r;
}

/** The files of one explained image: its PNG, and with `heatmap` its .npy (one per method with several). */
export async function filesOf(outDir: string, output: string, e: Explained, heatmap: boolean): Promise<{ path: string; bytes: Uint8Array; rel: string }[]> {
  const files = [{ rel: output, path: join(outDir, output), bytes: await encodeImage(join(outDir, output), e.image) }];
  if (heatmap)
    for (const m of e.methods) {
      const rel = heatmapOutput(output, e.methods.length > 1 ? m.method : undefined);
      files.push({ rel, path: join(outDir, rel), bytes: encodeNpy(m.npy.data, m.npy.shape) });
    }
  return files;
}

type Decoded = { ok: true; image: ImageInput; ms: number } | { ok: false; error: string };

/**
 * Decodes after the current task (so that what the caller just started, a GPU submission, goes first),
 * never rejects. JavaScript decoders run on this thread; the GPU (Dawn's own threads) works meanwhile.
 */
function decodeSoon(file: string): Promise<Decoded> {
  return new Promise<void>((r) => setImmediate(r)).then(async () => {
    const t = performance.now();
    try {
      return { ok: true, image: await readImage(file), ms: performance.now() - t };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      // readImage's messages start with the path: the record names the file apart.
      return { ok: false, error: message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message };
    }
  });
}

export interface BatchEvents {
  /** An image starts (decoded or not). */
  start(image: FolderImage, index: number): void;
  detail(text: string): void;
  /** Explained and written. */
  done(image: FolderImage, record: ImageRecord, e: Explained): void;
  /** Unreadable, damaged, or refused by the engine: skipped, the run goes on. */
  failed(image: FolderImage, record: ImageRecord): void;
}

export interface StopFlag {
  signal?: 'SIGINT' | 'SIGTERM';
}

/**
 * A folder run: the images, which are done already (every output exists; --force redoes them), the
 * records of earlier runs (kept for the images skipped), and this run's, written as results.jsonl and
 * index.html by finish() — after the last image, after an interruption, or at a forced exit.
 */
export class FolderBatch {
  readonly records: Map<string, ImageRecord>;
  readonly pending: FolderImage[];
  readonly skipped: FolderImage[];
  readonly explained: FolderImage[] = [];
  readonly failed: FolderImage[] = [];

  constructor(
    readonly outDir: string,
    readonly images: readonly FolderImage[],
    readonly options: { heatmap: boolean; methods: readonly string[]; force: boolean },
    warn: (line: string) => void,
  ) {
    this.records = readRecords(outDir, warn);
    this.pending = [];
    this.skipped = [];
    for (const im of images) {
      const done = !options.force && isDone(outDir, outputsOf(im, options));
      (done ? this.skipped : this.pending).push(im);
      // Outputs made before any record of them (by hand, or by a run killed before it wrote results.jsonl).
      if (done && !this.records.has(im.output)) this.records.set(im.output, { file: im.file, output: im.output, outputs: outputsOf(im, options), unrecorded: true });
    }
  }

  /** Works through the pending images until done or `stop` is raised (the current image is finished first). */
  async run(open: () => Promise<GradCam>, settings: ExplainSettings, events: BatchEvents, stop: StopFlag): Promise<void> {
    const { pending } = this;
    let cam: GradCam | undefined;
    let next: Promise<Decoded> | undefined = pending.length ? decodeSoon(pending[0].file) : undefined;
    for (let i = 0; i < pending.length && !stop.signal; i++) {
      const im = pending[i];
      events.start(im, i);
      const decoded = await next!;
      next = undefined;
      const prefetch = () => void (next = i + 1 < pending.length ? decodeSoon(pending[i + 1].file) : undefined);
      if (!decoded.ok) {
        prefetch();
        this.fail(im, decoded.error, events);
        continue;
      }
      if (!cam) {
        prefetch(); // the next image decodes while the weights load
        cam = await open();
        if (stop.signal) break;
      }
      const t0 = performance.now();
      const work = explainImage(cam, decoded.image, settings, (t) => events.detail(t));
      if (next === undefined) prefetch();
      let e: Explained;
      try {
        e = await work;
      } catch (err) {
        // A lost device fails every image after this one too: stop, with what was done recorded (the
        // caller's finish()), rather than mark the rest of the folder failed.
        if (err instanceof DeviceLostError) throw err;
        this.fail(im, err instanceof Error ? err.message : String(err), events);
        continue;
      }
      const tw = performance.now();
      const files = await filesOf(this.outDir, im.output, e, this.options.heatmap);
      mkdirSync(dirname(files[0].path), { recursive: true });
      writeFilesAtomically(files);
      const record = recordOf(im, files.map((f) => f.rel), decoded.image, e, { decode: decoded.ms });
      const { total: _, ...ms } = record.timingsMs!;
      const round = (v: number) => Math.round(v * 10) / 10;
      record.timingsMs = { ...ms, write: round(performance.now() - tw), total: round(decoded.ms + performance.now() - t0) };
      this.records.set(im.output, record);
      this.explained.push(im);
      events.done(im, record, e);
    }
  }

  private fail(im: FolderImage, error: string, events: BatchEvents): void {
    const record: ImageRecord = { file: im.file, output: im.output, outputs: [], error };
    this.records.set(im.output, record);
    this.failed.push(im);
    events.failed(im, record);
  }

  /** results.jsonl and index.html, rewritten together (synchronous: safe from a signal handler). */
  finish(notice?: string): void {
    mkdirSync(this.outDir, { recursive: true });
    const records = recordsText(this.records);
    const list = records
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ImageRecord);
    const html = galleryHtml(list, { notice, exists: (o) => isDone(this.outDir, [o]) });
    writeFilesAtomically([
      { path: join(this.outDir, RESULTS_FILE), bytes: new TextEncoder().encode(records) },
      { path: join(this.outDir, GALLERY_FILE), bytes: new TextEncoder().encode(html) },
    ]);
  }
}
