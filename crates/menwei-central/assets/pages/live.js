// The live feed: the event stream (server-sent events), newest on top, with the history
// before it and the gap after a reconnection filled from the history.

import { h, badge, fmtTime } from '../dom.js';
import { t, word } from '../i18n.js';
import { api, loadNames, compoundName } from '../api.js';
import { onLeave } from '../nav.js';

const MAX_ROWS = 300;

function subjectText(sub) {
  if (!sub || !sub.type) return t('subject.none');
  if (sub.type === 'vehicle') return sub.plate || t('subject.vehicle');
  if (sub.type === 'camera') return sub.state ? `${t('subject.camera')} · ${sub.state}` : t('subject.camera');
  return word('subject', sub.type);
}

function decisionText(ev) {
  return [word('decision', ev.decision), word('reason', ev.reason)].filter(Boolean).join(' · ');
}

function eventRow(ev, fresh) {
  const orderCell = ev.order_id !== null && ev.order_id !== undefined
    ? h('a', { href: `#/orders/${encodeURIComponent(ev.order_id)}`, 'data-testid': 'event-order-link' }, `#${ev.order_id}`)
    : '';
  const cls = [fresh ? 'fresh' : null, ev.class ? 'class-' + ev.class : null].filter(Boolean).join(' ');
  return h('tr', { 'data-testid': 'event-row', 'data-event-id': ev.id, 'data-kind': ev.kind, 'data-compound': ev.compound,
    'data-order-id': ev.order_id === null || ev.order_id === undefined ? null : ev.order_id, class: cls || null },
  h('td', { title: ev.received_ms ? fmtTime(ev.received_ms) : null }, fmtTime(ev.occurred_at)),
  h('td', { title: ev.compound }, compoundName(ev.compound)),
  h('td', {}, ev.gate || ''),
  h('td', { 'data-testid': 'event-kind', title: ev.kind }, word('kind', ev.kind)),
  h('td', { 'data-testid': 'event-subject' }, subjectText(ev.subject)),
  h('td', {}, ev.decision === 'denied' ? badge(decisionText(ev), 'bad') : decisionText(ev)),
  h('td', {}, orderCell));
}

/** The feed's table and its rows: `add` puts an event in once (by id), ordered by id. */
function feedTable() {
  const body = h('tbody', { id: 'feed-body' });
  const empty = h('div', { class: 'empty', id: 'feed-empty' }, t('live.empty'));
  const table = h('table', { id: 'feed-table', 'data-testid': 'feed-table' },
    h('thead', {}, h('tr', {}, ...['col.time', 'col.compound', 'col.gate', 'col.kind', 'col.subject', 'col.decision', 'col.order'].map((k) => h('th', {}, t(k))))),
    body);
  const seen = new Set();
  const feed = { table, empty, body, maxId: 0 };
  feed.add = (ev, fresh) => {
    if (!ev || ev.id === undefined || seen.has(String(ev.id))) return;
    seen.add(String(ev.id));
    feed.maxId = Math.max(feed.maxId, Number(ev.id) || 0);
    const row = eventRow(ev, fresh);
    // Newest on top: keep the rows ordered by id, descending.
    let before = null;
    for (const r of body.children) {
      if (Number(r.dataset.eventId) < Number(ev.id)) { before = r; break; }
    }
    body.insertBefore(row, before);
    while (body.children.length > MAX_ROWS) body.lastElementChild.remove();
    empty.hidden = body.children.length > 0;
  };
  return feed;
}

export async function pageLive(main, args, alive) {
  const status = h('span', { id: 'feed-status', class: 'badge warn feed-status', 'data-testid': 'feed-status', 'data-state': 'connecting' }, t('live.connecting'));
  const feed = feedTable();
  main.replaceChildren(h('div', { id: 'live' },
    h('div', { class: 'toolbar' }, h('h1', { class: 'grow' }, t('live.title')), status),
    h('div', { class: 'panel' }, feed.table, feed.empty)));
  function setStatus(state, text, cls) {
    status.dataset.state = state;
    status.className = 'badge feed-status ' + cls;
    status.textContent = text;
  }

  try { await loadNames(false); } catch (e) { /* names are a nicety; the feed works without */ }
  if (!alive()) return;

  // The stream first, then the history: an event between the two shows up once (by id).
  openStream(feed, setStatus, alive);
  const res = await api('GET', `/events?limit=100`);
  if (!alive()) return;
  for (const ev of (res.events || []).slice().reverse()) feed.add(ev, false);
  feed.empty.hidden = feed.body.children.length > 0;
}

function openStream(feed, setStatus, alive) {
  const es = new EventSource('/api/events/stream', { withCredentials: true });
  onLeave(() => es.close());
  let wasBroken = false;
  const onMessage = (m) => {
    try { feed.add(JSON.parse(m.data), true); } catch (e) { /* a malformed message is skipped */ }
  };
  es.addEventListener('event', onMessage);
  es.addEventListener('message', onMessage);
  es.addEventListener('open', async () => {
    setStatus('open', t('live.open'), 'ok');
    if (wasBroken) {
      // Only events after the (re)connection come on the stream: fill the gap from history.
      wasBroken = false;
      try {
        const res = await api('GET', `/events?after=${encodeURIComponent(feed.maxId)}&limit=${MAX_ROWS}`);
        if (alive()) for (const ev of (res.events || []).slice().reverse()) feed.add(ev, true);
      } catch (e) { /* shown by the banner if it was not a 401 */ }
    }
  });
  es.addEventListener('error', () => {
    wasBroken = true;
    setStatus(es.readyState === EventSource.CLOSED ? 'closed' : 'error', t('live.error'), 'bad');
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (a 401, most likely): find out through an ordinary call.
      api('GET', '/me').catch(() => {});
    }
  });
}
