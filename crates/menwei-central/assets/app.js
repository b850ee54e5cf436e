// menwei-central dashboard: plain JavaScript as native ES modules, no framework, no build step,
// nothing fetched from outside this service (the server compiles these files in and serves
// them under /assets/). Pages are chosen by the URL's hash (#/overview, #/live, ...), one
// module each under pages/. All user-visible strings are in i18n/zh.js and i18n/en.js;
// Chinese is the default, English is switchable and the choice persists in localStorage.
// Data from the API is only ever put into the page as text (textContent / SVG attributes),
// never as HTML.
//
// This is the entry module: the router and the header's buttons. The modules it builds on:
// state.js (what is shared), i18n.js (t, word, the language), dom.js (elements, time formats,
// the banner), api.js (calls and names), nav.js (the hash, the header, leaving a page),
// forms.js (form helpers).

import { state } from './state.js';
import { $, h, loadingBox, clearError, showError } from './dom.js';
import { t, currentLang, toggleLang } from './i18n.js';
import { api, ApiError, describe } from './api.js';
import { leavePage, loggedOut, parseHash, setRouter, updateChrome } from './nav.js';
import { pageLogin } from './pages/login.js';
import { pageOverview } from './pages/overview.js';
import { pageLive } from './pages/live.js';
import { pageOrders } from './pages/orders.js';
import { pageRegister } from './pages/register.js';
import { pageEdges } from './pages/edges.js';
import { pageStats } from './pages/stats.js';

const PAGES = {
  login: pageLogin,
  overview: pageOverview,
  live: pageLive,
  orders: pageOrders,
  register: pageRegister,
  edges: pageEdges,
  stats: pageStats,
};

let pageGen = 0; // bumped on every navigation; async work of an old page checks it

function applyStaticStrings() {
  const lang = currentLang();
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.title = (lang === 'zh' ? '门卫 · ' : 'menwei · ') + t('app.title');
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  $('#lang-toggle').textContent = t('lang.switch');
}

/** Draws the page the hash names, after making sure there is a session (except for login). */
async function route() {
  leavePage();
  const gen = ++pageGen;
  clearError();
  const parts = parseHash();
  if (!PAGES[parts[0]]) {
    // No page (or an unknown one): the overview, which goes to login when there is no session.
    location.replace('#/overview');
    return;
  }
  const page = parts[0];
  if (page !== 'login' && !state.me) {
    try {
      state.me = await api('GET', '/me', undefined, { noRedirect: true });
    } catch (e) {
      if (gen !== pageGen) return;
      if (e instanceof ApiError && e.status === 401) {
        loggedOut();
        return;
      }
      showError(describe(e));
      return;
    }
    if (gen !== pageGen) return;
  }
  updateChrome();
  const main = $('#main');
  main.replaceChildren(loadingBox());
  main.dataset.page = page;
  try {
    await PAGES[page](main, parts.slice(1), () => gen === pageGen);
  } catch (e) {
    if (gen !== pageGen) return;
    if (e instanceof ApiError && e.status === 401) return;
    main.replaceChildren(h('div', { class: 'panel form-error', 'data-testid': 'page-error' }, describe(e)));
  }
}

function start() {
  setRouter(route);
  applyStaticStrings();
  $('#lang-toggle').addEventListener('click', () => {
    toggleLang();
    applyStaticStrings();
    updateChrome();
    route();
  });
  $('#logout').addEventListener('click', async () => {
    try { await api('POST', '/logout', {}, { noRedirect: true }); } catch (e) { /* logged out here anyway */ }
    state.afterLogin = '#/overview';
    loggedOut();
  });
  $('#error-close').addEventListener('click', clearError);
  window.addEventListener('hashchange', route);
  route();
}

start();
