// The overview: one map per community, its compounds, buildings coloured by grid with their
// open work orders in red, and gates coloured by their edge box's status; refreshed every 30 s.

import { h, s, badge, fmtTime } from '../dom.js';
import { t } from '../i18n.js';
import { loadNames } from '../api.js';
import { onLeave, reroute } from '../nav.js';

// Per grid: a light fill and a strong outline, so that the grid stays readable under the red
// of open work orders (drawn inside the outline).
const GRID_COLOURS = [['#cfe3f7', '#2e6fb5'], ['#d7efd9', '#2f8a4c'], ['#f5e3c8', '#b9771c'], ['#e4d9f3', '#6d4fa8'],
  ['#f3d6e4', '#a83f73'], ['#d3eeee', '#23817f'], ['#ece9c9', '#7d7420'], ['#e0e0e0', '#5b6670']];
const STATUS_COLOURS = { online: '#2e9e5b', offline: '#cf3b3b', null: '#8a949e' };

function ordersOpacity(n) {
  return n > 0 ? Math.min(0.85, 0.25 + 0.15 * (n - 1)) : 0;
}

export async function pageOverview(main, args, alive) {
  const n = await loadNames(true);
  if (!alive()) return;
  const ov = n.overview;
  const root = h('div', { id: 'overview' });
  root.append(h('div', { class: 'toolbar' }, h('h1', { class: 'grow' }, t('overview.title')),
    h('span', { class: 'muted', id: 'overview-updated' }, t('common.updated', { time: fmtTime(Date.now()) })),
    h('button', { type: 'button', id: 'overview-refresh', onclick: () => reroute() }, t('common.refresh'))));
  let count = 0;
  for (const d of ov.districts || []) {
    for (const c of d.communities || []) {
      count++;
      root.append(communityMap(d, c));
    }
  }
  if (!count) root.append(h('div', { class: 'panel empty', 'data-testid': 'overview-empty' }, t('overview.empty')));
  main.replaceChildren(root);
  const timer = setInterval(async () => {
    try {
      await loadNames(true);
      if (alive()) reroute();
    } catch (e) { /* the next refresh retries; a 401 already went to login */ }
  }, 30000);
  onLeave(() => clearInterval(timer));
}

function communityMap(district, c) {
  const grids = (c.grids || []).slice().sort((a, b) => String(a.id).localeCompare(String(b.id), undefined, { numeric: true }));
  const gridInfo = new Map();
  grids.forEach((g, i) => gridInfo.set(String(g.id), { g, colour: GRID_COLOURS[i % GRID_COLOURS.length] }));
  const svg = s('svg', { class: 'map', viewBox: '0 0 1000 600', role: 'img', 'data-testid': 'community-map', 'data-community-id': c.id,
    'aria-label': `${district.name} ${c.name}` });
  svg.append(s('rect', { x: 0, y: 0, width: 1000, height: 600, fill: '#f9fbfc' }));
  for (const cp of c.compounds || []) svg.append(compoundGroup(cp, gridInfo));
  return h('section', { class: 'community panel', 'data-testid': 'community' },
    h('h2', {}, `${district.name} · ${c.name}`),
    h('div', { class: 'map-wrap' }, svg, mapLegend(gridInfo)));
}

/** One compound on the map: its outline and name, its buildings and its gates. */
function compoundGroup(cp, gridInfo) {
  const status = cp.edge ? cp.edge.status : null;
  const g = s('g', { 'data-testid': 'map-compound', 'data-compound': cp.code, 'data-edge-status': status || 'unknown' });
  g.append(s('rect', { class: 'compound-rect', x: cp.x, y: cp.y, width: cp.w, height: cp.h, rx: 6 },
    s('title', {}, [cp.name, cp.property_company ? t('overview.property', { name: cp.property_company }) : null].filter(Boolean).join('\n'))));
  let label = cp.name;
  if (cp.edge && cp.edge.behind) label += ` · ${t('overview.behind')}`;
  g.append(s('text', { class: 'compound-label', x: cp.x + 8, y: cp.y + 18 }, label));
  for (const b of cp.buildings || []) g.append(buildingGroup(b, gridInfo));
  for (const gate of cp.gates || []) g.append(gateGroup(gate, status));
  return g;
}

