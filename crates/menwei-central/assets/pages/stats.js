// Statistics as inline SVG charts: entries per hour by kind (stacked bars) and anomalies per
// grid (horizontal bars), over a period the user picks.

import { h, s, pad, fmtTime } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { reroute } from '../nav.js';

const ENTRY_KINDS = [['resident', '#2e7dd1'], ['visitor', '#2e9e5b'], ['unknown', '#d98b1e']];

// The chosen period, kept while the page is open.
let statsHours = 24;

/** A round step for an axis that reaches `max` in about `n` steps. */
function niceStep(max, n) {
  if (max <= 0) return 1;
  const raw = max / n;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function entriesChart(hours) {
  const W = 1000, H = 320, L = 48, R = 12, T = 16, B = 44;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-testid': 'chart-entries', 'aria-label': t('stats.entries') });
  const totals = hours.map((x) => ENTRY_KINDS.reduce((a, [k]) => a + (Number(x[k]) || 0), 0));
  const max = Math.max(1, ...totals);
  const step = niceStep(max, 5);
  const top = Math.ceil(max / step) * step;
  const y = (v) => T + (H - T - B) * (1 - v / top);
  for (let v = 0; v <= top + 1e-9; v += step) {
    svg.append(s('line', { class: 'gridline', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    svg.append(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(Math.round(v))));
  }
  const n = Math.max(1, hours.length);
  const slot = (W - L - R) / n;
  const bw = Math.max(2, slot * 0.7);
  const labelEvery = Math.ceil(n / 24) * (n > 24 ? 1 : 2) || 1;
  hours.forEach((x, i) => {
    const x0 = L + i * slot + (slot - bw) / 2;
    let acc = 0;
    const g = s('g', { 'data-testid': 'chart-entries-bar', 'data-hour-ms': x.hour_ms });
    for (const [k, colour] of ENTRY_KINDS) {
      const v = Number(x[k]) || 0;
      if (v > 0) {
        g.append(s('rect', { x: x0, y: y(acc + v), width: bw, height: y(acc) - y(acc + v), fill: colour },
          s('title', {}, `${fmtTime(x.hour_ms).slice(0, 13)}:00 ${t('entry.' + k)} ${v}`)));
      }
      acc += v;
    }
    svg.append(g);
    if (i % labelEvery === 0) {
      const d = new Date(x.hour_ms);
      svg.append(s('text', { x: x0 + bw / 2, y: H - B + 14, 'text-anchor': 'middle' }, `${pad(d.getHours())}:00`));
      if (d.getHours() === 0 || i === 0) svg.append(s('text', { x: x0 + bw / 2, y: H - B + 28, 'text-anchor': 'middle' }, `${d.getMonth() + 1}/${d.getDate()}`));
    }
  });
  svg.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: y(0), y2: y(0) }));
  let lx = L;
  for (const [k, colour] of ENTRY_KINDS) {
    svg.append(s('rect', { x: lx, y: H - 12, width: 10, height: 10, fill: colour }));
    svg.append(s('text', { x: lx + 14, y: H - 3, class: 'bar-label' }, t('entry.' + k)));
    lx += 90;
  }
  svg.append(s('text', { x: W - R, y: H - 3, 'text-anchor': 'end', class: 'bar-label' }, t('stats.total', { n: totals.reduce((a, b) => a + b, 0) })));
  return svg;
}

function anomaliesChart(grids) {
  const rowH = 26, L = 150, R = 50, T = 10;
  const W = 1000, H = Math.max(60, T * 2 + rowH * grids.length);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-testid': 'chart-anomalies', 'aria-label': t('stats.anomalies') });
  const max = Math.max(1, ...grids.map((g) => Number(g.count) || 0));
  grids.forEach((g, i) => {
    const y0 = T + i * rowH;
    const w = (W - L - R) * (Number(g.count) || 0) / max;
    svg.append(s('text', { x: L - 8, y: y0 + rowH / 2 + 4, 'text-anchor': 'end', class: 'bar-label' }, g.grid || String(g.grid_id)));
    svg.append(s('rect', { x: L, y: y0 + 4, width: Math.max(w, 0), height: rowH - 8, fill: '#cf3b3b', 'data-testid': 'chart-anomalies-bar', 'data-grid-id': g.grid_id },
      s('title', {}, `${g.grid}: ${g.count}`)));
    svg.append(s('text', { x: L + w + 6, y: y0 + rowH / 2 + 4, class: 'bar-label' }, String(g.count)));
  });
  svg.append(s('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - T }));
  return svg;
}

export async function pageStats(main, args, alive) {
  const [entries, anomalies] = await Promise.all([api('GET', `/stats/entries?hours=${statsHours}`), api('GET', '/stats/anomalies')]);
  if (!alive()) return;
  const sel = h('select', { id: 'stats-hours', 'data-testid': 'stats-hours' },
    ...[[24, 'stats.h24'], [48, 'stats.h48'], [168, 'stats.h168']].map(([v, k]) => h('option', { value: v, selected: v === statsHours }, t(k))));
  sel.addEventListener('change', () => { statsHours = Number(sel.value); reroute(); });
  const hours = (entries.hours || []).slice().sort((a, b) => a.hour_ms - b.hour_ms);
  const grids = (anomalies.grids || []).slice().sort((a, b) => (b.count || 0) - (a.count || 0));
  main.replaceChildren(h('div', { id: 'stats' },
    h('div', { class: 'toolbar' }, h('h1', { class: 'grow' }, t('stats.title')), h('label', {}, t('stats.hours'), ' ', sel)),
    h('div', { class: 'panel' }, h('h2', {}, t('stats.entries')), hours.length ? entriesChart(hours) : h('div', { class: 'empty' }, t('common.empty'))),
    h('div', { class: 'panel' }, h('h2', {}, t('stats.anomalies')), grids.length ? anomaliesChart(grids) : h('div', { class: 'empty' }, t('common.empty')))));
}
