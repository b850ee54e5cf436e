// The register's CSV panel: import a file (all rows or none; the rows at fault are listed)
// and the export link.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { api, describe } from '../api.js';

export function importPanel(kind, reload) {
  const file = h('input', { type: 'file', accept: '.csv,text/csv', id: `import-${kind}-file`, 'data-testid': 'import-file', name: 'file' });
  const out = h('div', { id: `import-${kind}-result`, 'data-testid': 'import-result' });
  const form = h('form', { class: 'inline', id: `import-${kind}`, 'data-testid': 'import-form' },
    h('label', {}, t('register.import'), file),
    h('button', { type: 'submit', 'data-testid': 'import-submit' }, t('register.import_submit')),
    h('a', { href: `/api/export/${kind}`, download: `${kind}.csv`, 'data-testid': 'export-link', id: `export-${kind}` }, t('register.export')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    const f = file.files && file.files[0];
    if (!f) {
      out.replaceChildren(h('div', { class: 'form-error' }, t('register.import_choose')));
      return;
    }
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const text = await f.text();
      const res = await api('POST', `/import/${kind}`, text, { csv: true });
      await reload();
      // The tab was redrawn: the outcome goes into the new panel.
      const slot = document.getElementById(`import-${kind}-result`) || out;
      slot.replaceChildren(h('div', { class: 'form-ok', 'data-testid': 'import-ok' }, t('register.imported', { n: res.applied })));
    } catch (e) {
      out.replaceChildren(...importFailure(e));
    } finally {
      btn.disabled = false;
    }
  });
  return h('div', { class: 'panel' }, form, out);
}

/** What a failed import says: the reason, and a table of the rows at fault when there are any. */
function importFailure(e) {
  const parts = [h('div', { class: 'form-error', 'data-testid': 'import-error' }, e.rows ? `${t('register.import_failed')} ${e.message || ''}` : describe(e))];
  if (e.rows && e.rows.length) {
    parts.push(h('table', { class: 'errors-table', 'data-testid': 'import-errors' },
      h('thead', {}, h('tr', {}, h('th', {}, t('col.row')), h('th', {}, t('col.field')), h('th', {}, t('col.message')))),
      h('tbody', {}, ...e.rows.map((r) => h('tr', { 'data-testid': 'import-error-row', 'data-row': r.row, 'data-field': r.field },
        h('td', { class: 'num' }, r.row), h('td', {}, r.field || ''), h('td', {}, r.message || ''))))));
  }
  return parts;
}
