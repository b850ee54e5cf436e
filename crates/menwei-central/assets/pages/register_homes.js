// The register's households and residents tabs.

import { state } from '../state.js';
import { h, $, badge, table, fmtDay, showNotice } from '../dom.js';
import { t, word } from '../i18n.js';
import { api, loadNames, compoundName } from '../api.js';
import { field, submitForm, confirmButton } from '../forms.js';
import { importPanel } from './imports.js';

export async function households(content, alive, reload) {
  const res = await api('GET', '/households');
  try { await loadNames(false); } catch (e) { /* the compound list is then free text */ }
  if (!alive()) return;
  const rows = (res.households || []).map((x) => h('tr', { 'data-testid': 'household-row', 'data-ref': x.ref },
    h('td', {}, x.ref), h('td', {}, compoundName(x.compound)), h('td', {}, x.building), h('td', {}, x.unit), h('td', {}, x.room),
    h('td', {}, x.phone || ''), h('td', {}, (state.names && state.names.grids.get(String(x.grid_id))) || x.grid_id || ''), h('td', { class: 'num' }, x.residents ?? '')));
  const out = h('div', { 'data-testid': 'household-form-result' });
  content.replaceChildren(
    h('div', { class: 'panel add-panel' }, h('h3', {}, t('register.add_household')), householdForm(out, reload), out),
    importPanel('households', reload),
    h('div', { class: 'panel' }, table('households-table',
      [{ label: 'col.ref' }, { label: 'col.compound' }, { label: 'col.building' }, { label: 'col.unit' }, { label: 'col.room' },
        { label: 'col.phone' }, { label: 'col.grid' }, { label: 'col.residents', num: true }], rows)));
}

function householdForm(out, reload) {
  const compounds = (state.names && state.names.compoundList) || [];
  const ref = h('input', { id: 'household-ref', required: true, size: 8 });
  const compound = compounds.length
    ? h('select', { id: 'household-compound' }, ...compounds.map((c) => h('option', { value: c.code }, `${c.name} (${c.code})`)))
    : h('input', { id: 'household-compound', required: true, size: 10 });
  // The chosen compound's buildings are offered as suggestions; the server checks the unit.
  const buildings = h('datalist', { id: 'household-buildings' });
  const offerBuildings = () => {
    const cp = compounds.find((c) => c.code === compound.value);
    buildings.replaceChildren(...((cp && cp.buildings) || []).map((b) => h('option', { value: b.name })));
  };
  offerBuildings();
  compound.addEventListener('change', offerBuildings);
  const building = h('input', { id: 'household-building', required: true, size: 8, list: 'household-buildings', placeholder: '1号楼' });
  const unit = h('input', { id: 'household-unit', required: true, size: 6, placeholder: '1单元' });
  const room = h('input', { id: 'household-room', required: true, size: 6, placeholder: '101' });
  const phone = h('input', { id: 'household-phone', type: 'tel', size: 12 });
  const form = h('form', { class: 'inline', id: 'household-form', 'data-testid': 'household-form' },
    field('ref', t('field.household'), ref), field('compound', t('field.compound'), compound),
    field('building', t('field.building'), building), field('unit', t('field.unit'), unit),
    field('room', t('field.room'), room), field('phone', t('field.phone'), phone), buildings,
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'household-submit' }, t('register.add_household')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitForm(form, out, async () => {
      const body = { ref: ref.value.trim(), compound: compound.value.trim(), building: building.value.trim(),
        unit: unit.value.trim(), room: room.value.trim() };
      if (phone.value.trim()) body.phone = phone.value.trim();
      await api('POST', '/households', body);
      await reload();
      const slot = $('[data-testid="household-form-result"]');
      if (slot) slot.replaceChildren(h('div', { class: 'form-ok', 'data-testid': 'household-added' }, t('register.added')));
    });
  });
  return form;
}

