// Line charts as RGBA pixels, drawn on the CPU with ./canvas.ts so reports can embed PNG charts from Node
// or a browser alike. The look follows matplotlib's defaults: white background, a frame around the plot
// area, outward ticks at 1/2/5 × 10^k values, light gridlines, the tab10 palette, and a legend in the
// corner of the plot area that covers the fewest data points.
//
// Layout, outside in: title on top; y label (rotated) and y tick labels on the left; x tick labels and
// the x label below. plotTransform gives the same layout renderLinePlot draws, so callers can annotate
// and tests can find data points.
import type { RgbaImage } from '../gradcam.js';
import { blit, checkColor, createImage, drawLine, drawText, fillCircle, fillRect, fitText, type Rgb, textHeight, textWidth } from './canvas.js';

export interface PlotSeries {
  label: string;
  x: readonly number[];
  y: readonly number[];
  color?: readonly [number, number, number];
}

export interface LinePlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly PlotSeries[];
  /** Pixels; default 640. */
  width?: number;
  /** Pixels; default 400. */
  height?: number;
  /** Default: the data's extent with 5% margins. */
  xRange?: readonly [number, number];
  /** Default: the data's extent with 5% margins; honoured exactly when given. */
  yRange?: readonly [number, number];
  /** Dots at the data points; default true. */
  markers?: boolean;
  /** Categorical x: label i sits at x = i. Rotated when they collide, and thinned if they still do. */
  xTickLabels?: readonly string[];
}

export interface PlotArea {
  /** Pixel columns left..right − 1 and rows top..bottom − 1 are the plot area; the frame is just outside. */
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** matplotlib's tab10. */
export const TAB10: readonly Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
];

const INK: Rgb = [0, 0, 0];
const GRID: Rgb = [224, 224, 224];
const LEGEND_BORDER: Rgb = [204, 204, 204];
const WHITE: Rgb = [255, 255, 255];

const PAD = 8; // between the image edge and any text
const TICK = 4; // outward tick length
const TICK_GAP = 3; // tick to its label
const LABEL_GAP = 6; // tick labels to the axis label
const RIGHT_MARGIN = 24; // room for the last x tick label, centred on its tick
const LINE_WIDTH = 2;
const MARKER_RADIUS = 2.5;
const MIN_PLOT_SIZE = 16;
const MIN_LABEL_SPACING = 6; // blank pixels between neighbouring tick labels

interface Tick {
  value: number;
  label: string;
}

interface Layout {
  width: number;
  height: number;
  area: PlotArea;
  xRange: readonly [number, number];
  yRange: readonly [number, number];
  xTicks: Tick[];
  yTicks: Tick[];
  /** Tick labels of categorical x, drawn rotated. */
  xTicksRotated: boolean;
  title: { text: string; scale: number } | undefined;
  x(v: number): number;
  y(v: number): number;
}

/**
 * Where data lands in the image: x(v), y(v) are continuous image coordinates (the point's pixel is
 * (floor(x), floor(y))), mapping each axis' range onto the centres of the plot area's first and last pixels.
 */
export function plotTransform(options: LinePlotOptions): { x(v: number): number; y(v: number): number; plotArea: PlotArea } {
  const layout = planLayout(options);
  return { x: layout.x, y: layout.y, plotArea: { ...layout.area } };
}

