// The metrics' charts as RGBA images (src/engine/raster: no browser, no dependency), one per metric,
// a series per method: deletion and insertion curves, ROAD's score change per percentile, the sanity
// check's similarity per randomized layer.
import type { RgbaImage } from '../gradcam.js';
import { renderLinePlot, type PlotSeries } from '../raster/plot.js';
import type { EvaluateResult } from './types.js';

export interface MetricPlot {
  /** File stem: 'deletion', 'insertion', 'road', 'sanity'. */
  name: string;
  image: RgbaImage;
}

/** Charts of every metric present in `results` (one result per method, same image and class). */
export function metricPlots(results: readonly EvaluateResult[], title = ''): MetricPlot[] {
  const plots: MetricPlot[] = [];
  const suffix = title ? ` — ${title}` : '';
  const score = results[0]?.score ?? 'prob';
  for (const kind of ['deletion', 'insertion'] as const) {
    const series: PlotSeries[] = results.flatMap((r) => {
      const c = r[kind];
      return c ? [{ label: `${r.method} (AUC ${c.auc.toFixed(3)})`, x: c.fractions, y: c.scores }] : [];
    });
    if (series.length)
      plots.push({
        name: kind,
        image: renderLinePlot({ title: `${kind === 'deletion' ? 'Deletion' : 'Insertion'} (most salient first)${suffix}`, xLabel: `fraction of pixels ${kind === 'deletion' ? 'removed' : 'restored'}`, yLabel: `class ${score}`, series, xRange: [0, 1] }),
      });
  }
  const road = results.filter((r) => r.road);
  if (road.length) {
    const series: PlotSeries[] = road.flatMap((r) => [
      { label: `${r.method} MoRF`, x: r.road!.percentiles.map((p) => 100 - p), y: r.road!.morf },
      { label: `${r.method} LeRF`, x: r.road!.percentiles.map((p) => 100 - p), y: r.road!.lerf },
    ]);
    plots.push({ name: 'road', image: renderLinePlot({ title: `ROAD (combined: ${road.map((r) => `${r.method} ${r.road!.combined.toFixed(3)}`).join(', ')})${suffix}`, xLabel: '% of pixels imputed', yLabel: `${score} change`, series }) });
  }
  const sanity = results.filter((r) => r.sanity);
  if (sanity.length) {
    const layers = sanity[0].sanity!.layers;
    const series: PlotSeries[] = sanity.flatMap((r) => [
      { label: `${r.method} Spearman`, x: r.sanity!.layers.map((_, i) => i), y: r.sanity!.spearman },
      { label: `${r.method} SSIM`, x: r.sanity!.layers.map((_, i) => i), y: r.sanity!.ssim },
    ]);
    plots.push({
      name: 'sanity',
      image: renderLinePlot({ title: `Cascading randomization${suffix}`, xLabel: 'randomized down to', yLabel: 'similarity to the original map', series, yRange: [-1, 1], xTickLabels: layers }),
    });
  }
  return plots;
}
