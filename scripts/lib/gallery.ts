// index.html for a folder run: one self-contained page (inline CSS and script, nothing fetched but the
// images next to it, by relative links), so it works from file:// as from any static server. A card per
// image: the output image as its thumbnail (click: full size), the file name, the top class and its
// probability, the metrics when there are some; buttons sort by name, probability or a metric. Every
// text from a file name or a record is HTML-escaped; every link is percent-encoded per path segment.
import type { ImageRecord, MetricSummary } from './folder.js';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A relative '/'-separated path as a URL path: each segment percent-encoded ('#', '?', '%', spaces…). */
export function relativeUrl(path: string): string {
  return path
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

/** The numeric metrics shown and sortable, with their labels and which way is better. */
const METRIC_COLUMNS: { key: string; label: string; better: 'low' | 'high' }[] = [
  { key: 'deletionAuc', label: 'deletion AUC', better: 'low' },
  { key: 'insertionAuc', label: 'insertion AUC', better: 'high' },
  { key: 'roadCombined', label: 'ROAD', better: 'high' },
  { key: 'averageDropPercent', label: 'avg drop %', better: 'low' },
];

/** A record's metrics per method ('' for a one-method run). */
function metricsByMethod(r: ImageRecord): [string, MetricSummary][] {
  if (!r.metrics) return [];
  if (r.methods) return Object.entries(r.metrics as Record<string, MetricSummary>);
  return [['', r.metrics as MetricSummary]];
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3));

export interface GalleryOptions {
  title?: string;
  /** A line above the cards (e.g. that the weights are random). */
  notice?: string;
  /** Whether an output exists (cards for outputs that are gone are left out). */
  exists?: (output: string) => boolean;
}

