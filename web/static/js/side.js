// side.js: the conversation's sidebar. The visitor card, the linked client record
// (search and link, create, unlink, open), participants, and the dialog actions: take,
// transfer, invite, leave, close.
import { api, t, h, $, toast, me } from './app.js';
import { avatar, chanBadge, visitorName, modal } from './ui.js';

export class Sidebar {
  constructor({ state, conv, refresh, leave }) {
    this.state = state;
    this.conv = conv;
    this.refresh = refresh;
    this.leaveView = leave;
    this.el = $('#side');
    this.client = null;
    this.clientFor = 0;
  }

  opName(id) {
    const u = this.state.operators.get(id);
    return u ? (u.name || u.email) : '#' + id;
  }

  // render redraws the sidebar when what it shows changed (not on every live hint, so a
  // search being typed or a button being clicked is not swept away).
  render(force) {
    const d = this.conv.dialog;
    if (!d) { this.el.replaceChildren(); this.sig = ''; return; }
    const sig = JSON.stringify([d.id, d.status, d.assignee_id, d.participants, d.visitor, d.channel_name,
      [...this.state.operators.values()].map((u) => [u.id, u.name, u.online, u.status, u.active])]);
    if (!force && sig === this.sig) return;
    this.sig = sig;
    if (this.forDialog !== d.id) { this.searchText = ''; this.forDialog = d.id; }
    const typing = document.activeElement && document.activeElement.id === 'client-search';
    const v = d.visitor || {};
    const kv = h('dl.kv');
    const row = (k, val) => { if (val) kv.append(h('dt', t(k)), h('dd', val)); };
    row('side.channel', h('span', chanBadge(d.channel_kind, d.channel_name), ' ', d.channel_name || d.channel_kind));
    row('side.username', v.username ? '@' + v.username : '');
    row('side.phone', v.phone);
    row('side.email', v.email);
    row('side.language', v.language);
    const card = h('section.side-card', h('h3', t('side.visitor')),
      h('div.visitor', avatar(v, d.visitor_id, true), h('b', visitorName(v))), kv,
      v.unreachable ? h('p.error', t('side.unreachable')) : null);

    const people = h('ul.people');
    if (d.assignee_id) people.append(h('li', '★ ', this.opName(d.assignee_id), h('span.muted', ' · ' + t('side.assignee'))));
    for (const p of d.participants || []) {
      if (p !== d.assignee_id) people.append(h('li', '• ', this.opName(p)));
    }
    if (!people.children.length) people.append(h('li.muted', t('side.nobody')));
    const partCard = h('section.side-card', h('h3', t('side.participants')), people);

    const acts = h('div.side-actions');
    const open = d.status === 'open';
    const mine = d.assignee_id === me();
    const participant = (d.participants || []).includes(me());
    const btn = (label, fn, cls, id) => h('button.' + (cls || 'secondary'), { type: 'button', id, onclick: () => this.run(fn) }, t(label));
    if (open && d.assignee_id == null) acts.append(btn('act.take', () => this.action('take'), 'primary', 'act-take'));
    if (open) acts.append(btn('act.transfer', () => this.transfer(), 'secondary', 'act-transfer'));
    if (open) acts.append(btn('act.invite', () => this.invite(), 'secondary', 'act-invite'));
    if (open && participant && !mine) acts.append(btn('act.leave', () => this.action('leave', { user_id: me() }), 'secondary', 'act-leave'));
    if (open) acts.append(btn('act.close', () => this.closeDialog(), 'danger', 'act-close'));
    const actCard = h('section.side-card', h('h3', t('side.actions')), acts);

    const clientCard = h('section.side-card', { id: 'client-card' }, h('h3', t('side.client')));
    this.el.replaceChildren(card, clientCard, partCard, actCard);
    this.renderClient(clientCard, d).then(() => { if (typing) document.getElementById('client-search')?.focus(); });
  }

  async run(fn) {
    try { await fn(); } catch (e) { toast(e.message, 'error'); }
  }

  async action(name, body) {
    const d = this.conv.dialog;
    const res = await api('POST', `/api/v1/dialogs/${d.id}/${name}`, body || {});
    if (res) { this.conv.setDialog(res); this.conv.onDialog(res); this.render(); } else { this.leaveView(); }
    this.refresh(d.id);
  }

  operatorSelect(name, exclude) {
    const sel = h('select', { name, required: true }, h('option', { value: '' }, '—'));
    for (const u of this.state.operators.values()) {
      if (!u.active || exclude.includes(u.id)) continue;
      const status = u.online ? t('status.online') : t('status.' + (u.status || 'offline'));
      sel.append(h('option', { value: u.id }, `${u.name || u.email} (${status})`));
    }
    return sel;
  }

  async transfer() {
    const d = this.conv.dialog;
    const ops = this.operatorSelect('user_id', [me()]);
    ops.required = false;
    ops.id = 'transfer-user';
    const deps = h('select', { name: 'department_id', id: 'transfer-dep' }, h('option', { value: '' }, '—'));
    for (const x of this.state.departments) deps.append(h('option', { value: x.id }, x.name));
    const fd = await modal(t('act.transfer'), (f) => {
      f.append(h('label', t('transfer.operator'), ops));
      if (this.state.departments.length) f.append(h('label', t('transfer.department'), deps));
      f.append(h('label', t('transfer.comment'), h('textarea', { name: 'comment', rows: 3, id: 'transfer-comment' })));
    }, t('act.transfer'));
    if (!fd) return;
    const body = { comment: String(fd.get('comment') || '') };
    if (fd.get('user_id')) body.user_id = Number(fd.get('user_id'));
    else if (fd.get('department_id')) body.department_id = Number(fd.get('department_id'));
    else { toast(t('transfer.pick'), 'error'); return; }
    await this.action('transfer', body);
    // Transferred to a colleague: it leaves my list.
    if (d.assignee_id === me() || !this.conv.dialog || this.conv.dialog.assignee_id !== me()) toast(t('transfer.done'));
  }

