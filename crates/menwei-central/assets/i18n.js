// The dashboard's languages: Chinese by default, English on request; the choice persists in
// localStorage. The strings themselves are in i18n/zh.js and i18n/en.js, with the same keys.

import zh from './i18n/zh.js';
import en from './i18n/en.js';

const STRINGS = { zh, en };

let lang = localStorage.getItem('menwei.lang') === 'en' ? 'en' : 'zh';

/** The current language: 'zh' or 'en'. */
export function currentLang() {
  return lang;
}

/** Switches to the other language and remembers the choice; the new language. */
export function toggleLang() {
  lang = lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('menwei.lang', lang);
  return lang;
}

/** The string for `key` in the current language, with `{name}` filled from `vars`. */
export function t(key, vars) {
  let s = STRINGS[lang][key];
  if (s === undefined) s = STRINGS.zh[key];
  if (s === undefined) s = key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined || vars[k] === null ? m : String(vars[k])));
  return s;
}

/** A translated code word (`kind`, `reason`, ...), or the word itself when it has none. */
export function word(prefix, value) {
  if (value === null || value === undefined || value === '') return '';
  const key = prefix + '.' + value;
  return STRINGS[lang][key] !== undefined || STRINGS.zh[key] !== undefined ? t(key) : String(value);
}