/** The page for these records (those with an error are listed apart, under the cards). */
export function galleryHtml(records: readonly ImageRecord[], options: GalleryOptions = {}): string {
  const exists = options.exists ?? (() => true);
  const shown = records.filter((r) => !r.error && exists(r.output));
  const failed = records.filter((r) => r.error);
  // The sort keys present: name and probability always; 'metric' or 'method:metric' when measured.
  const sortKeys: { key: string; label: string; better: 'low' | 'high' }[] = [
    { key: 'name', label: 'name', better: 'low' },
    { key: 'probability', label: 'probability', better: 'high' },
  ];
  const keyed = new Set<string>();
  for (const r of shown)
    for (const [method, m] of metricsByMethod(r))
      for (const c of METRIC_COLUMNS)
        if (typeof m[c.key] === 'number') {
          const key = method ? `${method}:${c.key}` : c.key;
          if (!keyed.has(key)) keyed.add(key), sortKeys.push({ key, label: method ? `${c.label} (${method})` : c.label, better: c.better });
        }
  const cards = shown.map((r) => {
    const top = r.predictions?.[0];
    const sort: Record<string, string | number> = { name: r.file };
    if (top) sort.probability = top.probability;
    const metricLines: string[] = [];
    for (const [method, m] of metricsByMethod(r)) {
      const parts: string[] = [];
      for (const c of METRIC_COLUMNS) {
        const v = m[c.key];
        if (typeof v !== 'number') continue;
        sort[method ? `${method}:${c.key}` : c.key] = v;
        parts.push(`${c.label} ${fmt(v)}`);
      }
      if (m.sanityVerdict !== undefined) parts.push(`sanity ${m.sanityPassed ? 'passed' : 'failed'}`);
      if (parts.length) metricLines.push(`${method ? `${method}: ` : ''}${parts.join(', ')}`);
    }
    const what = r.methods ? r.methods.join(', ') : (r.method ?? '');
    const caption = [
      `<b class="name">${escapeHtml(r.file)}</b>`,
      top ? `<span class="top">${escapeHtml(top.name)} <span class="p">${(100 * top.probability).toFixed(1)}%</span></span>` : '<span class="top">no record of how it was made</span>',
      what ? `<span class="what">${escapeHtml(what)}${r.classIndex !== undefined ? ` · class ${r.classIndex}` : ''}</span>` : '',
      ...metricLines.map((l) => `<span class="metrics">${escapeHtml(l)}</span>`),
    ].filter(Boolean);
    const url = escapeHtml(relativeUrl(r.output));
    return (
      `<figure class="card" data-sort="${escapeHtml(JSON.stringify(sort))}">` +
      `<a class="thumb" href="${url}"><img src="${url}" alt="${escapeHtml(r.file)}" loading="lazy" decoding="async"></a>` +
      `<figcaption>${caption.join('<br>')}</figcaption></figure>`
    );
  });
  const failures = failed.map((r) => `<li><b>${escapeHtml(r.file)}</b>: ${escapeHtml(r.error!)}</li>`);
  const buttons = sortKeys.map((k) => `<button type="button" data-key="${escapeHtml(k.key)}" data-better="${k.better}">${escapeHtml(k.label)}</button>`);
  const title = options.title ?? `gradcam: ${shown.length} image${shown.length === 1 ? '' : 's'}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem; color: #222; background: #fafafa; }
  h1 { font-size: 1.2rem; margin: 0 0 .5rem; }
  .notice { color: #a40; margin: .25rem 0; }
  .sort { margin: .5rem 0 1rem; }
  .sort button { margin: 0 .25rem .25rem 0; padding: .2rem .6rem; border: 1px solid #888; border-radius: 3px; background: #fff; cursor: pointer; }
  .sort button[aria-pressed="true"] { background: #246; color: #fff; border-color: #246; }
  #cards { display: flex; flex-wrap: wrap; gap: 12px; }
  .card { margin: 0; width: 240px; background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 6px; }
  .card img { display: block; width: 100%; height: 180px; object-fit: contain; background: #eee; }
  .card figcaption { font-size: 12px; margin-top: 4px; overflow-wrap: anywhere; }
  .card .p { font-weight: bold; }
  .card .what, .card .metrics { color: #555; }
  .failed li { margin: .2rem 0; overflow-wrap: anywhere; }
  #full { position: fixed; inset: 0; background: rgba(0, 0, 0, .85); display: none; align-items: center; justify-content: center; cursor: zoom-out; }
  #full.open { display: flex; }
  #full img { max-width: 96vw; max-height: 92vh; image-rendering: auto; background: #fff; }
  #full p { position: absolute; bottom: .5rem; left: 0; right: 0; text-align: center; color: #fff; margin: 0; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${options.notice ? `<p class="notice">${escapeHtml(options.notice)}</p>\n` : ''}<div class="sort">Sort by: ${buttons.join('')}</div>
<div id="cards">
${cards.join('\n')}
</div>
${failures.length ? `<h2>Not explained (${failures.length})</h2>\n<ul class="failed">\n${failures.join('\n')}\n</ul>\n` : ''}<div id="full" role="dialog" aria-label="full size"><img alt=""><p></p></div>
<script>
(function () {
  var cards = document.getElementById('cards');
  var buttons = Array.prototype.slice.call(document.querySelectorAll('.sort button'));
  var state = { key: 'name', dir: 1 };
  function value(card, key) { var v = JSON.parse(card.getAttribute('data-sort'))[key]; return v === undefined ? null : v; }
  function sortBy(key, dir) {
    var list = Array.prototype.slice.call(cards.children);
    list.sort(function (a, b) {
      var x = value(a, key), y = value(b, key);
      if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1; // missing values last
      var c = typeof x === 'string' ? x.localeCompare(y, undefined, { numeric: true }) : x - y;
      return c * dir || value(a, 'name').localeCompare(value(b, 'name'), undefined, { numeric: true });
    });
    list.forEach(function (card) { cards.appendChild(card); });
    state = { key: key, dir: dir };
    buttons.forEach(function (b) {
      var on = b.getAttribute('data-key') === key;
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
      b.textContent = b.textContent.replace(/ [\\u2191\\u2193]$/, '') + (on ? (dir > 0 ? ' \\u2191' : ' \\u2193') : '');
    });
  }
  buttons.forEach(function (b) {
    b.addEventListener('click', function () {
      var key = b.getAttribute('data-key');
      // First click: the better end first (high probability, low deletion AUC…); again: the other way.
      var first = b.getAttribute('data-better') === 'high' ? -1 : 1;
      sortBy(key, state.key === key ? -state.dir : first);
    });
  });
  sortBy('name', 1);
  var full = document.getElementById('full');
  var fullImg = full.querySelector('img');
  var fullText = full.querySelector('p');
  cards.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('a.thumb');
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    fullImg.src = a.getAttribute('href');
    fullText.textContent = a.parentNode.querySelector('.name').textContent;
    full.classList.add('open');
  });
  function close() { full.classList.remove('open'); fullImg.removeAttribute('src'); }
  full.addEventListener('click', close);
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') close(); });
})();
</script>
</body>
</html>
`;
}