export function renderLinePlot(options: LinePlotOptions): RgbaImage {
  const layout = planLayout(options);
  const { area } = layout;
  const img = createImage(layout.width, layout.height);

  // Everything inside the frame is drawn on its own image, so lines and markers are clipped to the
  // plot area by construction, however far out of range the data goes.
  const inner = createImage(area.right - area.left, area.bottom - area.top);
  for (const t of layout.xTicks) fillRect(inner, Math.floor(layout.x(t.value)) - area.left, 0, 1, inner.height, GRID);
  for (const t of layout.yTicks) fillRect(inner, 0, Math.floor(layout.y(t.value)) - area.top, inner.width, 1, GRID);
  const colors = options.series.map(seriesColor);
  options.series.forEach((s, i) => drawSeries(inner, s, colors[i], layout, options.markers ?? true));
  drawLegend(inner, options.series, colors, layout);
  blit(img, inner, area.left, area.top);

  // Frame, one pixel outside the plot area.
  fillRect(img, area.left - 1, area.top - 1, area.right - area.left + 2, 1, INK);
  fillRect(img, area.left - 1, area.bottom, area.right - area.left + 2, 1, INK);
  fillRect(img, area.left - 1, area.top - 1, 1, area.bottom - area.top + 2, INK);
  fillRect(img, area.right, area.top - 1, 1, area.bottom - area.top + 2, INK);

  const th = textHeight();
  for (const t of layout.yTicks) {
    const row = Math.floor(layout.y(t.value));
    fillRect(img, area.left - 1 - TICK, row, TICK, 1, INK);
    // Glyph bodies are rows 0..6 (row 7 is for descenders), so centre row 3 on the tick.
    drawText(img, area.left - 1 - TICK - TICK_GAP - textWidth(t.label), row - 3, t.label, { color: INK });
  }
  const xLabelTop = area.bottom + 1 + TICK + TICK_GAP;
  for (const t of layout.xTicks) {
    const col = Math.floor(layout.x(t.value));
    fillRect(img, col, area.bottom + 1, 1, TICK, INK);
    if (t.label === '') continue;
    // Rotated labels end at the axis and read upwards, as matplotlib's rotation=90 does.
    if (layout.xTicksRotated) drawText(img, col - 3, xLabelTop, t.label, { color: INK, rotate: true });
    else drawText(img, col - Math.floor(textWidth(t.label) / 2), xLabelTop, t.label, { color: INK });
  }

  if (layout.title) {
    const { text, scale } = layout.title;
    drawText(img, Math.floor((layout.width - textWidth(text, scale)) / 2), PAD, text, { color: INK, scale });
  }
  const plotWidth = area.right - area.left;
  const plotHeight = area.bottom - area.top;
  const xLabel = fitText(options.xLabel, layout.width - 2 * PAD);
  if (xLabel !== '') {
    const centre = area.left + plotWidth / 2;
    const x = Math.min(Math.max(PAD, centre - textWidth(xLabel) / 2), layout.width - PAD - textWidth(xLabel));
    drawText(img, Math.floor(x), layout.height - PAD - th, xLabel, { color: INK });
  }
  const yLabel = fitText(options.yLabel, plotHeight);
  if (yLabel !== '') drawText(img, PAD, area.top + Math.floor((plotHeight - textWidth(yLabel)) / 2), yLabel, { color: INK, rotate: true });
  return img;
}

function drawSeries(inner: RgbaImage, s: PlotSeries, color: Rgb, layout: Layout, markers: boolean): void {
  const ox = layout.area.left;
  const oy = layout.area.top;
  const points: ([number, number] | undefined)[] = [];
  for (let i = 0; i < s.x.length; i++) {
    const px = layout.x(s.x[i]) - ox;
    const py = layout.y(s.y[i]) - oy;
    // A non-finite value (or one so far out that its pixel position overflows) is a gap, not a crash.
    points.push(Number.isFinite(px) && Number.isFinite(py) ? [px, py] : undefined);
  }
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    if (a && b) drawLine(inner, a[0], a[1], b[0], b[1], color, LINE_WIDTH);
  }
  points.forEach((p, i) => {
    if (!p) return;
    // Without markers a point between two gaps would vanish; it still gets a dot the width of the line.
    const isolated = !points[i - 1] && !points[i + 1];
    if (markers) fillCircle(inner, p[0], p[1], MARKER_RADIUS, color);
    else if (isolated) fillCircle(inner, p[0], p[1], LINE_WIDTH / 2, color);
  });
}

