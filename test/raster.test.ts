// The CPU raster (src/engine/raster): the bitmap font, drawing primitives, Pillow-style bilinear resize,
// line plots and labelled grids. Assertions are on pixels: text ink stays in its box and is as wide as
// textWidth says; a plotted series is found by its exact colour at plotTransform's position of each data
// point and nowhere outside the plot area; grid tiles land where the layout (worked out by hand here)
// puts them. A plot is encoded with the CLI's PNG writer and read back by Pillow (Debian's
// /usr/bin/python3, python3-pil) to check that what reports embed is what we drew.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RgbaImage } from '../src/engine/gradcam.js';
import { blit, createImage, drawLine, drawText, fillRect, fitText, resizeBilinear, textHeight, textWidth, type Rgb } from '../src/engine/raster/canvas.js';
import { GLYPH_ROWS, GLYPH_WIDTH, toFontText } from '../src/engine/raster/font.js';
import { composeGrid, gridLayout } from '../src/engine/raster/grid.js';
import { plotTransform, renderLinePlot, TAB10, type LinePlotOptions } from '../src/engine/raster/plot.js';
import { encodeImage } from '../src/hosts/node/images/imageFiles.js';

const PYTHON = '/usr/bin/python3'; // Debian's, with python3-pil (plain `python3` may be a pyenv shim)
const dir = mkdtempSync(join(tmpdir(), 'gradcam-raster-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WHITE: Rgb = [255, 255, 255];

function pixel(img: RgbaImage, x: number, y: number): [number, number, number, number] {
  const i = (y * img.width + x) * 4;
  return [img.data[i], img.data[i + 1], img.data[i + 2], img.data[i + 3]];
}

const isColor = (img: RgbaImage, x: number, y: number, c: Rgb) => {
  const [r, g, b] = pixel(img, x, y);
  return r === c[0] && g === c[1] && b === c[2];
};

/** Bounding box of every pixel that is not `background`; undefined when there is none. */
function inkBox(img: RgbaImage, background: Rgb = WHITE): { x0: number; y0: number; x1: number; y1: number } | undefined {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++)
      if (!isColor(img, x, y, background)) {
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x);
        y1 = Math.max(y1, y);
      }
  return x0 === Infinity ? undefined : { x0, y0, x1, y1 };
}

/** Pixels of exactly colour `c` within `radius` of (x, y). */
function countNear(img: RgbaImage, x: number, y: number, c: Rgb, radius: number): number {
  let n = 0;
  for (let dy = -radius; dy <= radius; dy++)
    for (let dx = -radius; dx <= radius; dx++) {
      const px = x + dx;
      const py = y + dy;
      if (px >= 0 && py >= 0 && px < img.width && py < img.height && isColor(img, px, py, c)) n++;
    }
  return n;
}

