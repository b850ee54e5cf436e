// Where the page is and who is logged in, as the header shows it: the hash's parts, the
// header's state, what a page leaves behind, and going to the login page when the session
// ends. app.js owns the router and registers it here, so that pages (and api.js, through
// loggedOut) can use these without importing app.js.

import { state } from './state.js';
import { $ } from './dom.js';
import { word } from './i18n.js';

let cleanups = []; // run when leaving a page (timers, event streams)
let router = () => {};

/** What to run when the current page leaves: stop a timer, close a stream. */
export function onLeave(f) {
  cleanups.push(f);
}

export function leavePage() {
  for (const f of cleanups) { try { f(); } catch (e) { /* ignore */ } }
  cleanups = [];
}

/** app.js's route, for reroute. */
export function setRouter(f) {
  router = f;
}

/** Draws the current hash's page again (a refresh button, a timer, a changed filter). */
export function reroute() {
  return router();
}

export function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  return raw.split('/').filter(Boolean).map(decodeURIComponent);
}

export function updateChrome() {
  const me = state.me;
  $('#nav').hidden = !me;
  $('#logout').hidden = !me;
  $('#user-name').textContent = me ? `${me.username} · ${word('role', me.role)}` : '';
  // Read-only users are refused every change by the server; do not offer them one.
  document.body.classList.toggle('readonly', !!me && me.role === 'readonly');
  const [page] = parseHash();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.route === page);
}

/** Forgets the session and goes to the login page, which comes back here afterwards. */
export function loggedOut() {
  state.me = null;
  state.token = null;
  state.names = null;
  updateChrome();
  const here = location.hash;
  if (!here.startsWith('#/login')) {
    if (here && here !== '#/') state.afterLogin = here;
    location.hash = '#/login';
  }
}
