// Work orders: the list (filtered by state and grid, kept while the page is open) and one
// order with its history; acknowledging and resolving from either.

import { state } from '../state.js';
import { h, badge, loadingBox, fmtTime } from '../dom.js';
import { t, word } from '../i18n.js';
import { api, describe, loadNames, compoundName } from '../api.js';
import { field, submitForm, clearFieldErrors, showFieldErrors } from '../forms.js';
import { reroute } from '../nav.js';

const orderFilter = { state: 'open', grid: '' };
// What the order's page says after an action that redraws it.
let sessionNote = '';

function stateBadge(st) {
  const cls = st === 'open' ? 'bad' : st === 'acknowledged' ? 'warn' : 'ok';
  return badge(word('state', st), cls, { 'data-testid': 'order-state', 'data-state': st });
}

function orderActions(o, onChange) {
  const cell = h('span', { class: 'order-actions' });
  const msg = h('div', { class: 'form-error', 'data-testid': 'order-action-error' });
  if (o.state === 'open') cell.append(ackButton(o, onChange, msg));
  if (o.state !== 'resolved') cell.append(...resolveControls(o, onChange, msg));
  cell.append(msg);
  return cell;
}

function ackButton(o, onChange, msg) {
  const ack = h('button', { type: 'button', class: 'primary', 'data-testid': 'order-ack', 'data-order-id': o.id }, t('orders.ack'));
  ack.addEventListener('click', async () => {
    ack.disabled = true;
    msg.textContent = '';
    try {
      const updated = await api('POST', `/orders/${encodeURIComponent(o.id)}/ack`, {});
      onChange(updated, t('orders.acked', { id: o.id }));
    } catch (e) {
      ack.disabled = false;
      msg.textContent = describe(e);
    }
  });
  return ack;
}

/** The resolve button and the form it opens (a note is required). */
function resolveControls(o, onChange, msg) {
  const resolve = h('button', { type: 'button', 'data-testid': 'order-resolve', 'data-order-id': o.id }, t('orders.resolve'));
  const note = h('textarea', { name: 'note', rows: 2, cols: 30, 'data-testid': 'resolve-note', placeholder: t('orders.resolve_note') });
  const form = h('form', { class: 'inline', 'data-testid': 'resolve-form', hidden: true },
    field('note', t('orders.resolve_note'), note),
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'resolve-submit' }, t('orders.resolve_submit')),
    h('button', { type: 'button', onclick: () => { form.hidden = true; resolve.hidden = false; } }, t('common.cancel')));
  resolve.addEventListener('click', () => {
    form.hidden = false;
    resolve.hidden = true;
    note.focus();
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!note.value.trim()) {
      clearFieldErrors(form);
      showFieldErrors(form, { note: t('orders.note_required') });
      return;
    }
    submitForm(form, msg, async () => {
      const updated = await api('POST', `/orders/${encodeURIComponent(o.id)}/resolve`, { note: note.value.trim() });
      onChange(updated, t('orders.resolved', { id: o.id }));
    });
  });
  return [resolve, form];
}

function orderRow(o, onChange) {
  return h('tr', { 'data-testid': 'order-row', 'data-order-id': o.id, 'data-state': o.state, 'data-kind': o.kind,
    'data-overdue': o.overdue ? 'true' : 'false', class: o.overdue ? 'overdue' : null },
  h('td', {}, h('a', { href: `#/orders/${encodeURIComponent(o.id)}`, 'data-testid': 'order-link' }, `#${o.id}`)),
  h('td', {}, o.grid || ''),
  h('td', { title: o.compound }, compoundName(o.compound)),
  h('td', {}, o.gate || ''),
  h('td', { title: o.kind }, word('kind', o.kind)),
  h('td', {}, stateBadge(o.state)),
  h('td', { title: o.assignee ? word('staff', o.assignee.role) : null }, o.assignee ? o.assignee.name : h('span', { class: 'muted' }, t('orders.unassigned'))),
  h('td', {}, fmtTime(o.opened_ms)),
  h('td', {}, fmtTime(o.due_ms), ' ', o.overdue ? badge(t('orders.overdue'), 'bad', { 'data-testid': 'order-overdue' }) : null),
  h('td', {}, fmtTime(o.last_event_ms)),
  h('td', { class: 'num' }, o.events ?? ''),
  h('td', { class: 'actions' }, orderActions(o, onChange)));
}