describe('font', () => {
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));

  it('draws every printable ASCII glyph inside its 5×8 box, each one different', () => {
    const seen = new Map<string, string>();
    for (const ch of printable) {
      const img = createImage(20, 20);
      const size = drawText(img, 6, 5, ch);
      expect(size).toEqual({ width: GLYPH_WIDTH, height: GLYPH_ROWS });
      const box = inkBox(img);
      if (ch === ' ') {
        expect(box).toBeUndefined();
        continue;
      }
      expect(box, `'${ch}' has no ink`).toBeDefined();
      expect(box!.x0, `'${ch}'`).toBeGreaterThanOrEqual(6);
      expect(box!.x1, `'${ch}'`).toBeLessThan(6 + GLYPH_WIDTH);
      expect(box!.y0, `'${ch}'`).toBeGreaterThanOrEqual(5);
      expect(box!.y1, `'${ch}'`).toBeLessThan(5 + GLYPH_ROWS);
      const bitmap = Array.from({ length: GLYPH_ROWS }, (_, r) => Array.from({ length: GLYPH_WIDTH }, (_, c) => (isColor(img, 6 + c, 5 + r, WHITE) ? '.' : '#')).join('')).join('/');
      expect(seen.get(bitmap), `'${ch}' looks like '${seen.get(bitmap)}'`).toBeUndefined();
      seen.set(bitmap, ch);
    }
  });

  it('maps the non-ASCII characters we print to glyphs or ASCII', () => {
    expect(toFontText('−1 – 2 — 3')).toBe('-1 - 2 - 3');
    expect(toFontText('a…b')).toBe('a...b');
    expect(toFontText('café naïve')).toBe('cafe naive');
    expect(toFontText('漢字 😀')).toBe('?? ?');
    expect(toFontText('3×3 σ ≤ 45° 10% μs')).toBe('3×3 σ ≤ 45° 10% µs'); // own glyphs; Greek mu becomes the micro sign
    // × is its own glyph, not the letter x.
    const times = createImage(8, 10);
    const letter = createImage(8, 10);
    drawText(times, 0, 0, '×');
    drawText(letter, 0, 0, 'x');
    expect(times.data).not.toEqual(letter.data);
    expect(inkBox(times)).toBeDefined();
  });

  it.each([1, 3])('textWidth and textHeight are the drawn ink at scale %i', (scale) => {
    // 'H' lights its left column, 'g' the descender row, '3' its right column: the ink spans the whole box.
    const text = 'Hg, 0.5 3';
    const img = createImage(200, 40);
    const size = drawText(img, 10, 7, text, { scale });
    expect(size).toEqual({ width: textWidth(text, scale), height: textHeight(scale) });
    expect(textWidth(text, scale)).toBe((text.length * 6 - 1) * scale);
    expect(inkBox(img)).toEqual({ x0: 10, y0: 7, x1: 10 + textWidth(text, scale) - 1, y1: 7 + textHeight(scale) - 1 });
    expect(textWidth('', scale)).toBe(0);
    expect(textWidth('…', scale)).toBe(textWidth('...', scale));
  });

  it('rotated text is the unrotated ink turned 90° counter-clockwise', () => {
    const text = 'Hg3y';
    const flat = createImage(60, 20);
    const turned = createImage(20, 60);
    drawText(flat, 0, 0, text, { scale: 2 });
    const size = drawText(turned, 0, 0, text, { scale: 2, rotate: true });
    const w = textWidth(text, 2);
    expect(size).toEqual({ width: textHeight(2), height: w });
    for (let v = 0; v < textHeight(2); v++)
      for (let u = 0; u < w; u++) expect(pixel(turned, v, w - 1 - u), `${u},${v}`).toEqual(pixel(flat, u, v));
    expect(inkBox(turned)).toEqual({ x0: 0, y0: 0, x1: textHeight(2) - 1, y1: w - 1 });
  });

  it('fitText keeps text that fits and truncates the rest with ...', () => {
    expect(fitText('short', 100)).toBe('short');
    const fitted = fitText('a label far too long for its tile', 60);
    expect(fitted.endsWith('...')).toBe(true);
    expect(textWidth(fitted)).toBeLessThanOrEqual(60);
    expect(textWidth(fitted)).toBeGreaterThan(60 - 6);
    expect(fitText('abc', 10)).toBe('');
  });
});

