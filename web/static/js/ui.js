// ui.js: small pieces the inbox modules share.
import { h, t } from './app.js';

export function visitorName(v) {
  if (!v) return '';
  const n = [v.first_name, v.last_name].filter(Boolean).join(' ').trim();
  return n || (v.username ? '@' + v.username : '') || v.phone || t('visitor.anonymous');
}

/** avatar shows the visitor's picture, or their initial. */
export function avatar(v, seed, big) {
  const el = h('div.avatar' + (big ? '.big' : ''), { 'aria-hidden': 'true' });
  const name = visitorName(v);
  el.textContent = (name.replace(/^@/, '')[0] || '?').toUpperCase();
  if (v && v.avatar_file_id) {
    const img = h('img', { src: '/api/v1/files/' + v.avatar_file_id, alt: '', loading: 'lazy' });
    img.addEventListener('load', () => { el.textContent = ''; el.append(img); });
  }
  return el;
}

export function chanBadge(kind, name) {
  const short = { telegram: 'TG', viber: 'VB', vk: 'VK', facebook: 'FB', chatapi: 'WA', widget: 'WEB', example: 'EX' };
  return h('span.chan.' + (kind || 'other'), { title: name || kind }, short[kind] || (kind || '?').slice(0, 3));
}

/** randomKey makes an Idempotency-Key (getRandomValues works outside secure contexts too). */
export function randomKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** modal asks for input in the page's <dialog>. fields(form) adds the inputs; resolves with
 *  the FormData on submit, or null on cancel. */
export function modal(title, fields, submitLabel) {
  const dlg = document.getElementById('modal');
  const form = document.getElementById('modal-form');
  form.replaceChildren(h('h3', title));
  fields(form);
  const ok = h('button.primary', { type: 'submit', value: 'ok' }, submitLabel || t('common.save'));
  const cancel = h('button.secondary', { type: 'submit', value: 'cancel', formnovalidate: true }, t('common.cancel'));
  form.append(h('div.side-actions', ok, cancel));
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok' ? new FormData(form) : null);
    }, { once: true });
    dlg.returnValue = '';
    dlg.showModal();
  });
}