function drawLegend(inner: RgbaImage, series: readonly PlotSeries[], colors: Rgb[], layout: Layout): void {
  const entries = series.map((s, i) => ({ s, color: colors[i] })).filter((e) => e.s.label !== '');
  if (entries.length === 0) return;
  const swatch = 18;
  const rowHeight = textHeight() + 4;
  const inset = 6;
  const maxLabel = Math.floor(inner.width / 2);
  const labels = entries.map((e) => fitText(e.s.label, maxLabel));
  const boxWidth = 4 + swatch + 4 + Math.max(...labels.map((l) => textWidth(l))) + 5;
  const boxHeight = 4 + entries.length * rowHeight;
  if (boxWidth + 2 * inset > inner.width || boxHeight + 2 * inset > inner.height) return; // no room: leave the data visible

  // matplotlib's loc='best', simplified: the corner whose box covers the fewest points and segment midpoints.
  const corners: [number, number][] = [
    [inner.width - inset - boxWidth, inset], // upper right
    [inset, inset], // upper left
    [inset, inner.height - inset - boxHeight], // lower left
    [inner.width - inset - boxWidth, inner.height - inset - boxHeight], // lower right
  ];
  const covered = corners.map(([bx, by]) => {
    let n = 0;
    const inside = (px: number, py: number) => px >= bx && px <= bx + boxWidth && py >= by && py <= by + boxHeight;
    for (const s of series) {
      let previous: [number, number] | undefined;
      for (let i = 0; i < s.x.length; i++) {
        const px = layout.x(s.x[i]) - layout.area.left;
        const py = layout.y(s.y[i]) - layout.area.top;
        const point: [number, number] | undefined = Number.isFinite(px) && Number.isFinite(py) ? [px, py] : undefined;
        if (point && inside(point[0], point[1])) n++;
        if (point && previous && inside((point[0] + previous[0]) / 2, (point[1] + previous[1]) / 2)) n++;
        previous = point;
      }
    }
    return n;
  });
  const best = covered.indexOf(Math.min(...covered));
  const [bx, by] = corners[best];
  fillRect(inner, bx, by, boxWidth, boxHeight, LEGEND_BORDER);
  fillRect(inner, bx + 1, by + 1, boxWidth - 2, boxHeight - 2, WHITE);
  entries.forEach((e, i) => {
    const rowTop = by + 4 + i * rowHeight;
    const mid = rowTop + 3.5; // the glyph body's middle
    drawLine(inner, bx + 4, mid, bx + 4 + swatch, mid, e.color, LINE_WIDTH);
    fillCircle(inner, bx + 4 + swatch / 2, mid, MARKER_RADIUS, e.color);
    drawText(inner, bx + 4 + swatch + 4, rowTop, labels[i], { color: INK });
  });
}

function seriesColor(s: PlotSeries, index: number): Rgb {
  return s.color ?? TAB10[index % TAB10.length];
}

// ---- layout -------------------------------------------------------------------------------------------

function planLayout(options: LinePlotOptions): Layout {
  validate(options);
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  const th = textHeight();
  const categories = options.xTickLabels;

  const xRange = options.xRange ?? dataRange(options.series, 'x', categories ? [0, Math.max(0, categories.length - 1)] : undefined, categories !== undefined);
  const yRange = options.yRange ?? dataRange(options.series, 'y', undefined, false);

  let title: Layout['title'];
  let top = PAD + Math.ceil(th / 2); // the top y tick label is centred on the frame
  if (options.title !== '') {
    const scale = textWidth(options.title, 2) <= width - 2 * PAD ? 2 : 1;
    title = { text: fitText(options.title, width - 2 * PAD, scale), scale };
    top = PAD + textHeight(scale) + 10;
  }
  const xLabelBand = options.xLabel !== '' ? LABEL_GAP + th : 0;
  const bottomAtLeast = 1 + TICK + TICK_GAP + th + xLabelBand + PAD;

  // Y ticks before the left margin (their labels' width sets it); the plot height is not known yet, so
  // plan for the tallest it can be: fewer, not more, ticks fit once the bottom margin is settled.
  const tallest = height - top - bottomAtLeast;
  const yTickLabels = (plotHeight: number) => niceTicks(yRange, Math.max(2, Math.floor(plotHeight / 40)));
  const yTicksForMargin = yTickLabels(tallest);
  const yTickWidth = Math.max(0, ...yTicksForMargin.map((t) => textWidth(t.label)));
  const yLabelBand = options.yLabel !== '' ? th + LABEL_GAP : 0;
  const left = PAD + yLabelBand + yTickWidth + TICK_GAP + TICK + 1;
  const right = width - RIGHT_MARGIN;
  const plotWidth = right - left;
  if (plotWidth < MIN_PLOT_SIZE)
    throw new RangeError(`line plot: width ${width} leaves ${plotWidth} px for the plot after the y axis labels; make it wider`);

  const xToPixel = axisMap(xRange, left + 0.5, right - 0.5);
  let xTicks: Tick[];
  let xTicksRotated = false;
  let xTickBand = th;
  if (categories) {
    const laidOut = categoricalTicks(categories, xRange, xToPixel, height);
    xTicks = laidOut.ticks;
    xTicksRotated = laidOut.rotated;
    xTickBand = laidOut.band;
  } else {
    xTicks = numericXTicks(xRange, xToPixel, plotWidth);
  }
  const bottom = height - (1 + TICK + TICK_GAP + xTickBand + xLabelBand + PAD);
  const plotHeight = bottom - top;
  if (plotHeight < MIN_PLOT_SIZE)
    throw new RangeError(`line plot: height ${height} leaves ${plotHeight} px for the plot after the title and x axis labels; make it taller`);
  const yToPixel = axisMap(yRange, bottom - 0.5, top + 0.5);
  const yTicks = yTickLabels(plotHeight);
  return { width, height, area: { left, top, right, bottom }, xRange, yRange, xTicks, yTicks, xTicksRotated, title, x: xToPixel, y: yToPixel };
}