describe('canvas', () => {
  it('createImage is opaque background; fillRect is clipped', () => {
    const img = createImage(4, 3, [10, 20, 30]);
    expect(pixel(img, 3, 2)).toEqual([10, 20, 30, 255]);
    fillRect(img, -5, 1, 7, 10, [1, 2, 3]);
    expect(pixel(img, 0, 1)).toEqual([1, 2, 3, 255]);
    expect(pixel(img, 1, 2)).toEqual([1, 2, 3, 255]);
    expect(pixel(img, 2, 1)).toEqual([10, 20, 30, 255]);
    expect(pixel(img, 0, 0)).toEqual([10, 20, 30, 255]);
    expect(() => createImage(0, 3)).toThrow(/positive integers/);
  });

  it('a 1-pixel line through pixel centres is crisp; a thick diagonal is anti-aliased and clipped', () => {
    const img = createImage(20, 10);
    const red: Rgb = [200, 0, 0];
    drawLine(img, 2.5, 4.5, 15.5, 4.5, red);
    for (let x = 0; x < 20; x++) {
      expect(isColor(img, x, 4, red), `x=${x}`).toBe(x >= 2 && x <= 15);
      expect(isColor(img, x, 3, WHITE) && isColor(img, x, 5, WHITE), `x=${x}`).toBe(true);
    }
    const diag = createImage(30, 30);
    drawLine(diag, -20, -7, 50, 31, red, 3); // slope 19/35, running off both ends
    expect(isColor(diag, 15, 12, red)).toBe(true); // the line passes 0.2 px from this pixel's centre
    expect(isColor(diag, 0, 29, WHITE) && isColor(diag, 29, 0, WHITE)).toBe(true);
    const partial = new Set<number>();
    for (let i = 0; i < diag.data.length; i += 4) if (diag.data[i + 1] !== 0 && diag.data[i + 1] !== 255) partial.add(diag.data[i + 1]);
    expect(partial.size).toBeGreaterThan(2); // edge pixels blended with the background
  });

  it('resizeBilinear interpolates between pixel centres and averages when shrinking (Pillow BILINEAR)', () => {
    const two = createImage(2, 1);
    two.data.set([0, 0, 0, 255, 255, 255, 255, 255]);
    const up = resizeBilinear(two, 4, 1);
    // Output centres at source x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
    expect([0, 1, 2, 3].map((x) => pixel(up, x, 0)[0])).toEqual([0, 64, 191, 255]);
    const four = createImage(4, 1);
    four.data.set([0, 0, 0, 255, 100, 0, 0, 255, 200, 0, 0, 255, 40, 0, 0, 255]);
    // One output pixel: triangle weights 0.625, 0.875, 0.875, 0.625 over the 4-pixel support.
    expect(pixel(resizeBilinear(four, 1, 1), 0, 0)).toEqual([96, 0, 0, 255]);
    const solid = resizeBilinear(createImage(7, 5, [12, 200, 99]), 23, 3);
    for (let y = 0; y < 3; y++) for (let x = 0; x < 23; x++) expect(pixel(solid, x, y)).toEqual([12, 200, 99, 255]);
  });

  it('blit copies with clipping', () => {
    const dst = createImage(5, 5);
    blit(dst, createImage(3, 3, [9, 9, 9]), 3, -1);
    expect(inkBox(dst)).toEqual({ x0: 3, y0: 0, x1: 4, y1: 1 });
  });
});

