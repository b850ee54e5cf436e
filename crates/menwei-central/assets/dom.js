// Building the page: elements and SVG from plain values (data only ever goes in as text or as
// attributes, never as HTML), small shared widgets, time formats, the busy indicator and the
// message banner.

import { t } from './i18n.js';

const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'multiple']);

export function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
}

/** An HTML element; `attrs` keys starting with "on" are listeners, `text` is textContent. */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    else if (k === 'style') el.style.cssText = v;
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, kids);
  return el;
}

const SVGNS = 'http://www.w3.org/2000/svg';

/** An SVG element, as `h` makes HTML ones. */
export function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'style') el.style.cssText = v;
    else el.setAttribute(k, String(v));
  }
  append(el, kids);
  return el;
}

export const $ = (sel, root) => (root || document).querySelector(sel);

export function loadingBox() {
  return h('div', { class: 'loading', 'data-testid': 'page-loading' }, h('span', { class: 'spinner' }), t('common.loading'));
}

export function badge(text, cls, attrs) {
  return h('span', Object.assign({ class: 'badge ' + (cls || '') }, attrs || {}), text);
}

/** A table with headers from `cols` (`label` a string key, `num` for numbers); "no data"
 *  under it when there are no rows. */
export function table(id, cols, rows) {
  const t0 = h('table', { id, 'data-testid': id },
    h('thead', {}, h('tr', {}, ...cols.map((c) => h('th', { class: c.num ? 'num' : null }, t(c.label))))),
    h('tbody', {}, ...rows));
  return rows.length ? t0 : h('div', {}, t0, h('div', { class: 'empty' }, t('common.empty')));
}

// ---- time ------------------------------------------------------------------------------------

export function pad(n) { return String(n).padStart(2, '0'); }

/** Local date and time, `YYYY-MM-DD HH:mm:ss`, from milliseconds or an RFC 3339 string. */
export function fmtTime(x) {
  if (x === null || x === undefined || x === '') return '';
  const d = new Date(x);
  if (isNaN(d.getTime())) return String(x);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A day as given (`YYYY-MM-DD`, a date without a time zone, shown as is); a full
 *  timestamp in local time. A bare date read by `Date` is midnight UTC, which west of UTC
 *  would show as the day before. */
export function fmtDay(x) {
  return typeof x === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(x) ? x : fmtTime(x);
}

export function fmtAgo(ms) {
  if (ms === null || ms === undefined) return t('time.never');
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 90) return t('time.ago_s', { n: s });
  if (s < 90 * 60) return t('time.ago_m', { n: Math.round(s / 60) });
  if (s < 36 * 3600) return t('time.ago_h', { n: Math.round(s / 3600) });
  return t('time.ago_d', { n: Math.round(s / 86400) });
}

/** `datetime-local` input value for milliseconds, and back. */
export function toLocalInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
export function fromLocalInput(v) {
  if (!v) return null;
  const ms = new Date(v).getTime();
  return isNaN(ms) ? null : ms;
}

// ---- busy indicator and errors ---------------------------------------------------------------

let inFlight = 0;
export function busy(delta) {
  inFlight = Math.max(0, inFlight + delta);
  $('#busy').hidden = inFlight === 0;
  document.body.dataset.busy = String(inFlight);
}

export function showError(msg) {
  $('#error-banner').classList.remove('info');
  $('#error-text').textContent = msg;
  $('#error-banner').hidden = false;
}
export function showNotice(msg) {
  showError(msg);
  $('#error-banner').classList.add('info');
}
export function clearError() {
  $('#error-banner').classList.remove('info');
  $('#error-banner').hidden = true;
  $('#error-text').textContent = '';
}
