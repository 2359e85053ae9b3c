// app.js: what every signed-in page shares: translations, the API helper, small DOM
// helpers, toasts, and the header controls (own status, language, preferences).
// Pages import what they need: import { api, t, h } from './app.js';

const body = document.body;
let messages = {};
try {
  messages = JSON.parse(document.getElementById('i18n')?.textContent || '{}') || {};
} catch { messages = {}; }

/** t translates key; {0}, {1}… are replaced by args. */
export function t(key, ...args) {
  let s = messages[key] ?? key;
  args.forEach((a, i) => { s = s.split('{' + i + '}').join(String(a)); });
  return s;
}

export const lang = body.dataset.lang || 'en';
export const csrf = () => body.dataset.csrf || '';
export const me = () => Number(body.dataset.userId || 0);
export const isAdmin = () => body.dataset.role === 'admin';

/** ApiError carries the API's {error:{code,message,fields}}. */
export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message || code || ('HTTP ' + status));
    this.status = status; this.code = code; this.fields = fields || [];
  }
}

/**
 * api calls the REST API with the session cookie and the CSRF header.
 * body: a plain object (sent as JSON), FormData, or undefined.
 */
export async function api(method, url, body, opts = {}) {
  const headers = { 'Accept': 'application/json', ...(opts.headers || {}) };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf();
  let payload = body;
  if (body !== undefined && !(body instanceof FormData) && !(body instanceof Blob)) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body: payload, credentials: 'same-origin', signal: opts.signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', t('error.network'));
  }
  if (res.status === 401) {
    location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
    throw new ApiError(401, 'unauthorized', t('error.signed_out'));
  }
  if (res.status === 204) return null;
  const ct = res.headers.get('Content-Type') || '';
  const data = ct.includes('json') ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const e = data && data.error || {};
    throw new ApiError(res.status, e.code, e.message || res.statusText, e.fields);
  }
  return data;
}

/**
 * upload sends FormData with XMLHttpRequest, which (unlike fetch) reports upload progress.
 * onProgress receives a fraction 0..1.
 */
export function upload(url, form, { headers = {}, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', url);
    x.setRequestHeader('X-CSRF-Token', csrf());
    x.setRequestHeader('Accept', 'application/json');
    for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
    if (onProgress) x.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    x.onload = () => {
      let data = null;
      try { data = JSON.parse(x.responseText); } catch { /* not JSON */ }
      if (x.status >= 200 && x.status < 300) return resolve(data);
      const e = data && data.error || {};
      reject(new ApiError(x.status, e.code, e.message || x.statusText, e.fields));
    };
    x.onerror = () => reject(new ApiError(0, 'network', t('error.network')));
    x.send(form);
  });
}

/** h builds an element: h('a.cls', {href}, child, 'text', …). Text is never parsed as HTML. */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs); attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** toast shows a short message at the bottom of the screen. */
export function toast(msg, kind = 'info') {
  let box = $('#toasts');
  if (!box) { box = h('div', { id: 'toasts', 'aria-live': 'polite' }); body.append(box); }
  const el = h('div.toast.' + kind, { role: kind === 'error' ? 'alert' : 'status' }, msg);
  if (kind === 'error') console.warn('omnichat:', msg); // visible to support and to the browser tests
  box.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

/** fmtTime shows today's times as HH:MM and older ones with the date. */
export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay
    ? d.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString(lang, { day: 'numeric', month: 'short' }) + ' ' + d.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
}

export function fmtSize(n) {
  if (!n) return '';
  const u = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

/** prefs are per-browser settings (notifications, sound). */
export const prefs = {
  get(k) { try { return localStorage.getItem('omnichat.' + k) === '1'; } catch { return false; } },
  set(k, v) { try { localStorage.setItem('omnichat.' + k, v ? '1' : '0'); } catch { /* private mode */ } },
};

// Header controls.
function wireHeader() {
  const status = $('#my-status');
  if (status) {
    status.addEventListener('change', async () => {
      try {
        await api('PUT', '/api/v1/operators/' + me(), { status: status.value });
        $('[data-status-dot]')?.setAttribute('data-status-dot', status.value);
      } catch (e) { toast(e.message, 'error'); }
    });
  }
  const loc = $('#my-locale');
  if (loc) {
    loc.addEventListener('change', async () => {
      try {
        await api('PUT', '/api/v1/operators/' + me(), { locale: loc.value });
        location.reload();
      } catch (e) { toast(e.message, 'error'); }
    });
  }
  for (const [id, key] of [['pref-notify', 'notify'], ['pref-sound', 'sound']]) {
    const box = document.getElementById(id);
    if (!box) continue;
    box.checked = prefs.get(key);
    box.addEventListener('change', async () => {
      if (key === 'notify' && box.checked && 'Notification' in window && Notification.permission !== 'granted') {
        const p = await Notification.requestPermission().catch(() => 'denied');
        if (p !== 'granted') { box.checked = false; toast(t('me.notifications_denied'), 'error'); }
      }
      prefs.set(key, box.checked);
    });
  }
}
wireHeader();