describe('line plot', () => {
  const xs = [0, 1, 2, 3, 4, 5, 6, 7];
  const base: LinePlotOptions = {
    title: 'Deletion curve',
    xLabel: 'step',
    yLabel: 'score',
    series: [
      { label: 'rising', x: xs, y: xs.map((x) => x * x) },
      { label: 'falling', x: xs, y: xs.map((x) => 45 - 3 * x) }, // crosses 'rising' between data points only
    ],
  };

  function outsideArea(img: RgbaImage, area: { left: number; top: number; right: number; bottom: number }, c: Rgb): number {
    let n = 0;
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++) if ((x < area.left || x >= area.right || y < area.top || y >= area.bottom) && isColor(img, x, y, c)) n++;
    return n;
  }

  it('puts each series colour at its data points and nowhere outside the plot area', () => {
    const img = renderLinePlot(base);
    const t = plotTransform(base);
    expect([img.width, img.height]).toEqual([640, 400]);
    base.series.forEach((s, k) => {
      const c = TAB10[k];
      s.x.forEach((x, i) => {
        const px = Math.floor(t.x(x));
        const py = Math.floor(t.y(s.y[i]));
        expect(isColor(img, px, py, c), `${s.label}[${i}] at ${px},${py}`).toBe(true);
      });
      expect(outsideArea(img, t.plotArea, c), s.label).toBe(0);
    });
    // Default ranges pad the data: the extremes are inside the area, not on its edge.
    expect(t.x(0)).toBeGreaterThan(t.plotArea.left + 5);
    expect(t.x(7)).toBeLessThan(t.plotArea.right - 5);
    expect(t.y(49)).toBeGreaterThan(t.plotArea.top + 5);
    // The frame is ink one pixel outside the area; the background outside it is white.
    expect(isColor(img, t.plotArea.left - 1, Math.floor((t.plotArea.top + t.plotArea.bottom) / 2), [0, 0, 0])).toBe(true);
    expect(isColor(img, img.width - 2, img.height - 2, WHITE)).toBe(true);
  });

  it('honours xRange and yRange exactly and clips data outside them', () => {
    const options: LinePlotOptions = {
      ...base,
      // 'flat' runs off both sides of the x range, 'rising' off its top.
      series: [base.series[0], { label: 'flat', x: xs, y: xs.map(() => 5) }],
      xRange: [0.5, 5],
      yRange: [0, 10],
      markers: false,
    };
    const t = plotTransform(options);
    expect(t.y(0)).toBe(t.plotArea.bottom - 0.5);
    expect(t.y(10)).toBe(t.plotArea.top + 0.5);
    expect(t.x(0.5)).toBe(t.plotArea.left + 0.5);
    expect(t.x(5)).toBe(t.plotArea.right - 0.5);
    const img = renderLinePlot(options);
    for (const c of TAB10.slice(0, 2)) expect(outsideArea(img, t.plotArea, c)).toBe(0);
    expect(isColor(img, t.plotArea.left, Math.floor(t.y(5)), TAB10[1])).toBe(true);
    expect(isColor(img, t.plotArea.right - 1, Math.floor(t.y(5)), TAB10[1])).toBe(true);
    // 'rising' leaves the range between x = 3 (9) and x = 4 (16): drawn up to the top edge, then gone.
    const crossing = Math.floor(t.x(3 + 1 / 7));
    expect(countNear(img, crossing, t.plotArea.top, TAB10[0], 2)).toBeGreaterThan(0);
    expect(countNear(img, Math.floor(t.x(4.5)), t.plotArea.top + 3, TAB10[0], 3)).toBe(0);
    // Gridlines at the 1/2/5 ticks inside the range, light grey, at both ends of it.
    for (const v of [0, 10]) {
      const [r, g, b] = pixel(img, t.plotArea.left + 1, Math.floor(t.y(v)));
      expect(r === g && g === b && r < 255 && r > 150, `gridline at y=${v}`).toBe(true);
    }
  });

  it('leaves a gap at non-finite values and never crashes on them', () => {
    const options: LinePlotOptions = {
      title: 'gaps',
      xLabel: 'x',
      yLabel: 'y',
      markers: false,
      series: [{ label: 'holes', x: [0, 1, 2, 3, 4, 5], y: [1, 2, NaN, 4, Infinity, 5] }],
    };
    const img = renderLinePlot(options);
    const t = plotTransform(options);
    const c = TAB10[0];
    const column = (x: number) => {
      let n = 0;
      for (let y = t.plotArea.top; y < t.plotArea.bottom; y++) if (isColor(img, Math.floor(t.x(x)), y, c)) n++;
      return n;
    };
    expect(column(0.5)).toBeGreaterThan(0); // the segment 0→1
    expect(column(1.5)).toBe(0);
    expect(column(2)).toBe(0);
    expect(column(2.5)).toBe(0);
    expect(column(4)).toBe(0);
    // Point 3 sits between two gaps: drawn as a dot even without markers.
    expect(countNear(img, Math.floor(t.x(3)), Math.floor(t.y(4)), c, 1)).toBeGreaterThan(0);
    // Non-finite values do not stretch the default range: 5 is the top of the data.
    expect(t.y(5)).toBeGreaterThan(t.plotArea.top + 5);
    expect(() => renderLinePlot({ ...options, series: [{ label: 'none', x: [NaN, 1], y: [2, NaN] }] })).not.toThrow();
  });

  it('draws an empty plot with axes when there is no data', () => {
    const options: LinePlotOptions = { title: '', xLabel: '', yLabel: '', series: [], width: 200, height: 150 };
    const img = renderLinePlot(options);
    const { plotArea: a } = plotTransform(options);
    expect([img.width, img.height]).toEqual([200, 150]);
    expect(isColor(img, a.left - 1, a.bottom, [0, 0, 0])).toBe(true);
    expect(isColor(img, a.right, a.top - 1, [0, 0, 0])).toBe(true);
    expect(isColor(img, Math.floor((a.left + a.right) / 2) + 1, Math.floor((a.top + a.bottom) / 2) + 1, WHITE)).toBe(true);
  });

  it('rotates colliding categorical labels, which takes room from the plot', () => {
    const names = Array.from({ length: 13 }, (_, i) => `block${i}_conv3`);
    const series = [{ label: 'ms', x: names.map((_, i) => i), y: names.map((_, i) => i % 4) }];
    const short = plotTransform({ title: 't', xLabel: 'layer', yLabel: 'ms', series, xTickLabels: names.map((_, i) => String(i)) });
    const long = plotTransform({ title: 't', xLabel: 'layer', yLabel: 'ms', series, xTickLabels: names });
    expect(long.plotArea.bottom).toBeLessThan(short.plotArea.bottom - textWidth(names[0]) + textHeight() + 1);
    const img = renderLinePlot({ title: 't', xLabel: 'layer', yLabel: 'ms', series, xTickLabels: names });
    // Ink under the axis at the first category's tick, a label's length down.
    expect(countNear(img, Math.floor(long.x(0)), long.plotArea.bottom + 10 + Math.floor(textWidth(names[0]) / 2), [0, 0, 0], 3)).toBeGreaterThan(0);
  });

  it('rejects bad options with errors that name the problem', () => {
    const bad = (o: Partial<LinePlotOptions>) => () => renderLinePlot({ ...base, ...o });
    expect(bad({ series: [{ label: 'loss', x: [1, 2, 3], y: [1, 2] }] })).toThrow(/series "loss" has 3 x values but 2 y values/);
    expect(bad({ yRange: [1, 1] })).toThrow(/yRange must be \[min, max\]/);
    expect(bad({ xRange: [0, NaN] })).toThrow(/xRange/);
    expect(bad({ width: 10 })).toThrow(/width must be an integer/);
    expect(bad({ series: [{ label: 'c', x: [1], y: [1], color: [0, 0, 300] }] })).toThrow(/color of series "c"/);
  });
});