/** A building in its grid's colours, with a red wash and a count for open work orders. */
function buildingGroup(b, gridInfo) {
  const gi = gridInfo.get(String(b.grid_id));
  const open = gi ? (gi.g.open_orders || 0) : 0;
  const tip = t('overview.building_tip', { building: b.name, grid: gi ? gi.g.name : t('common.unknown'), n: open });
  const bg = s('g', { 'data-testid': 'map-building', 'data-building-id': b.id, 'data-grid-id': b.grid_id, 'data-open-orders': open });
  const [fill, stroke] = gi ? gi.colour : ['#eeeeee', '#7f8c99'];
  bg.append(s('rect', { class: 'building-rect', x: b.x, y: b.y, width: b.w, height: b.h, fill, stroke, 'stroke-width': 4 }, s('title', {}, tip)));
  if (open > 0) {
    bg.append(s('rect', { x: b.x + 2, y: b.y + 2, width: Math.max(0, b.w - 4), height: Math.max(0, b.h - 4), fill: '#cf3b3b',
      'fill-opacity': ordersOpacity(open), 'pointer-events': 'none' }));
    const r = 9;
    bg.append(s('circle', { cx: b.x + b.w - r - 2, cy: b.y + r + 2, r, fill: '#a61b1b' }));
    bg.append(s('text', { class: 'order-count', x: b.x + b.w - r - 2, y: b.y + r + 6, 'text-anchor': 'middle' }, String(open)));
  }
  bg.append(s('text', { x: b.x + b.w / 2, y: b.y + b.h / 2 + 4, 'text-anchor': 'middle' }, b.name));
  return bg;
}

/** A gate, coloured by its compound's edge status (crossed out when offline). */
function gateGroup(gate, status) {
  const colour = STATUS_COLOURS[status] || STATUS_COLOURS.null;
  const st = status === 'online' ? t('status.online') : status === 'offline' ? t('status.offline') : t('status.unknown');
  const gg = s('g', { 'data-testid': 'map-gate', 'data-gate': gate.name, 'data-status': status || 'unknown' });
  gg.append(s('circle', { cx: gate.x, cy: gate.y, r: 10, fill: colour, stroke: '#fff', 'stroke-width': 2 },
    s('title', {}, t('overview.gate_tip', { gate: gate.name, status: st }))));
  if (status === 'offline') gg.append(s('path', { d: `M${gate.x - 5} ${gate.y - 5}L${gate.x + 5} ${gate.y + 5}M${gate.x + 5} ${gate.y - 5}L${gate.x - 5} ${gate.y + 5}`, stroke: '#fff', 'stroke-width': 2 }));
  gg.append(s('text', { class: 'gate-label', x: gate.x + 14, y: gate.y + 4 }, gate.name));
  return gg;
}

/** The map's legend: the grids with their open and overdue orders, the red scale, the gates. */
function mapLegend(gridInfo) {
  const legend = h('div', { class: 'legend panel', 'data-testid': 'map-legend' }, h('h3', {}, t('overview.legend')));
  legend.append(h('div', { class: 'muted' }, t('overview.grids')));
  for (const { g, colour } of gridInfo.values()) {
    const item = h('div', { class: 'item', 'data-testid': 'legend-grid', 'data-grid-id': g.id },
      h('span', { class: 'sw', style: `background:${colour[0]};border:2px solid ${colour[1]}` }), h('span', { class: 'grow' }, g.name),
      g.open_orders ? badge(t('overview.open', { n: g.open_orders }), 'bad') : badge(t('overview.open', { n: 0 }), 'ok'));
    if (g.overdue_orders) item.append(badge(t('overview.overdue', { n: g.overdue_orders }), 'warn'));
    legend.append(item);
  }
  const scale = h('div', { class: 'item' });
  for (const k of [1, 2, 3, 5]) scale.append(h('span', { class: 'sw', style: `background:rgba(207,59,59,${ordersOpacity(k)})` }));
  scale.append(h('span', {}, t('overview.orders_scale')));
  legend.append(scale);
  for (const [st, key] of [['online', 'overview.gate_online'], ['offline', 'overview.gate_offline'], ['null', 'overview.gate_unknown']]) {
    legend.append(h('div', { class: 'item' }, h('span', { class: 'dot', style: `background:${STATUS_COLOURS[st]}` }), t(key)));
  }
  return legend;
}
