// Forms: an input with its label and its error slot, the server's field errors put next to
// their inputs, a submit that shows its outcome, and a two-click button for what cannot be
// undone.

import { h, showError } from './dom.js';
import { t, word } from './i18n.js';
import { describe } from './api.js';

export function clearFieldErrors(form) {
  for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
  for (const el of form.querySelectorAll('[data-field-error]')) el.textContent = '';
}

/** Puts each field's message next to its input; returns the messages with no input. */
export function showFieldErrors(form, fields) {
  const rest = [];
  for (const [name, msg] of Object.entries(fields || {})) {
    const slot = form.querySelector(`[data-field-error="${CSS.escape(name)}"]`);
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (input) input.classList.add('invalid');
    if (slot) slot.textContent = msg;
    else rest.push(`${word('field', name)}: ${msg}`);
  }
  return rest;
}

export function field(name, label, input) {
  input.name = input.name || name;
  return h('label', { class: input.type === 'checkbox' ? 'check' : null }, label, input,
    h('span', { class: 'field-error', 'data-field-error': name }));
}

/** Runs `send` for a form: disables its button, shows field errors and the outcome. */
export async function submitForm(form, outcome, send) {
  const btn = form.querySelector('button[type=submit]');
  clearFieldErrors(form);
  outcome.className = '';
  outcome.textContent = '';
  if (btn) btn.disabled = true;
  try {
    await send();
  } catch (e) {
    const rest = showFieldErrors(form, e.fields);
    outcome.className = 'form-error';
    outcome.textContent = describe(e, true) + (rest.length ? `\n${t('err.fields')} ${rest.join('; ')}` : '');
  } finally {
    if (btn) btn.disabled = false;
  }
}

/** A two-click button: the first click asks, the second does it. */
export function confirmButton(label, testid, action) {
  const b = h('button', { type: 'button', class: 'danger', 'data-testid': testid }, label);
  let armed = false;
  b.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      b.textContent = t('common.confirm_again');
      setTimeout(() => { armed = false; b.textContent = label; }, 4000);
      return;
    }
    b.disabled = true;
    try { await action(); } catch (e) { showError(describe(e)); b.disabled = false; }
  });
  return b;
}
