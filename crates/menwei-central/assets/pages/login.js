// The login page: user name and password; afterwards, the page that sent the user here.

import { state } from '../state.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { api, ApiError, describe } from '../api.js';
import { clearFieldErrors, showFieldErrors } from '../forms.js';

export async function pageLogin(main) {
  if (state.me) {
    location.replace(state.afterLogin || '#/overview');
    return;
  }
  const err = h('div', { id: 'login-error', class: 'form-error', 'data-testid': 'login-error', role: 'alert' });
  const user = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { id: 'login-submit', type: 'submit', class: 'primary' }, t('login.submit'));
  const form = h('form', { id: 'login-form', class: 'stack', novalidate: true },
    h('label', {}, t('login.username'), user, h('span', { class: 'field-error', 'data-field-error': 'username' })),
    h('label', {}, t('login.password'), pass, h('span', { class: 'field-error', 'data-field-error': 'password' })),
    submit, err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    clearFieldErrors(form);
    submit.disabled = true;
    submit.textContent = t('login.busy');
    try {
      const res = await api('POST', '/login', { username: user.value, password: pass.value }, { noRedirect: true });
      state.token = res.token || null;
      state.me = res.user;
      state.names = null;
      const after = state.afterLogin;
      const next = after && !after.startsWith('#/login') ? after : '#/overview';
      state.afterLogin = '#/overview';
      location.hash = next;
    } catch (e) {
      submit.disabled = false;
      submit.textContent = t('login.submit');
      if (e instanceof ApiError && e.status === 401) err.textContent = t('login.bad');
      else {
        const rest = showFieldErrors(form, e.fields);
        err.textContent = describe(e, true) + (rest.length ? `\n${t('err.fields')} ${rest.join('; ')}` : '');
      }
    }
  });
  main.replaceChildren(h('div', { id: 'login-box', class: 'panel' }, h('h1', {}, t('login.title')), form));
  user.focus();
}
