// The register: one tab each for households, residents, vehicles and visitor passes. Each tab
// (register_homes.js, register_vehicles.js) draws a form to add one, a CSV import and export
// where the API has them (imports.js), and the list; `reload` draws the tab again.

import { h, loadingBox, showError } from '../dom.js';
import { t } from '../i18n.js';
import { describe } from '../api.js';
import { households, residents } from './register_homes.js';
import { vehicles, passes } from './register_vehicles.js';

const TABS = ['households', 'residents', 'vehicles', 'passes'];
const REGISTER_TABS = { households, residents, vehicles, passes };

export async function pageRegister(main, args, alive) {
  const tab = TABS.includes(args[0]) ? args[0] : 'households';
  const tabs = h('nav', { class: 'tabs', id: 'register-tabs' }, ...TABS.map((k) =>
    h('a', { href: `#/register/${k}`, class: k === tab ? 'active' : null, 'data-testid': `tab-${k}`, id: `tab-${k}` }, t('tab.' + k))));
  const content = h('div', { id: `register-${tab}`, 'data-testid': 'register-content' }, loadingBox());
  main.replaceChildren(h('div', { id: 'register' }, h('h1', {}, t('register.title')), tabs, content));
  const reload = async () => {
    if (!alive()) return;
    try { await REGISTER_TABS[tab](content, alive, reload); } catch (e) { showError(describe(e)); }
  };
  await REGISTER_TABS[tab](content, alive, reload);
}
