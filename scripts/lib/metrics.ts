// The metrics' results as the command-line scripts print and store them (`evaluate`, `gradcam --metrics`).
import type { EvaluateResult } from '../../src/node.js';

/** The headline numbers of one result (absent metrics left out): for results.jsonl, tables and the gallery. */
export function metricsSummary(r: EvaluateResult): Record<string, number | boolean | string | null> {
  const n = (v: number) => (Number.isFinite(v) ? v : null);
  return {
    ...(r.deletion ? { deletionAuc: n(r.deletion.auc) } : {}),
    ...(r.insertion ? { insertionAuc: n(r.insertion.auc) } : {}),
    ...(r.road ? { roadCombined: n(r.road.combined) } : {}),
    ...(r.confidence ? { averageDropPercent: n(r.confidence.averageDropPercent), increaseInConfidence: r.confidence.increase } : {}),
    ...(r.sanity ? { sanityPassed: r.sanity.passed, sanityFinalSpearman: n(r.sanity.spearman.at(-1) ?? NaN) } : {}),
  };
}

/** Everything but the map, JSON-safe (NaN → null). */
export function metricsJson(r: EvaluateResult): object {
  const { map, ...rest } = r;
  return JSON.parse(JSON.stringify({ ...rest, mapShape: [map.height, map.width] }, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
}

/** One line per metric, for people. */
export function metricsLines(r: EvaluateResult): string[] {
  const f = (v: number, d = 4) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
  const lines: string[] = [];
  if (r.deletion) lines.push(`deletion AUC ${f(r.deletion.auc)} (lower is better)`);
  if (r.insertion) lines.push(`insertion AUC ${f(r.insertion.auc)} (higher is better)`);
  if (r.road)
    lines.push(
      `ROAD combined ${f(r.road.combined)} (higher is better); MoRF ${r.road.morf.map((v) => f(v, 3)).join(' ')}; LeRF ${r.road.lerf.map((v) => f(v, 3)).join(' ')} at ${r.road.percentiles.join(',')}% kept; ` +
        `imputation ${r.road.solver.iterations} iterations, residual ${r.road.solver.relativeResidual.toExponential(1)}`,
    );
  if (r.confidence) lines.push(`confidence ${f(r.confidence.original)} → ${f(r.confidence.masked)} with the map applied: Average Drop ${f(r.confidence.averageDropPercent, 1)}%, increase ${r.confidence.increase ? 'yes' : 'no'}`);
  if (r.sanity) lines.push(`sanity check ${r.sanity.verdict}`);
  return lines;
}
