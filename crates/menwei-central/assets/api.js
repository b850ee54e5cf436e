// Calls to the service's own API (`/api/...`), what their failures say to the user, and the
// names of compounds and grids that pages show instead of codes.

import { state } from './state.js';
import { busy } from './dom.js';
import { t, word } from './i18n.js';
import { loggedOut } from './nav.js';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || '');
    this.status = status;
    this.fields = (body && body.fields) || {};
    this.rows = (body && Array.isArray(body.rows)) ? body.rows : null;
  }
}

/** One line for the user: what kind of failure, then the server's own message; the field
 *  errors too, unless `noFields` (a form that shows them next to its inputs). */
export function describe(err, noFields) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  if (err.status === 0) return t('err.network');
  const head = ['400', '401', '403', '404', '429'].includes(String(err.status))
    ? t('err.' + err.status)
    : err.status >= 500 ? t('err.500') : t('err.other', { status: err.status });
  let msg = err.message ? `${head}: ${err.message}` : head;
  const fields = noFields ? [] : Object.entries(err.fields || {});
  if (fields.length) msg += '\n' + t('err.fields') + ' ' + fields.map(([k, v]) => `${word('field', k) || k}: ${v}`).join('; ');
  return msg;
}

/** `method` on `/api` + `path` with a JSON body (or CSV text with `opts.csv`); the answer's
 *  JSON. A failure throws an ApiError; a 401 also goes to the login page unless
 *  `opts.noRedirect`. */
export async function api(method, path, body, opts) {
  opts = opts || {};
  busy(+1);
  try {
    const headers = { Accept: 'application/json' };
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    let payload;
    if (body !== undefined) {
      if (opts.csv) {
        headers['Content-Type'] = 'text/csv; charset=utf-8';
        payload = body;
      } else {
        headers['Content-Type'] = 'application/json';
        payload = JSON.stringify(body);
      }
    }
    let res;
    try {
      res = await fetch('/api' + path, { method, headers, body: payload, credentials: 'same-origin' });
    } catch (e) {
      throw new ApiError(0, { error: t('err.network') });
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const err = new ApiError(res.status, data && typeof data === 'object' ? data : { error: res.statusText || '' });
      if (res.status === 401 && !opts.noRedirect) loggedOut();
      throw err;
    }
    return data;
  } finally {
    busy(-1);
  }
}

/** Names of compounds and grids, for showing events and orders; loaded from /api/overview
 *  (again with `force`) and kept in `state.names`. */
export async function loadNames(force) {
  if (state.names && !force) return state.names;
  const ov = await api('GET', '/overview');
  const n = { compounds: new Map(), grids: new Map(), gridList: [], compoundList: [], overview: ov };
  for (const d of ov.districts || []) {
    for (const c of d.communities || []) {
      for (const g of c.grids || []) {
        n.grids.set(String(g.id), g.name);
        n.gridList.push(g);
      }
      for (const cp of c.compounds || []) {
        n.compounds.set(String(cp.code), cp.name);
        n.compounds.set(String(cp.id), cp.name);
        n.compoundList.push(cp);
      }
    }
  }
  state.names = n;
  return n;
}

export function compoundName(code) {
  return (state.names && state.names.compounds.get(String(code))) || code || '';
}
