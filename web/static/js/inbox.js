// inbox.js: the operator inbox. The dialog list (tabs, filters, keyset endless scroll,
// live rows and counts), routing between list and conversation, the live connection,
// the title's unread count and optional notifications. The conversation is conv.js and
// the sidebar side.js.
import { api, t, h, $, $$, toast, fmtTime, me, prefs } from './app.js';
import { connectSSE } from './live.js';
import { connectComet } from './comet.js';
import { Conversation } from './conv.js';
import { Sidebar } from './side.js';
import { avatar, chanBadge, visitorName } from './ui.js';

const root = $('#inbox');
const list = $('#dialogs');
const baseTitle = document.title;
const TABS = ['mine', 'queue', 'open', 'closed'];

const state = {
  tab: localStorage.getItem('omnichat.tab') || 'mine',
  channel: '',
  q: '',
  rows: new Map(), // id → dialog, for the rows shown
  next: '', // keyset cursor of the next page ('' = end)
  loading: false,
  gen: 0, // bumps on every list reset so late responses are dropped
  counts: { mine: 0, queue: 0, open: 0, unread: 0 },
  operators: new Map(),
  departments: [],
};
if (!TABS.includes(state.tab)) state.tab = 'mine';

export const isMine = (d) => d.assignee_id === me() || (d.participants || []).includes(me());

function belongs(d) {
  if (state.channel && String(d.channel_id) !== state.channel) return false;
  switch (state.tab) {
    case 'mine': return d.status === 'open' && isMine(d);
    case 'queue': return d.status === 'open' && d.assignee_id == null;
    case 'open': return d.status === 'open';
    default: return d.status === 'closed';
  }
}

function tabQuery() {
  const p = new URLSearchParams();
  p.set('status', state.tab === 'closed' ? 'closed' : 'open');
  if (state.tab === 'mine') p.set('assigned', 'me');
  if (state.tab === 'queue') p.set('assigned', 'none');
  if (state.channel) p.set('channel', state.channel);
  if (state.q) p.set('q', state.q);
  p.set('limit', '30');
  return p;
}

// Rows are ordered like the API: newest activity first, then higher id.
function after(a, b) {
  const ta = Date.parse(a.last_message_at), tb = Date.parse(b.last_message_at);
  return ta !== tb ? ta < tb : a.id < b.id;
}

function rowFor(d) {
  const unread = d.unread > 0;
  const li = h('li.dialog-row' + (unread ? '.unread' : ''), {
    dataset: { id: d.id }, role: 'link', tabindex: '0',
    'aria-current': String(d.id === conv.id),
  },
  avatar(d.visitor, d.visitor_id),
  h('div.name', chanBadge(d.channel_kind, d.channel_name), h('span', visitorName(d.visitor))),
  h('div.time', fmtTime(d.last_message_at)),
  h('div.preview', d.last_message || ''),
  h('div', unread ? h('span.count.hot', String(d.unread)) : null));
  return li;
}

function placeRow(d) {
  const old = list.querySelector(`li[data-id="${d.id}"]`);
  if (!belongs(d)) {
    old && old.remove();
    state.rows.delete(d.id);
    emptyNote();
    return;
  }
  // Beyond the loaded window with more pages to come: it will arrive with its page.
  const rows = [...state.rows.values()].filter((r) => r.id !== d.id);
  const last = rows.reduce((acc, r) => (acc && after(acc, r) ? acc : r), null);
  if (state.next && last && after(d, last)) { old && old.remove(); state.rows.delete(d.id); return; }
  state.rows.set(d.id, d);
  const li = rowFor(d);
  let before = null;
  for (const el of list.querySelectorAll('li.dialog-row')) {
    if (el === old) continue;
    const r = state.rows.get(Number(el.dataset.id));
    if (r && after(r, d)) { before = el; break; }
  }
  old && old.remove();
  list.insertBefore(li, before || list.querySelector('li.list-end'));
  emptyNote();
}

function emptyNote() {
  let end = list.querySelector('li.list-end');
  if (!end) { end = h('li.list-end'); list.append(end); }
  end.textContent = state.loading ? t('common.loading') : (state.next ? '' : (state.rows.size ? '' : t('inbox.empty')));
}