export async function pageOrders(main, args, alive) {
  if (args.length) return pageOrder(main, args[0], alive);
  try { await loadNames(false); } catch (e) { /* the grid filter is then empty */ }
  if (!alive()) return;
  const stateSel = h('select', { id: 'orders-state', 'data-testid': 'orders-state' },
    ...[['', t('common.all')], ['open', word('state', 'open')], ['acknowledged', word('state', 'acknowledged')], ['resolved', word('state', 'resolved')]]
      .map(([v, l]) => h('option', { value: v, selected: orderFilter.state === v }, l)));
  const gridSel = h('select', { id: 'orders-grid', 'data-testid': 'orders-grid' },
    h('option', { value: '' }, t('common.all')),
    ...((state.names && state.names.gridList) || []).map((g) => h('option', { value: g.id, selected: String(orderFilter.grid) === String(g.id) }, g.name)));
  const note = h('div', { class: 'form-ok', id: 'orders-note', 'data-testid': 'orders-note', role: 'status' });
  const body = h('tbody', { id: 'orders-body' });
  const holder = h('div', { class: 'panel' }, loadingBox());
  main.replaceChildren(h('div', { id: 'orders' },
    h('div', { class: 'toolbar' }, h('h1', { class: 'grow' }, t('orders.title')),
      h('label', {}, t('orders.state'), ' ', stateSel), h('label', {}, t('orders.grid'), ' ', gridSel),
      h('button', { type: 'button', id: 'orders-refresh', onclick: () => load() }, t('common.refresh'))),
    note, holder));

  const onChange = (updated, text) => {
    note.textContent = text;
    const old = body.querySelector(`tr[data-order-id="${CSS.escape(String(updated.id))}"]`);
    const row = orderRow(updated, onChange);
    if (old) old.replaceWith(row); else body.prepend(row);
  };

  async function load() {
    holder.replaceChildren(loadingBox());
    const q = new URLSearchParams();
    if (orderFilter.state) q.set('state', orderFilter.state);
    if (orderFilter.grid) q.set('grid', orderFilter.grid);
    const qs = q.toString();
    let res;
    try {
      res = await api('GET', '/orders' + (qs ? '?' + qs : ''));
    } catch (e) {
      if (alive()) holder.replaceChildren(h('div', { class: 'form-error', 'data-testid': 'page-error' }, describe(e)));
      return;
    }
    if (!alive()) return;
    body.replaceChildren(...(res.orders || []).map((o) => orderRow(o, onChange)));
    const table = h('table', { id: 'orders-table', 'data-testid': 'orders-table' },
      h('thead', {}, h('tr', {}, ...['col.id', 'col.grid', 'col.compound', 'col.gate', 'col.kind', 'col.state', 'col.assignee',
        'col.opened', 'col.due', 'col.last_event', 'col.events', 'common.actions'].map((k) => h('th', {}, t(k))))), body);
    holder.replaceChildren(table);
    if (!body.children.length) holder.append(h('div', { class: 'empty', 'data-testid': 'orders-empty' }, t('orders.empty')));
  }
  stateSel.addEventListener('change', () => { orderFilter.state = stateSel.value; note.textContent = ''; load(); });
  gridSel.addEventListener('change', () => { orderFilter.grid = gridSel.value; note.textContent = ''; load(); });
  await load();
}

async function pageOrder(main, id, alive) {
  try { await loadNames(false); } catch (e) { /* names are a nicety */ }
  const o = await api('GET', `/orders/${encodeURIComponent(id)}`);
  if (!alive()) return;
  const note = h('div', { class: 'form-ok', id: 'order-note', 'data-testid': 'orders-note', role: 'status' });
  main.replaceChildren(h('div', { id: 'order-detail', 'data-testid': 'order-detail', 'data-order-id': o.id, 'data-state': o.state },
    h('div', { class: 'toolbar' }, h('a', { href: '#/orders' }, '← ' + t('common.back')),
      h('h1', { class: 'grow' }, t('orders.detail', { id: o.id }))),
    note,
    h('div', { class: 'panel' }, orderFacts(o), h('div', { class: 'row', style: 'margin-top:10px' },
      orderActions(o, (updated, text) => { sessionNote = text; reroute(); }))),
    h('div', { class: 'panel' }, h('h2', {}, t('orders.history')), orderHistory(o))));
  if (sessionNote) { note.textContent = sessionNote; sessionNote = ''; }
}

function orderFacts(o) {
  const dl = h('dl', { class: 'detail-grid' });
  const put = (k, v) => dl.append(h('dt', {}, t(k)), h('dd', {}, v));
  put('col.state', stateBadge(o.state));
  put('col.grid', o.grid || '');
  put('col.compound', compoundName(o.compound));
  put('col.gate', o.gate || '');
  put('col.kind', word('kind', o.kind));
  put('col.assignee', o.assignee ? `${o.assignee.name}（${word('staff', o.assignee.role)}）` : t('orders.unassigned'));
  put('col.opened', fmtTime(o.opened_ms));
  put('col.due', [fmtTime(o.due_ms), ' ', o.overdue ? badge(t('orders.overdue'), 'bad', { 'data-testid': 'order-overdue' }) : null]);
  put('col.last_event', fmtTime(o.last_event_ms));
  put('col.events', String(o.events ?? ''));
  return dl;
}

function orderHistory(o) {
  return h('table', { class: 'history', 'data-testid': 'order-history' },
    h('thead', {}, h('tr', {}, ...['col.at', 'col.actor', 'col.action', 'col.note'].map((k) => h('th', {}, t(k))))),
    h('tbody', {}, ...(o.history || []).map((x) => h('tr', { 'data-testid': 'history-row', 'data-action': x.action },
      h('td', {}, fmtTime(x.at_ms)), h('td', {}, word('actor', x.actor)), h('td', {}, word('action', x.action)), h('td', {}, x.note || '')))));
}