describe('composeGrid', () => {
  // Border colour `edge`, centre half `centre`: resizing cannot mix the two at the centre pixel.
  function framed(width: number, height: number, edge: Rgb, centre: Rgb): RgbaImage {
    const img = createImage(width, height, edge);
    fillRect(img, width / 4, height / 4, width / 2, height / 2, centre);
    return img;
  }

  const tiles = [
    { image: framed(100, 50, [250, 0, 0], [0, 0, 250]), label: 'wide' },
    { image: framed(40, 80, [0, 250, 0], [250, 250, 0]), label: 'a label much wider than its narrow tile' },
    { image: framed(60, 60, [0, 0, 0], [0, 200, 200]), label: '' },
  ];

  it('lays tiles out by hand-computed positions, each tile centred on its source colour, labels under them', () => {
    const options = { tileHeight: 64, columns: 2, gap: 8, background: [40, 40, 40] as const };
    // Widths at height 64: 128, 32, 64. Row 1: 8 + 128 + 8 + 32 + 8 = 184 wide; rows 64 + 4 + 8 (label) tall.
    const layout = gridLayout(tiles, options);
    expect(layout.tiles.map((p) => [p.x, p.y, p.width, p.height])).toEqual([
      [8, 8, 128, 64],
      [144, 8, 32, 64],
      [8, 92, 64, 64],
    ]);
    const img = composeGrid(tiles, options);
    expect([img.width, img.height]).toEqual([184, 8 + 76 + 8 + 76 + 8]);
    layout.tiles.forEach((p, i) => {
      const src = tiles[i].image;
      const centre = pixel(src, src.width >> 1, src.height >> 1);
      expect(pixel(img, p.x + (p.width >> 1), p.y + (p.height >> 1)), `tile ${i}`).toEqual(centre);
      expect(pixel(img, p.x + 1, p.y + 1), `tile ${i} corner`).toEqual(pixel(src, 0, 0));
    });
    expect(pixel(img, 4, 4)).toEqual([40, 40, 40, 255]);

    // Labels: white on the dark background, centred under the tile, truncated to its width.
    const labelInk = (p: { x: number; y: number; width: number }) => {
      const band = createImage(p.width, textHeight());
      for (let y = 0; y < band.height; y++) for (let x = 0; x < band.width; x++) band.data.set(pixel(img, p.x + x, p.y + 64 + 4 + y), (y * band.width + x) * 4);
      return inkBox(band, [40, 40, 40]);
    };
    const wide = labelInk(layout.tiles[0])!;
    expect(Math.abs((wide.x0 + wide.x1 + 1) / 2 - 64)).toBeLessThanOrEqual(1);
    expect(wide.x1 - wide.x0 + 1).toBe(textWidth('wide'));
    expect([wide.x0 + layout.tiles[0].x, wide.y0 + layout.tiles[0].y + 68]).toEqual([layout.tiles[0].labelX, layout.tiles[0].labelY]); // 'd' reaches the top row
    const labelColors = new Set<string>();
    for (let x = wide.x0; x <= wide.x1; x++) labelColors.add(pixel(img, layout.tiles[0].x + x, layout.tiles[0].labelY + 4).join());
    expect([...labelColors].sort()).toEqual(['255,255,255,255', '40,40,40,255']);
    expect(layout.tiles[1].label.endsWith('...')).toBe(true);
    expect(textWidth(layout.tiles[1].label)).toBeLessThanOrEqual(32);
    expect(labelInk(layout.tiles[2])).toBeUndefined();
  });

  it('drops the label band when no tile has a label, and rejects bad input', () => {
    const unlabelled = tiles.map((t) => ({ ...t, label: '' }));
    expect(composeGrid(unlabelled, { tileHeight: 32 }).height).toBe(8 + 32 + 8);
    expect(composeGrid(unlabelled, { tileHeight: 32 }).width).toBe(8 + 64 + 8 + 16 + 8 + 32 + 8);
    expect(() => composeGrid([])).toThrow(/at least one tile/);
    expect(() => composeGrid(tiles, { columns: 0 })).toThrow(/columns/);
    expect(() => composeGrid([{ image: { width: 2, height: 2, data: new Uint8ClampedArray(3) }, label: 'x' }])).toThrow(/tile 0 \("x"\).*16 bytes/);
  });
});

