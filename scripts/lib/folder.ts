// Folder mode of `gradcam` (`gradcam <image|dir|glob>… --out <dir>`): which images the arguments name,
// where each one's outputs go under --out, which are done already (their outputs all exist), and the
// run's record, results.jsonl. Nothing here touches the GPU or decodes an image, so all of it runs
// before the weights are loaded: a folder that is already done returns at once.
import { existsSync, readdirSync, readFileSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';

/** The files a directory or a pattern contributes (a file named on its own is taken whatever its name). */
export const IMAGE_FILE = /\.(png|jpe?g)$/i;

/** The record of one image in results.jsonl. */
export interface ImageRecord {
  /** The input, as the arguments named it (a directory argument joined with the path below it). */
  file: string;
  /** The image written for it (overlay, pixel-level rendering or comparison grid), relative to --out, '/'-separated. */
  output: string;
  /** Every file written for it, `output` first (then the .npy maps with --heatmap). */
  outputs: string[];
  width?: number;
  height?: number;
  /** The top predictions of its one forward pass. */
  predictions?: { classIndex: number; wnid: string; name: string; probability: number }[];
  /** One method… */
  method?: string;
  /** … or several (--methods: the output is a grid, original first, then one tile per method). */
  methods?: string[];
  target?: string;
  classIndex?: number;
  /** The conv layers of the CAM methods. */
  layers?: string[];
  /** The score differentiated: one kind, or per method with --methods (CAMs default to prob, pixel methods to logit). */
  score?: string | Record<string, string>;
  /** --metrics: the numbers, or per method with --methods. */
  metrics?: MetricSummary | Record<string, MetricSummary>;
  warnings?: string[];
  /** Wall-clock ms: decode, forward, one entry per method, metrics, write, total. */
  timingsMs?: Record<string, number>;
  /** Why the image has no outputs (unreadable, damaged, or the engine refused it). */
  error?: string;
  /** The outputs were there before any run recorded them (made by hand, or by a run killed before it wrote this file). */
  unrecorded?: true;
}

/**
 * The numbers of GradCam.evaluate() kept per image (scripts/lib/metrics.ts' metricsSummary: deletionAuc,
 * insertionAuc, roadCombined, averageDropPercent, increaseInConfidence, sanityPassed, …; NaN as null),
 * with the score they read and the sanity check's verdict. The curves stay out of the record.
 */
export type MetricSummary = Record<string, number | boolean | string | null>;

export interface FolderImage {
  /** The input file, as the arguments named it. */
  file: string;
  /** Its path below the argument's directory ('/'-separated); the basename for a file argument. */
  rel: string;
  /** The image output, relative to --out ('/'-separated): rel with its extension replaced by .png. */
  output: string;
}

/** A mistake in the arguments: a missing path, a pattern that matches nothing, two inputs with one output. */
export class FolderArgumentError extends Error {}

const GLOB_CHARS = /[*?]/;
export const isGlob = (arg: string): boolean => GLOB_CHARS.test(arg);
const toSlash = (p: string) => p.split(sep).join('/');

/**
 * One segment of a pattern as a regular expression: `*` any run of characters but '/', `?` one
 * character; a leading wildcard does not match a leading dot (as shells do). `**` is handled by the walk.
 */
export function segmentRegExp(segment: string): RegExp {
  let re = /^[*?]/.test(segment) ? '(?!\\.)' : '';
  for (const ch of segment) re += ch === '*' ? '[^/]*' : ch === '?' ? '[^/]' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${re}$`);
}

/** Splits a pattern into the directory before its first wildcard and the '/'-separated segments after it. */
export function splitGlob(pattern: string): { base: string; segments: string[] } {
  const parts = pattern.split(/[\\/]/);
  const first = parts.findIndex((p) => isGlob(p));
  const baseParts = parts.slice(0, first);
  // '/x/*' splits into ['', 'x', '*']: the empty first part is the root.
  const base = baseParts.length === 0 ? '.' : baseParts.length === 1 && baseParts[0] === '' ? '/' : baseParts.join('/');
  return { base, segments: parts.slice(first).filter((s) => s !== '') };
}

/** Entries of a directory, sorted by name (code points, not the locale: the same order everywhere); dot-entries left out. */
function entries(dir: string): Dirent[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

interface Walk {
  /** Real paths of directories not to enter (the output directory), and of those entered (link cycles). */
  skip: Set<string>;
  seen: Set<string>;
}

function kindOf(dir: string, e: Dirent): 'file' | 'dir' | undefined {
  if (e.isFile()) return 'file';
  if (e.isDirectory()) return 'dir';
  if (!e.isSymbolicLink()) return undefined;
  try {
    const s = statSync(join(dir, e.name));
    return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : undefined;
  } catch {
    return undefined; // a dangling link
  }
}

function enter(dir: string, walk: Walk): boolean {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return false;
  }
  if (walk.skip.has(real) || walk.seen.has(real)) return false;
  walk.seen.add(real);
  return true;
}

/** Files under `dir` (its path relative to the walk's base is `rel`) matching `segments`; `**` matches any depth. */
function walkGlob(dir: string, rel: string, segments: string[], walk: Walk, out: string[]): void {
  if (segments.length === 0) return;
  const [head, ...rest] = segments;
  let list: Dirent[];
  try {
    list = entries(dir);
  } catch {
    return; // unreadable directories are passed over, as a shell's glob passes them
  }
  if (head === '**') {
    // Zero directories: the rest matches here; one or more: each subdirectory, still under '**'.
    if (rest.length === 0) {
      for (const e of list) {
        const kind = kindOf(dir, e);
        if (kind === 'file') out.push(rel + e.name);
        else if (kind === 'dir' && enter(join(dir, e.name), walk)) walkGlob(join(dir, e.name), `${rel}${e.name}/`, segments, walk, out);
      }
      return;
    }
    walkGlob(dir, rel, rest, walk, out);
    for (const e of list)
      if (kindOf(dir, e) === 'dir' && enter(join(dir, e.name), walk)) walkGlob(join(dir, e.name), `${rel}${e.name}/`, segments, walk, out);
    return;
  }
  const re = segmentRegExp(head);
  for (const e of list) {
    if (!re.test(e.name)) continue;
    const kind = kindOf(dir, e);
    if (rest.length === 0 && kind === 'file') out.push(rel + e.name);
    else if (rest.length > 0 && kind === 'dir') {
      const sub = join(dir, e.name);
      // A plain segment after a '**' may reach the same directory twice: entering is checked only for '**'.
      if (!walk.skip.has(safeReal(sub))) walkGlob(sub, `${rel}${e.name}/`, rest, walk, out);
    }
  }
}

function safeReal(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/**
 * The images the arguments name, in argument order and, within a directory or a pattern, sorted by
 * path. A file argument is taken as it is (its name need not end in .png or .jpg: the content decides);
 * a directory gives every .png, .jpg and .jpeg below it (any case; dot-files and dot-directories left out);
 * a pattern (`*`, `**`, `?`) gives the matching files with those extensions. `exclude` (the output
 * directory) is never entered. Each output is the path below the argument's directory with .png for its
 * extension; inputs whose outputs would coincide (b.jpg and b.png side by side) keep their extension
 * (b.jpg.png, b.png.png); two arguments with one output are refused.
 */
export function findImages(args: readonly string[], exclude?: string): FolderImage[] {
  const found: { file: string; rel: string }[] = [];
  const skip = new Set(exclude && existsSync(exclude) ? [safeReal(exclude)] : []);
  const seenFiles = new Set<string>();
  for (const arg of args) {
    const add = (file: string, rel: string) => {
      // The same file twice (a directory and a pattern inside it): once.
      const key = `${safeReal(file)}\0${rel}`;
      if (seenFiles.has(key)) return;
      seenFiles.add(key);
      found.push({ file, rel });
    };
    let stat;
    try {
      stat = statSync(arg);
    } catch {
      stat = undefined;
    }
    if (stat?.isFile()) {
      add(arg, basename(arg));
      continue;
    }
    if (stat?.isDirectory()) {
      const files: string[] = [];
      walkGlob(arg, '', ['**'], { skip, seen: new Set([safeReal(arg)]) }, files);
      const images = files.filter((f) => IMAGE_FILE.test(f)).sort(byCodePoint);
      if (images.length === 0) throw new FolderArgumentError(`${arg}: no .png, .jpg or .jpeg file in this directory or below it`);
      for (const rel of images) add(join(arg, rel), rel);
      continue;
    }
    if (stat) throw new FolderArgumentError(`${arg}: not a file or a directory`);
    if (!isGlob(arg)) throw new FolderArgumentError(`${arg}: no such file or directory`);
    const { base, segments } = splitGlob(arg);
    if (!existsSync(base) || !statSync(base).isDirectory()) throw new FolderArgumentError(`${arg}: no such directory '${base}'`);
    const files: string[] = [];
    walkGlob(base, '', segments, { skip, seen: new Set([safeReal(base)]) }, files);
    const images = [...new Set(files)].filter((f) => IMAGE_FILE.test(f)).sort(byCodePoint);
    if (images.length === 0) throw new FolderArgumentError(`${arg}: the pattern matches no .png, .jpg or .jpeg file`);
    for (const rel of images) add(base === '.' && !arg.startsWith('./') ? rel : join(base, rel), rel);
  }
  return assignOutputs(found);
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** rel → rel with .png for its extension; a group that would share one name keeps its extensions. */
export function assignOutputs(found: readonly { file: string; rel: string }[]): FolderImage[] {
  const stem = (rel: string) => rel.replace(/\.[^./]*$/, '');
  // The distinct paths per stem: b.jpg and b.png share one; the same path from two arguments does not.
  const rels = new Map<string, Set<string>>();
  for (const f of found) {
    const rel = toSlash(f.rel);
    if (!rels.has(stem(rel))) rels.set(stem(rel), new Set());
    rels.get(stem(rel))!.add(rel);
  }
  const images = found.map((f) => {
    const rel = toSlash(f.rel);
    return { file: f.file, rel, output: `${rels.get(stem(rel))!.size > 1 ? rel : stem(rel)}.png` };
  });
  const byOutput = new Map<string, FolderImage>();
  for (const im of images) {
    const other = byOutput.get(im.output);
    if (other)
      throw new FolderArgumentError(
        `${other.file} and ${im.file} would both be written as ${im.output} under --out; give the directory that holds them instead (outputs mirror the paths below it)`,
      );
    byOutput.set(im.output, im);
  }
  return images;
}

/** The .npy written next to an image's output with --heatmap: one per method with --methods. */
export function heatmapOutput(output: string, method?: string): string {
  const stem = output.replace(/\.png$/, '');
  return method ? `${stem}.${method}.npy` : `${stem}.npy`;
}

/** Every output of one image, `output` first. */
export function outputsOf(image: FolderImage, options: { heatmap: boolean; methods: readonly string[] }): string[] {
  if (!options.heatmap) return [image.output];
  if (options.methods.length === 1) return [image.output, heatmapOutput(image.output)];
  return [image.output, ...options.methods.map((m) => heatmapOutput(image.output, m))];
}

export const RESULTS_FILE = 'results.jsonl';
export const GALLERY_FILE = 'index.html';

/** The records of earlier runs, by output; lines that are not a record are reported and dropped. */
export function readRecords(outDir: string, warn: (line: string) => void): Map<string, ImageRecord> {
  const records = new Map<string, ImageRecord>();
  const path = join(outDir, RESULTS_FILE);
  if (!existsSync(path)) return records;
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const r = JSON.parse(line) as ImageRecord;
      if (typeof r.file !== 'string' || typeof r.output !== 'string') throw new Error('no file or output');
      records.set(r.output, r);
    } catch (e) {
      warn(`${path}:${i + 1}: not a record (${e instanceof Error ? e.message : String(e)}); dropped`);
    }
  });
  return records;
}

/** results.jsonl's text: every record, this run's and earlier ones, in the order of their outputs (stable across runs). */
export function recordsText(records: ReadonlyMap<string, ImageRecord>): string {
  return [...records]
    .sort(([a], [b]) => byCodePoint(a, b))
    .map(([, r]) => `${JSON.stringify(r)}\n`)
    .join('');
}

/** Whether every output of the image exists under outDir (then it is skipped unless --force). */
export function isDone(outDir: string, outputs: readonly string[]): boolean {
  return outputs.every((o) => existsSync(join(outDir, o)));
}

/** A path for messages: relative to the working directory when under it. */
export function shown(path: string): string {
  const r = relative(process.cwd(), path);
  return r && !r.startsWith('..') ? r : path;
}