async function loadList(reset) {
  if (reset) {
    state.gen++;
    state.rows.clear();
    state.next = '';
    list.replaceChildren();
  } else if (!state.next || state.loading) {
    return;
  }
  const gen = state.gen;
  state.loading = true;
  emptyNote();
  const p = tabQuery();
  if (!reset && state.next) p.set('cursor', state.next);
  try {
    const res = await api('GET', '/api/v1/dialogs?' + p);
    if (gen !== state.gen) return;
    state.next = res.next || '';
    for (const d of res.dialogs) {
      state.rows.set(d.id, d);
      list.insertBefore(rowFor(d), list.querySelector('li.list-end'));
    }
  } catch (e) {
    if (gen === state.gen) toast(e.message, 'error');
  } finally {
    if (gen === state.gen) { state.loading = false; emptyNote(); }
  }
  // A short first page on a tall screen: keep filling.
  if (gen === state.gen && state.next && list.scrollHeight <= list.clientHeight + 40) loadList(false);
}

list.addEventListener('scroll', () => {
  if (list.scrollTop + list.clientHeight > list.scrollHeight - 200) loadList(false);
});
list.addEventListener('click', (e) => {
  const li = e.target.closest('li.dialog-row');
  if (li) go(Number(li.dataset.id));
});
list.addEventListener('keydown', (e) => {
  const li = e.target.closest('li.dialog-row');
  if (li && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); go(Number(li.dataset.id)); }
});

function selectTab(tab) {
  state.tab = tab;
  localStorage.setItem('omnichat.tab', tab);
  for (const b of $$('.tabs [data-tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  loadList(true);
}
for (const b of $$('.tabs [data-tab]')) b.addEventListener('click', () => selectTab(b.dataset.tab));

let searchTimer;
$('#search').addEventListener('input', (e) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { state.q = e.target.value.trim(); loadList(true); }, 300);
});
$('#channel-filter').addEventListener('change', (e) => { state.channel = e.target.value; loadList(true); });

// Counts and the title.
let countsTimer;
function scheduleCounts() { clearTimeout(countsTimer); countsTimer = setTimeout(loadCounts, 150); }
async function loadCounts() {
  try {
    state.counts = await api('GET', '/api/v1/dialogs/counts');
  } catch { return; }
  for (const el of $$('[data-count]')) {
    const n = state.counts[el.dataset.count] || 0;
    el.textContent = n ? String(n) : '';
  }
  const n = (state.counts.unread || 0) + (state.counts.queue || 0);
  document.title = (n ? `(${n}) ` : '') + baseTitle;
}

// Colleagues and departments, for names and the transfer/invite lists.
async function loadOperators() {
  try {
    const [ops, deps] = await Promise.all([api('GET', '/api/v1/operators'), api('GET', '/api/v1/departments')]);
    state.operators = new Map((ops.operators || ops.users || []).map((u) => [u.id, u]));
    state.departments = deps.departments || [];
  } catch { /* names fall back to ids */ }
}

// Notifications and sound for new dialogs and new visitor messages in my dialogs.
function notify(title, body, id) {
  if (document.visibilityState === 'visible' && document.hasFocus() && conv.id === id) return;
  if (prefs.get('sound')) beep();
  if (prefs.get('notify') && 'Notification' in window && Notification.permission === 'granted') {
    const n = new Notification(title, { body, tag: 'dialog-' + id });
    n.onclick = () => { window.focus(); go(id); n.close(); };
  }
}
let audio;
function beep() {
  try {
    audio = audio || new AudioContext();
    const o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880; g.gain.value = 0.08;
    o.connect(g); g.connect(audio.destination);
    o.start(); o.stop(audio.currentTime + 0.15);
  } catch { /* no audio */ }
}