  async invite() {
    const d = this.conv.dialog;
    const sel = this.operatorSelect('user_id', [me(), d.assignee_id, ...(d.participants || [])]);
    sel.id = 'invite-user';
    const fd = await modal(t('act.invite'), (f) => f.append(h('label', t('transfer.operator'), sel)), t('act.invite'));
    if (!fd || !fd.get('user_id')) return;
    await this.action('invite', { user_id: Number(fd.get('user_id')) });
  }

  async closeDialog() {
    if (!confirm(t('act.close_confirm'))) return;
    await this.action('close');
  }

  // The client record.
  async renderClient(card, d) {
    const cid = d.visitor && d.visitor.client_id;
    if (cid) {
      if (this.clientFor !== cid || !this.client) {
        try {
          const res = await api('GET', '/api/v1/clients/' + cid);
          this.client = res.client; this.clientFor = cid;
        } catch (e) { card.append(h('p.error', e.message)); return; }
      }
      // Only a different dialog or client makes this answer stale (a live update replaces
      // the dialog object without changing either).
      const now = this.conv.dialog;
      if (!now || now.id !== d.id || (now.visitor && now.visitor.client_id) !== cid) return;
      const c = this.client;
      card.append(h('div', h('b', c.name || '#' + c.id)),
        (c.phones || []).length ? h('div.muted', c.phones.join(', ')) : null,
        (c.emails || []).length ? h('div.muted', c.emails.join(', ')) : null,
        h('div.side-actions',
          h('button.secondary', { type: 'button', id: 'client-open', onclick: () => this.run(() => this.editClient(c)) }, t('client.open')),
          h('button.secondary', { type: 'button', id: 'client-unlink', onclick: () => this.run(() => this.link(0)) }, t('client.unlink'))));
      return;
    }
    this.client = null; this.clientFor = 0;
    const results = h('ul.results');
    const input = h('input', { type: 'search', placeholder: t('client.search'), id: 'client-search', autocomplete: 'off' });
    let timer;
    // A redraw (a live update) keeps what is being typed and its results.
    input.value = this.searchText || '';
    const search = () => {
      clearTimeout(timer);
      this.searchText = input.value;
      timer = setTimeout(async () => {
        const q = input.value.trim();
        if (q.length < 2) { results.replaceChildren(); return; }
        try {
          const res = await api('GET', '/api/v1/clients?q=' + encodeURIComponent(q));
          results.replaceChildren(...(res.clients || []).map((c) => h('li', h('span', c.name || '#' + c.id, ' ', h('span.muted', (c.phones || []).join(', '))),
            h('button.link', { type: 'button', onclick: () => this.run(() => this.link(c.id)) }, t('client.link')))));
          if (!results.children.length) results.append(h('li.muted', t('client.none')));
        } catch (e) { toast(e.message, 'error'); }
      }, 250);
    };
    input.addEventListener('input', search);
    if (input.value) search();
    card.append(h('p.muted', t('client.not_linked')), input, results,
      h('button.secondary', { type: 'button', id: 'client-create', onclick: () => this.run(() => this.createClient()) }, t('client.create')));
  }

  async link(clientID) {
    await this.action('client', { client_id: clientID });
    this.searchText = '';
    this.client = null; this.clientFor = 0;
    const d = await api('GET', '/api/v1/dialogs/' + this.conv.dialog.id);
    this.conv.setDialog(d); this.conv.onDialog(d); this.render(true);
  }

  clientFields(f, c) {
    f.append(h('label', t('client.name'), h('input', { type: 'text', name: 'name', value: c.name || '', required: true })),
      h('label', t('client.phones'), h('input', { type: 'text', name: 'phones', value: (c.phones || []).join(', ') })),
      h('label', t('client.emails'), h('input', { type: 'text', name: 'emails', value: (c.emails || []).join(', ') })),
      h('label', t('client.note'), h('textarea', { name: 'note', rows: 3 }, c.note || '')));
  }

  clientBody(fd, type) {
    const split = (s) => String(s || '').split(',').map((x) => x.trim()).filter(Boolean);
    return { type: type || 'client', name: String(fd.get('name') || ''), phones: split(fd.get('phones')), emails: split(fd.get('emails')), note: String(fd.get('note') || '') };
  }

  async createClient() {
    const d = this.conv.dialog;
    const v = d.visitor || {};
    const fd = await modal(t('client.create'), (f) => this.clientFields(f, { name: visitorName(v), phones: v.phone ? [v.phone] : [], emails: v.email ? [v.email] : [] }), t('client.create'));
    if (!fd) return;
    const c = await api('POST', '/api/v1/clients', this.clientBody(fd));
    await this.link(c.id);
  }

  async editClient(c) {
    const fd = await modal(t('client.record'), (f) => this.clientFields(f, c));
    if (!fd) return;
    this.client = await api('PUT', '/api/v1/clients/' + c.id, this.clientBody(fd, c.type));
    this.render(true);
  }
}
