// The devices page: each edge box's health and register version, names its events gave that
// the structure lacks, and the erasures of personal data with each box's confirmation;
// refreshed every 15 s.

import { h, badge, table, fmtTime, fmtAgo } from '../dom.js';
import { t } from '../i18n.js';
import { api, loadNames, compoundName } from '../api.js';
import { onLeave, reroute } from '../nav.js';

function statusBadge(st) {
  if (st === 'online') return badge(t('status.online'), 'ok', { 'data-testid': 'edge-status', 'data-status': 'online' });
  if (st === 'offline') return badge(t('status.offline'), 'bad', { 'data-testid': 'edge-status', 'data-status': 'offline' });
  return badge(t('status.unknown'), 'off', { 'data-testid': 'edge-status', 'data-status': 'unknown' });
}

function edgeRow(x) {
  const gap = (x.latest_version ?? 0) - (x.register_version ?? 0);
  return h('tr', { 'data-testid': 'edge-row', 'data-compound': x.compound, 'data-status': x.status || 'unknown' },
    h('td', { title: x.compound }, x.name || compoundName(x.compound)),
    h('td', {}, statusBadge(x.status)),
    h('td', { title: fmtTime(x.last_seen_ms) }, fmtAgo(x.last_seen_ms)),
    h('td', { class: 'num' }, Array.isArray(x.cameras) ? x.cameras.length : (x.cameras ?? '')),
    h('td', { class: 'num' }, x.outbox_depth ?? ''),
    h('td', {}, `${x.register_version ?? '—'} / ${x.latest_version ?? '—'} `,
      x.behind ? badge(t('edges.behind', { n: gap > 0 ? gap : '' }).trim(), 'warn', { 'data-testid': 'edge-behind' }) : null),
    h('td', { class: 'num' }, x.duplicates ?? ''),
    h('td', { class: 'num' }, x.contiguous_seq ?? ''));
}

function erasureRow(x) {
  return h('tr', { 'data-testid': 'erasure-row', 'data-pending': x.pending ? 'true' : 'false' },
    h('td', {}, x.resident_ref), h('td', {}, fmtTime(x.requested_ms)),
    h('td', {}, x.pending ? badge(t('edges.pending'), 'warn') : badge(t('edges.done'), 'ok')),
    h('td', {}, ...(x.targets || []).map((tg) => h('div', {}, `${compoundName(tg.compound)} v${tg.version ?? ''}: `,
      tg.confirmed_ms ? badge(`${t('edges.confirmed')} ${fmtTime(tg.confirmed_ms)}`, 'ok') : badge(t('edges.waiting'), 'warn')))));
}

export async function pageEdges(main, args, alive) {
  const [er, xr] = await Promise.all([api('GET', '/edges'), api('GET', '/erasures')]);
  try { await loadNames(false); } catch (e) { /* names are a nicety */ }
  if (!alive()) return;
  const rows = (er.edges || []).map(edgeRow);
  const erasures = (xr.erasures || []).map(erasureRow);
  // Events naming a gate or camera the structure lacks: stored, and shown here once per name.
  const warnings = (er.edges || []).flatMap((x) => (x.warnings || []).map((w) => h('li', { 'data-testid': 'edge-warning' },
    badge(t('edges.warnings'), 'warn'), ' ',
    t('edges.warning', { compound: x.name || compoundName(x.compound), what: w.what, n: w.events, first: fmtTime(w.first_ms) }))));
  main.replaceChildren(h('div', { id: 'edges' },
    h('div', { class: 'toolbar' }, h('h1', { class: 'grow' }, t('edges.title')),
      h('span', { class: 'muted' }, t('common.updated', { time: fmtTime(Date.now()) })),
      h('button', { type: 'button', id: 'edges-refresh', onclick: () => reroute() }, t('common.refresh'))),
    h('div', { class: 'panel' }, rows.length ? table('edges-table', [{ label: 'col.edge' }, { label: 'col.status' }, { label: 'col.last_seen' },
      { label: 'col.cameras', num: true }, { label: 'col.outbox', num: true }, { label: 'col.version' }, { label: 'col.duplicates', num: true },
      { label: 'col.contiguous', num: true }], rows) : h('div', { class: 'empty' }, t('edges.empty'))),
    warnings.length ? h('div', { class: 'panel' }, h('ul', { class: 'warnings' }, ...warnings)) : null,
    h('h2', {}, t('edges.erasures')),
    h('div', { class: 'panel' }, erasures.length ? table('erasures-table', [{ label: 'col.resident' }, { label: 'col.requested' },
      { label: 'col.pending' }, { label: 'col.targets' }], erasures) : h('div', { class: 'empty' }, t('edges.erasures_empty')))));
  const timer = setInterval(() => { if (alive()) reroute(); }, 15000);
  onLeave(() => clearInterval(timer));
}