// Live updates: one fetch per dialog however many hints arrive at once.
const pending = new Map();
let flushTimer;
function onEvent(ev) {
  if (ev.k === 'operator.updated' || ev.k === 'operator.presence') {
    clearTimeout(opsTimer); opsTimer = setTimeout(async () => { await loadOperators(); side.render(); }, 300);
    return;
  }
  if (!ev.d) return;
  const kinds = pending.get(ev.d) || new Set();
  kinds.add(ev.k);
  pending.set(ev.d, kinds);
  // System entries (assigned, transferred, closed…) come as dialog.updated with m.
  if (ev.d === conv.id && (ev.k.startsWith('message.') || ev.m)) conv.onMessageEvent(ev);
  clearTimeout(flushTimer);
  flushTimer = setTimeout(flush, 80);
  scheduleCounts();
}
let opsTimer;

async function flush() {
  const batch = [...pending.entries()];
  pending.clear();
  if (state.q) { loadList(true); }
  for (const [id, kinds] of batch) refreshDialog(id, kinds);
}

async function refreshDialog(id, kinds) {
  const prev = state.rows.get(id) || (conv.id === id ? conv.dialog : null);
  let d;
  try {
    d = await api('GET', '/api/v1/dialogs/' + id);
  } catch (e) {
    if (e.status === 404 || e.status === 403) {
      // No longer visible to me (transferred away): drop it.
      list.querySelector(`li[data-id="${id}"]`)?.remove();
      state.rows.delete(id);
      if (conv.id === id) conv.gone();
    }
    return;
  }
  if (!state.q) placeRow(d);
  else if (state.rows.has(id)) { state.rows.set(id, d); list.querySelector(`li[data-id="${id}"]`)?.replaceWith(rowFor(d)); }
  if (conv.id === id) { conv.setDialog(d); side.render(); }
  const name = visitorName(d.visitor);
  if (kinds.has('dialog.created') && d.status === 'open' && (d.assignee_id == null || isMine(d))) {
    notify(t('notify.new_dialog', name), d.last_message || '', id);
  } else if (kinds.has('message.created') && isMine(d) && d.unread > (prev ? prev.unread : 0)) {
    notify(name, d.last_message || '', id);
  }
}

function sync() {
  loadList(true);
  loadCounts();
  loadOperators().then(() => side.render());
  conv.resync();
}

function liveState(s) {
  const el = $('#live-state');
  el.dataset.state = s;
  el.textContent = t('live.' + s);
}

// Routing: /inbox and /inbox/<id>; on a phone these are two separate views.
function go(id, replace) {
  const url = id ? '/inbox/' + id : '/inbox';
  if (location.pathname !== url) history[replace ? 'replaceState' : 'pushState']({ id }, '', url);
  show(id);
}
function show(id) {
  root.classList.toggle('has-dialog', !!id);
  root.classList.remove('show-side');
  for (const el of list.querySelectorAll('li.dialog-row')) el.setAttribute('aria-current', String(Number(el.dataset.id) === id));
  if (id) conv.open(id); else conv.close();
}
window.addEventListener('popstate', () => {
  const m = location.pathname.match(/^\/inbox\/(\d+)/);
  show(m ? Number(m[1]) : 0);
});
$('#back').addEventListener('click', () => go(0));
$('#side-toggle').addEventListener('click', () => root.classList.toggle('show-side'));

const conv = new Conversation({
  state,
  onDialog: (d) => { placeRow(d); side.render(); },
  onClosed: () => go(0),
});
const side = new Sidebar({ state, conv, refresh: (id) => refreshDialog(id, new Set()), leave: () => go(0) });

for (const b of $$('.tabs [data-tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === state.tab));
const first = Number(root.dataset.dialog || 0);
if (first) show(first);
loadOperators().then(() => side.render());

// One live connection: comet-server.ru when configured, else the SSE stream. Both call
// sync() on every (re)connect, which (re)loads the list, the counts and the conversation.
const handlers = { event: onEvent, sync, state: liveState };
let cometCfg = null;
try { cometCfg = root.dataset.comet ? JSON.parse(root.dataset.comet) : null; } catch { cometCfg = null; }
$('#live-state').dataset.transport = cometCfg ? 'comet' : 'sse';
if (cometCfg) connectComet(cometCfg, handlers); else connectSSE(handlers);
// Before the first "hello", show something at once.
loadList(true);
loadCounts();