function axisMap(range: readonly [number, number], from: number, to: number): (v: number) => number {
  const [lo, hi] = range;
  return (v: number) => from + ((v - lo) / (hi - lo)) * (to - from);
}

// Numeric x ticks: the densest 1/2/5 step whose labels do not touch.
function numericXTicks(range: readonly [number, number], toPixel: (v: number) => number, plotWidth: number): Tick[] {
  for (let target = Math.max(2, Math.floor(plotWidth / 80)); ; target--) {
    const ticks = niceTicks(range, target);
    let lastEnd = -Infinity;
    const fits = ticks.every((t) => {
      const w = textWidth(t.label);
      const start = toPixel(t.value) - w / 2;
      const ok = start >= lastEnd + MIN_LABEL_SPACING;
      lastEnd = start + w;
      return ok;
    });
    if (fits || target <= 1) return ticks;
  }
}

function categoricalTicks(
  categories: readonly string[],
  range: readonly [number, number],
  toPixel: (v: number) => number,
  height: number,
): { ticks: Tick[]; rotated: boolean; band: number } {
  const th = textHeight();
  const visible = categories.map((label, i) => ({ value: i, label })).filter((t) => t.value >= range[0] && t.value <= range[1]);
  const spacing = visible.length > 1 ? Math.abs(toPixel(1) - toPixel(0)) : Infinity;
  const widest = Math.max(0, ...visible.map((t) => textWidth(t.label)));
  if (widest + MIN_LABEL_SPACING <= spacing) return { ticks: visible, rotated: false, band: th };
  // Rotated, each label is one text height wide; keep every k-th if even that collides, and cap their
  // length so they cannot push the plot out of the image.
  const every = Math.max(1, Math.ceil((th + MIN_LABEL_SPACING / 2) / spacing));
  const longest = Math.floor(height * 0.3);
  const ticks = visible.map((t, i) => ({ value: t.value, label: i % every === 0 ? fitText(t.label, longest) : '' }));
  const band = Math.max(th, ...ticks.map((t) => textWidth(t.label)));
  return { ticks, rotated: true, band };
}

/** Ticks at multiples of the 1/2/5 × 10^k step giving about `target` intervals over `range`, labelled alike. */
function niceTicks(range: readonly [number, number], target: number): Tick[] {
  const [lo, hi] = range;
  const step = niceStep((hi - lo) / Math.max(1, target));
  const first = Math.ceil(lo / step - 1e-9);
  const last = Math.floor(hi / step + 1e-9);
  const values: number[] = [];
  // The step is a power of ten times 1, 2 or 5: 12 significant digits remove k·step's binary noise.
  for (let k = first; k <= last; k++) values.push(Number((k * step).toPrecision(12)) + 0);
  const format = tickFormat(step, Math.max(Math.abs(lo), Math.abs(hi)));
  return values.map((value) => ({ value, label: format(value) }));
}