export async function residents(content, alive, reload) {
  const res = await api('GET', '/residents');
  if (!alive()) return;
  const rows = (res.residents || []).map((x) => h('tr', { 'data-testid': 'resident-row', 'data-ref': x.ref, 'data-status': x.status },
    h('td', {}, x.ref), h('td', {}, x.household), h('td', {}, x.name || ''), h('td', {}, x.phone || ''),
    h('td', {}, badge(word('rstatus', x.status), x.status === 'active' ? 'ok' : 'off')),
    h('td', {}, x.face_enabled ? badge(t('register.face_on'), 'info') : t('register.face_off')),
    h('td', {}, fmtDay(x.consent_at)), h('td', {}, word('consent', x.consent_method)), h('td', {}, x.guardian || ''),
    h('td', { class: 'actions' }, x.status === 'erased' ? '' : confirmButton(t('register.erase'), 'resident-erase', async () => {
      await api('POST', `/residents/${encodeURIComponent(x.ref)}/erase`, {});
      await reload();
      showNotice(t('register.erase_started'));
    }))));
  const out = h('div', { 'data-testid': 'resident-form-result' });
  content.replaceChildren(
    h('div', { class: 'panel add-panel' }, h('h3', {}, t('register.add_resident')), residentForm(out, reload), out),
    importPanel('residents', reload),
    h('div', { class: 'panel' }, table('residents-table',
      [{ label: 'col.ref' }, { label: 'col.household' }, { label: 'col.name' }, { label: 'col.phone' }, { label: 'col.status' },
        { label: 'col.face' }, { label: 'col.consent_at' }, { label: 'col.consent_method' }, { label: 'col.guardian' },
        { label: 'common.actions' }], rows)));
}

function residentForm(out, reload) {
  const ref = h('input', { id: 'resident-ref', required: true, size: 8 });
  const household = h('input', { id: 'resident-household', required: true, size: 8 });
  const name = h('input', { id: 'resident-name', required: true, size: 8 });
  const phone = h('input', { id: 'resident-phone', type: 'tel', size: 12 });
  const status = h('select', { id: 'resident-status' },
    ...['active', 'suspended'].map((v) => h('option', { value: v }, word('rstatus', v))));
  const face = h('input', { id: 'resident-face', type: 'checkbox', 'data-testid': 'resident-face' });
  const consent = consentFields(face);
  const form = h('form', { class: 'inline', id: 'resident-form', 'data-testid': 'resident-form' },
    field('ref', t('field.resident_ref'), ref), field('household', t('field.household'), household),
    field('name', t('field.name'), name), field('phone', t('field.phone'), phone),
    field('status', t('field.status'), status), field('face_enabled', t('field.face_enabled'), face),
    ...consent.fields,
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'resident-submit' }, t('register.add_resident')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitForm(form, out, async () => {
      const body = { ref: ref.value.trim(), household: household.value.trim(), name: name.value.trim(),
        status: status.value, face_enabled: face.checked };
      if (phone.value.trim()) body.phone = phone.value.trim();
      if (face.checked) consent.fill(body);
      await api('POST', '/residents', body);
      await reload();
      const slot = $('[data-testid="resident-form-result"]');
      if (slot) slot.replaceChildren(h('div', { class: 'form-ok', 'data-testid': 'resident-added' }, t('register.added')));
    });
  });
  return form;
}

/** The consent's hint and inputs, shown only with face entry (the guardian's name only for a
 *  guardian's consent); `fill` adds what was entered to the request body. */
function consentFields(face) {
  // The inputs are not `required`: the server's rule decides, and its 400 names the field that
  // is missing.
  const consentAt = h('input', { id: 'resident-consent-at', type: 'date' });
  const method = h('select', { id: 'resident-consent-method' }, h('option', { value: '' }, '—'),
    ...['written', 'app', 'guardian'].map((v) => h('option', { value: v }, word('consent', v))));
  const guardian = h('input', { id: 'resident-guardian', size: 8 });
  const hint = h('div', { class: 'hint muted', 'data-testid': 'resident-consent-hint' }, t('register.consent_hint'));
  const consentAtField = field('consent_at', t('field.consent_at'), consentAt);
  const methodField = field('consent_method', t('field.consent_method'), method);
  const guardianField = field('guardian', t('field.guardian'), guardian);
  const showConsent = () => {
    hint.hidden = consentAtField.hidden = methodField.hidden = !face.checked;
    guardianField.hidden = !face.checked || method.value !== 'guardian';
  };
  showConsent();
  face.addEventListener('change', showConsent);
  method.addEventListener('change', showConsent);
  const fill = (body) => {
    if (consentAt.value) body.consent_at = consentAt.value;
    if (method.value) body.consent_method = method.value;
    if (method.value === 'guardian' && guardian.value.trim()) body.guardian = guardian.value.trim();
  };
  return { fields: [hint, consentAtField, methodField, guardianField], fill };
}
