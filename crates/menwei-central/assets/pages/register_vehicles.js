// The register's vehicles and visitor passes tabs.

import { state } from '../state.js';
import { h, $, badge, table, fmtTime, toLocalInput, fromLocalInput } from '../dom.js';
import { t, word } from '../i18n.js';
import { api, loadNames, compoundName } from '../api.js';
import { field, submitForm, confirmButton } from '../forms.js';
import { importPanel } from './imports.js';

export async function vehicles(content, alive, reload) {
  const res = await api('GET', '/vehicles');
  if (!alive()) return;
  const rows = (res.vehicles || []).map((x) => h('tr', { 'data-testid': 'vehicle-row', 'data-plate': x.plate },
    h('td', {}, x.plate), h('td', {}, x.household), h('td', {}, word('color', x.color)),
    h('td', {}, x.blocked ? badge(t('common.yes'), 'bad') : t('common.no')),
    h('td', { class: 'actions' }, confirmButton(t('common.delete'), 'vehicle-delete', async () => {
      await api('DELETE', `/vehicles/${encodeURIComponent(x.plate)}`);
      reload();
    }))));
  const out = h('div', { 'data-testid': 'vehicle-form-result' });
  content.replaceChildren(
    h('div', { class: 'panel add-panel' }, h('h3', {}, t('register.add_vehicle')), vehicleForm(out, reload), out),
    importPanel('vehicles', reload),
    h('div', { class: 'panel' }, table('vehicles-table',
      [{ label: 'col.plate' }, { label: 'col.household' }, { label: 'col.color' }, { label: 'col.blocked' }, { label: 'common.actions' }], rows)));
}

function vehicleForm(out, reload) {
  const plate = h('input', { id: 'vehicle-plate', required: true, size: 10, placeholder: '冀G12345' });
  const household = h('input', { id: 'vehicle-household', required: true, size: 8 });
  const color = h('select', { id: 'vehicle-color' }, h('option', { value: '' }, '—'),
    ...['blue', 'yellow', 'green', 'white', 'black'].map((c) => h('option', { value: c }, word('color', c))));
  const blocked = h('input', { id: 'vehicle-blocked', type: 'checkbox' });
  const form = h('form', { class: 'inline', id: 'vehicle-form', 'data-testid': 'vehicle-form' },
    field('plate', t('field.plate'), plate), field('household', t('field.household'), household),
    field('color', t('field.color'), color), field('blocked', t('field.blocked'), blocked),
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'vehicle-submit' }, t('register.add_vehicle')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitForm(form, out, async () => {
      const body = { plate: plate.value.trim(), household: household.value.trim(), blocked: blocked.checked };
      if (color.value) body.color = color.value;
      await api('POST', '/vehicles', body);
      await reload();
      const slot = $('[data-testid="vehicle-form-result"]');
      if (slot) slot.replaceChildren(h('div', { class: 'form-ok', 'data-testid': 'vehicle-added' }, t('register.added')));
    });
  });
  return form;
}

export async function passes(content, alive, reload) {
  const res = await api('GET', '/passes');
  try { await loadNames(false); } catch (e) { /* the compound list is then free text */ }
  if (!alive()) return;
  const stCls = { active: 'ok', pending: 'info', expired: 'off', revoked: 'off' };
  const rows = (res.passes || []).map((x) => h('tr', { 'data-testid': 'pass-row', 'data-pass-id': x.id, 'data-state': x.state },
    h('td', {}, x.id), h('td', {}, compoundName(x.compound)), h('td', {}, x.household), h('td', {}, word('pass', x.kind)),
    h('td', {}, x.plate || ''), h('td', {}, x.visitor || ''), h('td', {}, fmtTime(x.valid_from_ms)), h('td', {}, fmtTime(x.valid_until_ms)),
    h('td', {}, badge(word('pstate', x.state), stCls[x.state] || '')),
    h('td', { class: 'actions' }, x.state === 'revoked' || x.state === 'expired' ? '' : confirmButton(t('register.revoke'), 'pass-revoke', async () => {
      await api('DELETE', `/passes/${encodeURIComponent(x.id)}`);
      reload();
    }))));
  const out = h('div', { 'data-testid': 'pass-form-result' });
  content.replaceChildren(
    h('div', { class: 'panel add-panel' }, h('h3', {}, t('register.issue_pass')), passForm(out, reload), out),
    h('div', { class: 'panel' }, table('passes-table',
      [{ label: 'col.id' }, { label: 'col.compound' }, { label: 'col.household' }, { label: 'col.pass_kind' }, { label: 'col.plate' },
        { label: 'col.visitor' }, { label: 'col.valid_from' }, { label: 'col.valid_until' }, { label: 'col.state' }, { label: 'common.actions' }], rows)));
}

function passForm(out, reload) {
  const compounds = (state.names && state.names.compoundList) || [];
  const compound = compounds.length
    ? h('select', { id: 'pass-compound' }, ...compounds.map((c) => h('option', { value: c.code }, `${c.name} (${c.code})`)))
    : h('input', { id: 'pass-compound', required: true, size: 10 });
  const household = h('input', { id: 'pass-household', required: true, size: 8 });
  const kind = h('select', { id: 'pass-kind' }, h('option', { value: 'plate' }, word('pass', 'plate')), h('option', { value: 'qr' }, word('pass', 'qr')));
  const plate = h('input', { id: 'pass-plate', size: 10, placeholder: '冀G12345' });
  const plateField = field('plate', t('field.plate'), plate);
  const visitor = h('input', { id: 'pass-visitor', required: true, size: 10 });
  const now = Date.now();
  const from = h('input', { id: 'pass-from', type: 'datetime-local', value: toLocalInput(now) });
  const until = h('input', { id: 'pass-until', type: 'datetime-local', value: toLocalInput(now + 4 * 3600 * 1000) });
  kind.addEventListener('change', () => { plateField.hidden = kind.value !== 'plate'; });
  const form = h('form', { class: 'inline', id: 'pass-form', 'data-testid': 'pass-form' },
    field('compound', t('field.compound'), compound), field('household', t('field.household'), household),
    field('kind', t('field.kind'), kind), plateField, field('visitor', t('field.visitor'), visitor),
    field('valid_from_ms', t('field.valid_from_ms'), from), field('valid_until_ms', t('field.valid_until_ms'), until),
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'pass-submit' }, t('register.issue_pass')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitForm(form, out, async () => {
      const body = { compound: compound.value.trim(), household: household.value.trim(), kind: kind.value, visitor: visitor.value.trim(),
        valid_until_ms: fromLocalInput(until.value) };
      const f = fromLocalInput(from.value);
      if (f !== null) body.valid_from_ms = f;
      if (kind.value === 'plate') body.plate = plate.value.trim();
      const p = await api('POST', '/passes', body);
      await reload();
      // The QR token is shown once, here, in the redrawn tab.
      const slot = $('[data-testid="pass-form-result"]');
      if (slot) {
        slot.replaceChildren(h('div', { class: 'form-ok' }, t('register.added'),
          p && p.token ? [' ', t('register.token'), ' ', h('span', { class: 'token', 'data-testid': 'pass-token' }, p.token)] : null));
      }
    });
  });
  return form;
}
