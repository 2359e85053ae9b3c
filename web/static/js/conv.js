// conv.js: one conversation. History with endless scroll upward, live messages, delivery
// states with retry, system entries, edits; the composer (Enter sends, Shift+Enter breaks
// the line, files with progress and drag-and-drop, pending at once, Idempotency-Key).
import { api, upload, t, h, $, toast, fmtTime, fmtSize, me } from './app.js';
import { avatar, chanBadge, visitorName, randomKey } from './ui.js';

const PAGE = 50;

export class Conversation {
  constructor({ state, onDialog, onClosed }) {
    this.state = state;
    this.onDialog = onDialog;
    this.onClosed = onClosed;
    this.id = 0;
    this.dialog = null;
    this.msgs = new Map(); // id → message (real ids) or 'tmp-<key>' → pending
    this.gen = 0;
    this.oldest = 0;
    this.newest = 0;
    this.historyEnd = false;
    this.loadingOlder = false;
    this.box = $('#messages');
    this.pane = $('#conv');
    this.form = $('#composer');
    this.text = $('#text');
    this.wire();
  }

  wire() {
    this.box.addEventListener('scroll', () => {
      if (this.box.scrollTop < 150) this.loadOlder();
      if (this.atBottom()) this.markRead();
    });
    this.box.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-act]');
      if (b) { this.act(b.dataset.act, b.closest('.msg')); return; }
      const img = e.target.closest('img.inline');
      if (img) {
        $('#lightbox-img').src = img.src;
        $('#lightbox').showModal();
      }
    });
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.sendText(); });
    this.text.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.sendText(); }
    });
    this.text.addEventListener('input', () => this.grow());
    $('#file-input').addEventListener('change', (e) => { this.sendFiles([...e.target.files]); e.target.value = ''; });
    this.text.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files || [])];
      if (files.length) { e.preventDefault(); this.sendFiles(files); }
    });
    let depth = 0;
    this.pane.addEventListener('dragenter', (e) => {
      if (!this.id || !e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault(); depth++; this.pane.classList.add('dragging');
    });
    this.pane.addEventListener('dragover', (e) => { if (this.id) e.preventDefault(); });
    this.pane.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; this.pane.classList.remove('dragging'); } });
    this.pane.addEventListener('drop', (e) => {
      e.preventDefault(); depth = 0; this.pane.classList.remove('dragging');
      if (this.id && e.dataTransfer?.files.length) this.sendFiles([...e.dataTransfer.files]);
    });
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') this.markRead(); });
  }

  grow() {
    this.text.style.height = 'auto';
    this.text.style.height = Math.min(this.text.scrollHeight, 200) + 'px';
  }

  atBottom() { return this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 60; }
  toBottom() { this.box.scrollTop = this.box.scrollHeight; }

  close() {
    this.gen++;
    this.id = 0;
    this.dialog = null;
    $('#conv-empty').hidden = false;
    $('#conv-head').hidden = true;
    this.box.hidden = true;
    this.form.hidden = true;
    this.onDialog && document.getElementById('side').replaceChildren();
  }

  async open(id) {
    if (this.id === id) return;
    const gen = ++this.gen;
    this.id = id;
    this.dialog = null;
    this.msgs.clear();
    this.oldest = this.newest = 0;
    this.historyEnd = false;
    this.box.replaceChildren(h('div.history-end', t('common.loading')));
    $('#conv-empty').hidden = true;
    $('#conv-head').hidden = false;
    this.box.hidden = false;
    this.form.hidden = false;
    $('#uploads').replaceChildren();
    let d, page;
    try {
      [d, page] = await Promise.all([
        api('GET', '/api/v1/dialogs/' + id),
        api('GET', `/api/v1/dialogs/${id}/messages?limit=${PAGE}`),
      ]);
    } catch (e) {
      if (gen !== this.gen) return;
      this.box.replaceChildren(h('div.history-end', e.message));
      this.form.hidden = true;
      return;
    }
    if (gen !== this.gen) return;
    this.box.replaceChildren();
    this.setDialog(d);
    this.onDialog(d);
    this.addMessages(page.messages, 'older');
    if (page.messages.length < PAGE) this.endOfHistory();
    this.toBottom();
    this.markRead();
    if (matchMedia('(pointer: fine)').matches) this.text.focus();
  }

  setDialog(d) {
    this.dialog = d;
    $('#conv-avatar').replaceWith(Object.assign(avatar(d.visitor, d.visitor_id), { id: 'conv-avatar' }));
    $('#conv-name').textContent = visitorName(d.visitor);
    const sub = $('#conv-sub');
    sub.replaceChildren(chanBadge(d.channel_kind, d.channel_name), ' ', d.channel_name || '',
      d.status === 'closed' ? ' · ' + t('conv.closed') : '');
    const closed = d.status === 'closed';
    this.text.disabled = closed;
    $('#send').disabled = closed;
    this.text.placeholder = closed ? t('conv.closed_note') : t('composer.placeholder');
  }

  // gone: the dialog is no longer visible to this operator (transferred away).
  gone() {
    toast(t('conv.gone'));
    this.onClosed();
  }

  endOfHistory() {
    this.historyEnd = true;
    if (!this.box.querySelector('.history-end')) this.box.prepend(h('div.history-end', t('conv.history_start')));
  }

  async loadOlder() {
    if (!this.id || this.historyEnd || this.loadingOlder || !this.oldest) return;
    this.loadingOlder = true;
    const gen = this.gen;
    try {
      const page = await api('GET', `/api/v1/dialogs/${this.id}/messages?before=${this.oldest}&limit=${PAGE}`);
      if (gen !== this.gen) return;
      const h0 = this.box.scrollHeight, top = this.box.scrollTop;
      this.addMessages(page.messages, 'older');
      this.box.scrollTop = top + (this.box.scrollHeight - h0);
      if (page.messages.length < PAGE) this.endOfHistory();
    } catch (e) {
      toast(e.message, 'error');
    } finally {
      this.loadingOlder = false;
    }
  }

  // addMessages inserts or replaces messages, keeping the list ordered by id.
  addMessages(ms, _dir) {
    for (const m of ms) this.upsert(m);
  }

  upsert(m) {
    if (m.id > this.newest) this.newest = m.id;
    if (!this.oldest || m.id < this.oldest) this.oldest = m.id;
    // A pending bubble of ours becomes the real message (whichever of the POST answer and
    // the live event comes first).
    if (m.direction === 'out' && m.author_id === me()) {
      for (const [k, p] of this.msgs) {
        if (typeof k === 'string' && p.realId === m.id) { this.dropTemp(k); break; }
        if (typeof k === 'string' && !p.realId && p.inflight && p.text === m.text && !p.fileName) { this.dropTemp(k); break; }
      }
    }
    const el = this.render(m);
    const old = this.box.querySelector(`.msg[data-id="${m.id}"]`);
    this.msgs.set(m.id, m);
    if (old) { old.replaceWith(el); return; }
    // Find the first real message with a larger id; pending ones stay at the end.
    let before = null;
    for (const node of this.box.querySelectorAll('.msg')) {
      const id = Number(node.dataset.id);
      if (!node.dataset.tmp && id > m.id) { before = node; break; }
      if (node.dataset.tmp) { before = node; break; }
    }
    this.box.insertBefore(el, before);
  }

  // dropTemp removes a pending bubble; id is its map key, 'tmp-<idempotency key>'.
  dropTemp(id) {
    this.msgs.delete(id);
    this.box.querySelector(`.msg[data-tmp="${id.slice(4)}"]`)?.remove();
  }

  name(uid) {
    const u = this.state.operators.get(uid);
    return u ? (u.name || u.email) : (uid ? '#' + uid : '');
  }

  systemText(m) {
    const d = m.data || {};
    const who = this.name(m.author_id);
    switch (m.kind) {
      case 'assigned': return d.taken ? t('sys.taken', who) : t('sys.assigned', this.name(d.to));
      case 'transferred': {
        const to = d.to ? this.name(d.to) : (this.state.departments.find((x) => x.id === d.to_department)?.name || t('sys.department'));
        return t('sys.transferred', who, to) + (d.comment ? ': «' + d.comment + '»' : '');
      }
      case 'invited': return t('sys.invited', who, this.name(d.user));
      case 'left': return t('sys.left', this.name(d.user || m.author_id));
      case 'closed': return d.auto ? t('sys.closed_auto') : t('sys.closed', who);
      case 'requeued': return t('sys.requeued', this.name(d.from));
      case 'client_linked': return d.client ? t('sys.client_linked', who) : t('sys.client_unlinked', who);
      default: return m.text || m.kind;
    }
  }

  render(m) {
    const tmp = typeof m.id === 'string';
    if (m.direction === 'system') {
      return h('div.msg.system', { dataset: { id: m.id } }, this.systemText(m), ' · ', fmtTime(m.created_at));
    }
    const out = m.direction === 'out';
    const cls = ['msg', out ? 'out' : 'in'];
    if (m.status === 'failed') cls.push('failed');
    if (m.deleted_at) cls.push('deleted');
    const el = h('div.' + cls.join('.'), { dataset: tmp ? { tmp: m.id.slice(4), id: '' } : { id: m.id, status: m.status } });
    if (out && (m.auto || (m.author_id && m.author_id !== me()))) {
      el.append(h('div.author', m.auto ? t('msg.auto') : this.name(m.author_id)));
    }
    if (m.deleted_at) {
      el.append(h('div.text', t('msg.deleted')));
    } else {
      if (m.text) el.append(h('div.text', m.text));
      for (const a of m.attachments || []) el.append(this.attachment(a));
      if (m.fileName) el.append(h('div.file', '📄 ', m.fileName));
      if (m.buttons && m.buttons.length) {
        el.append(h('div.buttons', m.buttons.flat().map((b) => h('span', b.text || b.title || ''))));
      }
      if (m.kind === 'button' && m.data && m.data.button) el.append(h('div.muted', t('msg.button', m.data.button)));
    }
    const meta = h('div.meta');
    if (m.edits && m.edits.length) {
      meta.append(h('span.edited', { title: m.edits.map((e) => e.text).join('\n—\n') }, t('msg.edited')));
    }
    meta.append(h('span', fmtTime(m.created_at)));
    if (out) meta.append(h('span.state', { dataset: { state: m.status }, title: t('state.' + m.status) }));
    el.append(meta);
    if (m.status === 'failed') {
      el.append(h('div.fail', h('span', m.error || t('state.failed')),
        h('button.link', { type: 'button', dataset: { act: 'retry' } }, t('msg.retry'))));
    }
    if (out && !tmp && !m.deleted_at && m.author_id === me() && !m.auto && m.status !== 'failed' && m.status !== 'pending') {
      el.append(h('div.actions', h('button', { type: 'button', dataset: { act: 'delete' }, title: t('msg.delete') }, '🗑')));
    }
    return el;
  }

  attachment(a) {
    if (a.pending) return h('div.file.muted', '⏳ ', a.name || t('msg.file_loading'));
    if (a.error && !a.file_id) return h('div.file.error', '⚠ ', a.name || a.kind, ': ', a.error);
    if (a.kind === 'location') {
      return h('div.file', '📍 ', h('a', { href: `https://www.openstreetmap.org/?mlat=${a.lat}&mlon=${a.lon}`, target: '_blank', rel: 'noopener noreferrer' }, `${a.lat}, ${a.lon}`));
    }
    if (a.kind === 'contact') return h('div.file', '👤 ', [a.contact, a.phone].filter(Boolean).join(' · '));
    if (!a.file_id) return h('div.file.muted', a.name || a.kind);
    const url = '/api/v1/files/' + a.file_id;
    const mime = a.mime || '';
    if ((a.kind === 'image' || a.kind === 'sticker' || mime.startsWith('image/')) && mime !== 'image/svg+xml') {
      return h('img.inline', { src: url, alt: a.name || '', loading: 'lazy' });
    }
    if (mime.startsWith('audio/') || a.kind === 'voice' || a.kind === 'audio') {
      return h('div.file', h('audio', { controls: true, src: url, preload: 'none' }), h('a', { href: url + '?download=1', download: a.name || '' }, '⬇'));
    }
    if (mime.startsWith('video/') || a.kind === 'video') {
      return h('video.inline-video', { controls: true, src: url, preload: 'metadata' });
    }
    return h('div.file', '📄 ', h('a', { href: url + '?download=1', download: a.name || '' }, a.name || t('msg.file')),
      a.size ? h('span.size', fmtSize(a.size)) : null);
  }

  async act(what, el) {
    if (!el) return;
    if (el.dataset.tmp) { // a send that failed before reaching the server: send again, same key
      const p = this.msgs.get('tmp-' + el.dataset.tmp);
      if (p) this.post(p);
      return;
    }
    const mid = Number(el.dataset.id);
    try {
      if (what === 'retry') {
        this.upsert(await api('POST', `/api/v1/dialogs/${this.id}/messages/${mid}/retry`));
      } else if (what === 'delete') {
        if (!confirm(t('msg.delete_confirm'))) return;
        await api('DELETE', `/api/v1/dialogs/${this.id}/messages/${mid}`);
        this.refetch(mid);
      }
    } catch (e) { toast(e.message, 'error'); }
  }

  // Live: a hint about a message in this dialog.
  onMessageEvent(ev) {
    if (ev.k === 'message.created' || (ev.m && ev.m > this.newest)) this.fetchNewer();
    else if (ev.m) this.refetch(ev.m);
  }

  async fetchNewer() {
    if (!this.id || this.fetchingNewer) { this.again = true; return; }
    this.fetchingNewer = true;
    const gen = this.gen;
    try {
      do {
        this.again = false;
        const stick = this.atBottom();
        const page = await api('GET', `/api/v1/dialogs/${this.id}/messages?after=${this.newest}&limit=${PAGE}`);
        if (gen !== this.gen) return;
        this.addMessages(page.messages);
        if (stick) this.toBottom();
        if (page.messages.length === PAGE) this.again = true;
      } while (this.again && gen === this.gen);
      this.markRead();
    } catch { /* the next hello refetches */ } finally {
      this.fetchingNewer = false;
    }
  }

  async refetch(mid) {
    const gen = this.gen;
    try {
      const page = await api('GET', `/api/v1/dialogs/${this.id}/messages?before=${mid + 1}&limit=1`);
      if (gen !== this.gen) return;
      const m = page.messages[0];
      if (m && m.id === mid) this.upsert(m);
      else if (mid > this.newest) this.fetchNewer();
    } catch { /* ignore */ }
  }

  // resync after a (re)connect: what arrived meanwhile, and fresh states of what is shown.
  async resync() {
    if (!this.id) return;
    const gen = this.gen;
    try {
      const d = await api('GET', '/api/v1/dialogs/' + this.id);
      if (gen !== this.gen) return;
      this.setDialog(d);
      this.onDialog(d);
      if (this.newest) {
        const shown = [...this.msgs.keys()].filter((k) => typeof k === 'number').length;
        const page = await api('GET', `/api/v1/dialogs/${this.id}/messages?before=${this.newest + 1}&limit=${Math.min(Math.max(shown, 1), 200)}`);
        if (gen !== this.gen) return;
        this.addMessages(page.messages);
      }
      await this.fetchNewer();
    } catch (e) {
      if (e.status === 404) this.gone();
    }
  }

  async markRead() {
    const d = this.dialog;
    if (!d || !d.unread || document.visibilityState !== 'visible' || this.reading) return;
    this.reading = true;
    try {
      await api('POST', `/api/v1/dialogs/${d.id}/read`);
      d.unread = 0;
      this.onDialog(d);
    } catch { /* not important */ } finally { this.reading = false; }
  }

  // Sending.

  sendText() {
    const text = this.text.value.trim();
    if (!text || !this.id || this.text.disabled) return;
    this.text.value = '';
    this.grow();
    const p = this.pending({ text });
    this.post(p);
  }

  sendFiles(files) {
    if (!this.id || this.dialog?.status === 'closed') return;
    for (const f of files) {
      const p = this.pending({ text: '', fileName: f.name, file: f });
      this.post(p);
    }
  }

  pending(extra) {
    const key = randomKey();
    const p = { id: 'tmp-' + key, key, dialog: this.id, direction: 'out', author_id: me(), status: 'pending', created_at: new Date().toISOString(), attachments: [], ...extra };
    this.msgs.set(p.id, p);
    this.box.append(this.render(p));
    this.toBottom();
    return p;
  }

  async post(p) {
    if (p.inflight) return;
    p.inflight = true;
    p.status = 'pending';
    p.error = '';
    this.rerenderTemp(p);
    const url = `/api/v1/dialogs/${p.dialog}/messages`;
    try {
      let m;
      if (p.file) {
        const row = h('div.upload', h('span', p.file.name), h('progress', { max: 1, value: 0 }));
        $('#uploads').append(row);
        const form = new FormData();
        form.append('file', p.file, p.file.name);
        try {
          m = await upload(url, form, { headers: { 'Idempotency-Key': p.key }, onProgress: (x) => { row.querySelector('progress').value = x; } });
        } finally { row.remove(); }
      } else {
        m = await api('POST', url, { text: p.text }, { headers: { 'Idempotency-Key': p.key } });
      }
      p.realId = m.id;
      p.inflight = false;
      if (p.dialog !== this.id) return;
      this.dropTemp(p.id);
      this.upsert(m);
      this.toBottom();
    } catch (e) {
      p.inflight = false;
      p.status = 'failed';
      p.error = e.message;
      if (p.dialog === this.id) this.rerenderTemp(p);
    }
  }

  rerenderTemp(p) {
    const old = this.box.querySelector(`.msg[data-tmp="${p.key}"]`);
    if (old) old.replaceWith(this.render(p));
  }
}