describe('PNG round trip', () => {
  it("Pillow reads back the plot encodeImage writes, size and pixels", async () => {
    const options: LinePlotOptions = {
      title: 'Round trip',
      xLabel: 'x',
      yLabel: 'y',
      width: 320,
      height: 240,
      series: [{ label: 'data', x: [0, 1, 2, 3], y: [3, 1, 4, 1], color: [17, 34, 51] }],
    };
    const img = renderLinePlot(options);
    const t = plotTransform(options);
    const path = join(dir, 'plot.png');
    writeFileSync(path, await encodeImage(path, img));
    const probes: [number, number][] = [
      [Math.floor(t.x(2)), Math.floor(t.y(4))], // a data point
      [t.plotArea.left - 1, t.plotArea.top + 3], // the frame
      [0, 0], // background
      [t.plotArea.left + 2, t.plotArea.bottom - 2], // inside the plot area
    ];
    const script = [
      'import json, sys',
      'from PIL import Image',
      'im = Image.open(sys.argv[1])',
      'probes = json.loads(sys.argv[2])',
      'print(json.dumps({"size": list(im.size), "mode": im.mode, "pixels": [list(im.getpixel((x, y))) for x, y in probes]}))',
    ].join('\n');
    const pil = JSON.parse(execFileSync(PYTHON, ['-c', script, path, JSON.stringify(probes)]).toString()) as { size: number[]; mode: string; pixels: number[][] };
    expect(pil.size).toEqual([320, 240]);
    expect(pil.mode).toBe('RGBA');
    expect(pil.pixels).toEqual(probes.map(([x, y]) => pixel(img, x, y)));
    expect(pil.pixels[0]).toEqual([17, 34, 51, 255]);
    expect(pil.pixels[1]).toEqual([0, 0, 0, 255]);
    expect(pil.pixels[2]).toEqual([255, 255, 255, 255]);
  });
});
