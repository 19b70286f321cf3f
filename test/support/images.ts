// Images made by the tests themselves: photo-like content (smooth gradients, a disc, texture, hard
// edges) so resizing and the network see something other than noise.
import type { ImageInput } from '../../src/engine/network.js';
import { mulberry32 } from '../../src/engine/synthetic.js';

export function syntheticPhoto(width: number, height: number, seed = 3): ImageInput {
  const r = mulberry32(seed);
  const data = new Uint8ClampedArray(width * height * 4);
  const cx = width * 0.6;
  const cy = height * 0.45;
  const radius = Math.min(width, height) * 0.25;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < radius ** 2;
      const noise = (r() - 0.5) * 30;
      data[i] = inDisc ? 200 + noise : (255 * x) / width;
      data[i + 1] = inDisc ? 60 + noise : (255 * y) / height;
      data[i + 2] = (x >> 3) % 2 === (y >> 3) % 2 ? 40 + noise : 180 + noise;
      data[i + 3] = 255;
    }
  }
  return { width, height, data };
}