function niceStep(rough: number): number {
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const m of [1, 2, 5]) if (m * power >= rough * (1 - 1e-9)) return m * power;
  return 10 * power;
}

function tickFormat(step: number, magnitude: number): (v: number) => string {
  const stepExponent = Math.floor(Math.log10(step) + 1e-9);
  if (magnitude >= 1e6 || stepExponent < -4) {
    const digits = Math.max(0, Math.min(6, Math.floor(Math.log10(magnitude)) - stepExponent));
    return (v) => (v === 0 ? '0' : v.toExponential(digits).replace(/\.?0+e/, 'e').replace('e+', 'e'));
  }
  const decimals = Math.max(0, -stepExponent);
  return (v) => v.toFixed(decimals);
}

// The finite data's extent with matplotlib's 5% margins (at least half a category for categorical x).
function dataRange(series: readonly PlotSeries[], axis: 'x' | 'y', include: readonly [number, number] | undefined, categorical: boolean): [number, number] {
  let lo = include ? include[0] : Infinity;
  let hi = include ? include[1] : -Infinity;
  for (const s of series) {
    for (let i = 0; i < s[axis].length; i++) {
      // A point drawn needs both coordinates; one with a non-finite partner must not stretch the range.
      if (!Number.isFinite(s.x[i]) || !Number.isFinite(s.y[i])) continue;
      const v = s[axis][i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (lo > hi) return [0, 1]; // no data: an empty plot with axes
  const span = hi - lo;
  if (!Number.isFinite(span))
    throw new RangeError(`line plot: the ${axis} values span ${lo} to ${hi}, too wide to plot; pass ${axis}Range`);
  let margin = span === 0 ? Math.abs(lo) * 0.05 || 0.5 : span * 0.05;
  if (categorical) margin = Math.max(margin, 0.5);
  return [lo - margin, hi + margin];
}

function validate(options: LinePlotOptions): void {
  for (const key of ['title', 'xLabel', 'yLabel'] as const)
    if (typeof options[key] !== 'string') throw new TypeError(`line plot: ${key} must be a string, got ${typeof options[key]}`);
  for (const key of ['width', 'height'] as const) {
    const v = options[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 64)) throw new RangeError(`line plot: ${key} must be an integer ≥ 64 pixels, got ${v}`);
  }
  for (const key of ['xRange', 'yRange'] as const) {
    const r = options[key];
    if (r === undefined) continue;
    if (!Array.isArray(r) || r.length !== 2 || !Number.isFinite(r[0]) || !Number.isFinite(r[1]) || !(r[0] < r[1]))
      throw new RangeError(`line plot: ${key} must be [min, max] with finite min < max, got ${JSON.stringify(r)}`);
  }
  if (!Array.isArray(options.series)) throw new TypeError('line plot: series must be an array of { label, x, y }');
  options.series.forEach((s, i) => {
    const name = typeof s?.label === 'string' ? `series ${JSON.stringify(s.label)}` : `series ${i}`;
    if (typeof s?.label !== 'string') throw new TypeError(`line plot: ${name} needs a string label`);
    if (!isNumberList(s.x) || !isNumberList(s.y)) throw new TypeError(`line plot: ${name} needs x and y arrays of numbers`);
    if (s.x.length !== s.y.length) throw new RangeError(`line plot: ${name} has ${s.x.length} x values but ${s.y.length} y values; they must pair up`);
    if (s.color !== undefined) checkColor(`line plot: the color of ${name}`, s.color);
  });
  if (options.xTickLabels !== undefined && (!Array.isArray(options.xTickLabels) || !options.xTickLabels.every((l) => typeof l === 'string')))
    throw new TypeError('line plot: xTickLabels must be an array of strings');
}

function isNumberList(v: unknown): v is readonly number[] {
  return (Array.isArray(v) && v.every((e) => typeof e === 'number')) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}
