// Labelled image grids (an image and its heatmaps side by side, one method per tile) as RGBA pixels, for
// reports written from Node or a browser without a canvas. Tiles keep their aspect ratio at a common
// height and flow left to right, `columns` to a row; each label is centred under its tile.
import type { RgbaImage } from '../gradcam.js';
import { blit, checkColor, checkImage, createImage, drawText, fitText, resizeBilinear, type Rgb, textHeight, textWidth } from './canvas.js';

export interface GridTile {
  image: RgbaImage;
  label: string;
}

export interface GridOptions {
  /** Every tile is resized to this height; default 224. */
  tileHeight?: number;
  /** Tiles per row; default all in one row. */
  columns?: number;
  /** Pixels between tiles, between rows and around the edge; default 8. */
  gap?: number;
  /** Default white. */
  background?: readonly [number, number, number];
}

export interface GridPlacement {
  /** Top-left corner and size of the resized tile. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** The label as drawn: truncated with '...' to the tile's width. */
  label: string;
  /** Top-left corner of the label's text box. */
  labelX: number;
  labelY: number;
}

export interface GridLayout {
  width: number;
  height: number;
  tiles: GridPlacement[];
}

const LABEL_GAP = 4; // between a tile and its label

/** The size of the grid and where each tile and label goes; composeGrid draws exactly this. */
export function gridLayout(tiles: readonly GridTile[], options: GridOptions = {}): GridLayout {
  const { tileHeight, columns, gap } = gridSettings(tiles, options);
  tiles.forEach((t, i) => {
    checkImage(`composeGrid: tile ${i} (${JSON.stringify(t.label)})`, t.image);
    if (typeof t.label !== 'string') throw new TypeError(`composeGrid: tile ${i} needs a string label`);
  });
  // The label band is left out when no tile has a label, so unlabelled grids are not padded.
  const labelBand = tiles.some((t) => t.label !== '') ? LABEL_GAP + textHeight() : 0;
  const rowHeight = tileHeight + labelBand;
  const placements: GridPlacement[] = [];
  let width = 0;
  for (let start = 0, row = 0; start < tiles.length; start += columns, row++) {
    const y = gap + row * (rowHeight + gap);
    let x = gap;
    for (const t of tiles.slice(start, start + columns)) {
      const w = Math.max(1, Math.round((t.image.width * tileHeight) / t.image.height));
      const label = fitText(t.label, w);
      placements.push({
        x,
        y,
        width: w,
        height: tileHeight,
        label,
        labelX: x + Math.floor((w - textWidth(label)) / 2),
        labelY: y + tileHeight + LABEL_GAP,
      });
      x += w + gap;
    }
    width = Math.max(width, x);
  }
  const rows = Math.ceil(tiles.length / columns);
  return { width, height: gap + rows * (rowHeight + gap), tiles: placements };
}

export function composeGrid(tiles: readonly GridTile[], options: GridOptions = {}): RgbaImage {
  const background: Rgb = options.background ?? [255, 255, 255];
  checkColor('composeGrid: background', background);
  const layout = gridLayout(tiles, options);
  const img = createImage(layout.width, layout.height, background);
  // Dark text on light backgrounds, light on dark (Rec. 601 luma).
  const luma = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2];
  const ink: Rgb = luma >= 128 ? [0, 0, 0] : [255, 255, 255];
  layout.tiles.forEach((p, i) => {
    blit(img, resizeBilinear(tiles[i].image, p.width, p.height), p.x, p.y);
    if (p.label !== '') drawText(img, p.labelX, p.labelY, p.label, { color: ink });
  });
  return img;
}

function gridSettings(tiles: readonly GridTile[], options: GridOptions): { tileHeight: number; columns: number; gap: number } {
  if (!Array.isArray(tiles) || tiles.length === 0) throw new RangeError('composeGrid: needs at least one tile');
  const tileHeight = options.tileHeight ?? 224;
  const columns = options.columns ?? tiles.length;
  const gap = options.gap ?? 8;
  if (!Number.isInteger(tileHeight) || tileHeight < 1) throw new RangeError(`composeGrid: tileHeight must be a positive integer, got ${tileHeight}`);
  if (!Number.isInteger(columns) || columns < 1) throw new RangeError(`composeGrid: columns must be a positive integer, got ${columns}`);
  if (!Number.isInteger(gap) || gap < 0) throw new RangeError(`composeGrid: gap must be an integer ≥ 0, got ${gap}`);
  return { tileHeight, columns, gap };
}
