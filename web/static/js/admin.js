// admin.js: the settings pages. Each section renders from the REST API (the same calls an
// integration makes); the server checks the admin role on every call. Nothing here knows a
// channel kind: forms come from each provider's SettingsForm and extra buttons from its
// actions (GET /api/v1/providers, channel.actions).
import { api, t, h as make, $, toast, lang, fmtTime } from './app.js';

/** h is app.js's h that also takes an id: h('button.primary#save', …). */
function h(tag, ...rest) {
  const m = tag.match(/#([\w-]+)/);
  const el = make(m ? tag.replace(m[0], '') : tag, ...rest);
  if (m) el.id = m[1];
  return el;
}

const root = $('#admin-root');
const content = $('#admin-content');
const tx = (text) => (text && (text[lang] || text.en)) || '';

function errorBox(id) { return h('p.error', { id, role: 'alert', hidden: true }); }
function showError(box, e) { box.textContent = e ? (e.message || String(e)) : ''; box.hidden = !e; }

// ---------- Channels ----------

async function channels() {
  const [{ providers }, { channels }, { departments }] = await Promise.all([
    api('GET', '/api/v1/providers'), api('GET', '/api/v1/channels'), api('GET', '/api/v1/departments')]);
  const byKind = Object.fromEntries(providers.map((p) => [p.kind, p]));
  const depName = (id) => (departments.find((d) => d.id === id) || {}).name || '—';
  const editor = h('div#channel-editor');
  const result = h('div#action-result.card', { hidden: true });

  const stateText = (c) => {
    if (!c.enabled) return h('span.state.off', t('admin.ch.disabled'));
    if (c.webhook_state === 'set') return h('span.state.ok', t('admin.ch.webhook_set'));
    if (c.webhook_state === 'error') return h('span.state.bad', { title: c.webhook_error }, t('admin.ch.webhook_error', c.webhook_error));
    return h('span.state', t('admin.ch.webhook_none'));
  };

  const rowFor = (c) => {
    const del = h('button.danger', { type: 'button', dataset: { act: 'delete' } }, t('admin.delete'));
    del.addEventListener('click', async () => {
      if (del.dataset.armed !== '1') { del.dataset.armed = '1'; del.textContent = t('admin.confirm_delete'); return; }
      try { await api('DELETE', '/api/v1/channels/' + c.id); toast(t('admin.deleted')); render(); } catch (e) { toast(e.message, 'error'); }
    });
    const actions = (c.actions || []).map((a) => h('button.secondary', {
      type: 'button', dataset: { action: a.name },
      onclick: async () => {
        result.hidden = false; result.replaceChildren(h('p.muted', t('admin.loading')));
        try {
          const r = await api('POST', `/api/v1/channels/${c.id}/actions/${encodeURIComponent(a.name)}`);
          result.replaceChildren(h('h3', tx(a.label)),
            r.text ? h('p', r.text) : null,
            r.code ? h('textarea.code', { readOnly: true, rows: 4 }, r.code) : null,
            r.image ? h('img', { src: `data:${r.image_type || 'image/png'};base64,${r.image}`, alt: tx(a.label) }) : null);
        } catch (e) { result.replaceChildren(h('p.error', { role: 'alert' }, e.message)); }
      },
    }, tx(a.label)));
    return h('tr', { dataset: { id: c.id } },
      h('td', c.name), h('td', tx((byKind[c.kind] || {}).form?.title) || c.kind), h('td', depName(c.department_id)),
      h('td.channel-state', stateText(c)), h('td', c.last_activity_at ? fmtTime(c.last_activity_at) : '—'),
      h('td.row-actions',
        h('button.secondary', { type: 'button', dataset: { act: 'edit' }, onclick: () => openEditor(c.kind, c) }, t('admin.edit')),
        h('button.secondary', { type: 'button', dataset: { act: 'toggle' }, onclick: async () => {
          try { await api('PUT', '/api/v1/channels/' + c.id, { enabled: !c.enabled, department_id: c.department_id }); render(); } catch (e) { toast(e.message, 'error'); }
        } }, c.enabled ? t('admin.disable') : t('admin.enable')),
        actions, del));
  };
  const rows = channels.map(rowFor);

  const kindPick = h('select#channel-kind', h('option', { value: '' }, t('admin.ch.pick_kind')),
    providers.map((p) => h('option', { value: p.kind }, tx(p.form.title) || p.kind)));
  kindPick.addEventListener('change', () => { if (kindPick.value) openEditor(kindPick.value, null); });

  function openEditor(kind, ch) {
    const p = byKind[kind];
    if (!p) { toast(t('admin.ch.unknown_kind', kind), 'error'); return; }
    const form = p.form;
    const secretsSet = new Set((ch && ch.secrets_set) || []);
    const err = errorBox('channel-error');
    const status = h('div#channel-result', { role: 'status' });
    const name = h('input#channel-name', { type: 'text', value: ch ? ch.name : tx(form.title), required: true, maxLength: 200 });
    const dep = h('select#channel-department', h('option', { value: '' }, '—'),
      departments.map((d) => h('option', { value: d.id, selected: ch && ch.department_id === d.id }, d.name)));
    const inputs = {};
    const fields = form.fields.filter((f) => !f.internal).map((f) => {
      const cur = ch ? (ch.settings || {})[f.name] ?? '' : (f.default || '');
      let input;
      const attrs = { id: 'f-' + f.name, name: f.name, dataset: { field: f.name } };
      if (f.type === 'bool') {
        input = h('input', { ...attrs, type: 'checkbox', checked: cur === 'true' });
      } else if (f.type === 'select') {
        input = h('select', attrs, (f.options || []).map((o) => h('option', { value: o.value, selected: o.value === cur }, tx(o.label))));
      } else if (f.type === 'textarea') {
        input = h('textarea', { ...attrs, rows: 3 }, cur);
      } else {
        input = h('input', { ...attrs, type: f.type === 'secret' ? 'password' : (f.type === 'number' ? 'number' : (f.type === 'url' ? 'url' : 'text')),
          value: f.type === 'secret' ? '' : cur, autocomplete: f.type === 'secret' ? 'new-password' : 'off' });
        if (f.type === 'secret' && secretsSet.has(f.name)) input.placeholder = t('admin.ch.secret_set');
      }
      if (f.filled) { input.readOnly = true; input.disabled = f.type === 'bool' || f.type === 'select'; input.classList.add('filled'); }
      if (f.required && !f.filled && !(f.type === 'secret' && secretsSet.has(f.name))) input.required = true;
      inputs[f.name] = { f, input };
      const label = h('span', tx(f.label), f.required && !f.filled ? h('abbr.req', { title: t('admin.required') }, ' *') : null,
        f.type === 'secret' && secretsSet.has(f.name) ? h('span.badge', { dataset: { secretSet: f.name } }, t('admin.ch.secret_set')) : null);
      return h(f.type === 'bool' ? 'label.check.field' : 'label.field', { dataset: { name: f.name } },
        f.type === 'bool' ? [input, label] : [label, input], f.help ? h('small.muted', tx(f.help)) : null);
    });
    const collect = () => {
      const s = {};
      for (const [k, { f, input }] of Object.entries(inputs)) {
        if (f.filled) continue;
        const v = f.type === 'bool' ? String(input.checked) : input.value.trim();
        if (f.type === 'secret' && v === '') continue; // empty keeps the stored secret
        s[k] = v;
      }
      return s;
    };
    const mark = (fieldsWithError) => {
      for (const { input } of Object.values(inputs)) input.removeAttribute('aria-invalid');
      for (const n of fieldsWithError || []) inputs[n]?.input.setAttribute('aria-invalid', 'true');
    };
    const check = h('button.secondary#channel-check', { type: 'button' }, t('admin.ch.check'));
    const save = h('button.primary#channel-save', { type: 'submit' }, t('admin.save'));
    check.addEventListener('click', async () => {
      showError(err, null); mark(); status.replaceChildren(h('span.muted', t('admin.ch.checking')));
      check.disabled = true;
      try {
        const r = await api('POST', '/api/v1/channels/check', { kind, channel_id: ch ? ch.id : 0, settings: collect() });
        for (const [k, v] of Object.entries(r.settings || {})) {
          const it = inputs[k];
          if (it && it.f.filled) { if (it.f.type === 'bool') it.input.checked = v === 'true'; else it.input.value = v; }
        }
        status.replaceChildren(h('span.state.ok#check-ok', t('admin.ch.check_ok')));
      } catch (e) { status.replaceChildren(); showError(err, e); mark(e.fields); }
      check.disabled = false;
    });
    const f = h('form#channel-form.card.form', { novalidate: true },
      h('h2', ch ? t('admin.ch.edit', ch.name) : t('admin.ch.add', tx(form.title))),
      form.instructions ? h('details.instructions', { open: !ch }, h('summary', t('admin.ch.instructions')), h('div.pre', tx(form.instructions))) : null,
      h('label.field', h('span', t('admin.ch.name'), h('abbr.req', ' *')), name),
      h('label.field', h('span', t('admin.ch.department')), dep),
      fields, err,
      h('div.buttons', check, save, h('button.link', { type: 'button', onclick: () => editor.replaceChildren() }, t('admin.cancel'))),
      status);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      showError(err, null); mark(); save.disabled = true;
      status.replaceChildren(h('span.muted', t('admin.ch.saving')));
      const body = { kind, name: name.value.trim(), department_id: dep.value ? Number(dep.value) : null, settings: collect() };
      try {
        const v = ch ? await api('PUT', '/api/v1/channels/' + ch.id, body) : await api('POST', '/api/v1/channels', body);
        const ok = v.webhook_state === 'set';
        status.replaceChildren(h('div#save-result',
          h('p', { class: ok ? 'state ok' : 'state bad', id: ok ? 'webhook-set' : 'webhook-failed' },
            ok ? t('admin.ch.saved_webhook_set') : (v.webhook_state === 'error' ? t('admin.ch.saved_webhook_error', v.webhook_error) : t('admin.ch.saved'))),
          h('p', t('admin.ch.webhook_url'), ' ', h('code#webhook-url', v.webhook_url))));
        await refreshList();
        ch = v; // later saves edit what was created
      } catch (e) { status.replaceChildren(); showError(err, e); mark(e.fields); }
      save.disabled = false;
    });
    editor.replaceChildren(f);
    f.scrollIntoView({ block: 'nearest' });
  }

  const table = h('table#channels-table.grid',
    h('thead', h('tr', [t('admin.ch.name'), t('admin.ch.kind'), t('admin.ch.department'), t('admin.ch.state'), t('admin.ch.last_activity'), ''].map((x) => h('th', x)))),
    h('tbody', rows.length ? rows : h('tr', h('td.muted', { colSpan: 6 }, t('admin.ch.none')))));
  async function refreshList() {
    const list = await api('GET', '/api/v1/channels');
    table.tBodies[0].replaceChildren(...list.channels.map(rowFor));
  }
  return [h('div.toolbar', h('label', t('admin.ch.add_label'), ' ', kindPick)), editor, table, result];
}

// ---------- Operators ----------

async function operators() {
  const [{ operators: ops }, { departments }] = await Promise.all([api('GET', '/api/v1/operators'), api('GET', '/api/v1/departments')]);
  const err = errorBox('operator-error');
  const once = h('div#operator-password', { role: 'status' });
  const email = h('input#op-email', { type: 'email', required: true });
  const name = h('input#op-name', { type: 'text' });
  const role = h('select#op-role', h('option', { value: 'operator' }, t('admin.role.operator')), h('option', { value: 'admin' }, t('admin.role.admin')));
  const pw = h('input#op-password', { type: 'password', autocomplete: 'new-password', minLength: 8 });
  const depBoxes = (sel) => h('div.checks', departments.map((d) => h('label.check', h('input', { type: 'checkbox', value: d.id, checked: sel.includes(d.id) }), d.name)));
  const newDeps = depBoxes([]);
  const inviteBox = h('input#op-invite', { type: 'checkbox' });
  const showInvite = async (id, box) => {
    const r = await api('POST', `/api/v1/operators/${id}/invite`);
    box.replaceChildren(h('p', t('admin.op.invite_link')), h('textarea.code#invite-link', { readOnly: true, rows: 2 }, r.url));
  };
  const picked = (box) => Array.from(box.querySelectorAll('input:checked')).map((i) => Number(i.value));
  const add = h('form#operator-form.card.form',
    h('h2', t('admin.op.add')),
    h('label', t('admin.op.email'), email), h('label', t('admin.op.name'), name), h('label', t('admin.op.role'), role),
    h('label.check', inviteBox, t('admin.op.invite_instead')),
    h('label', t('admin.op.password'), pw, h('small.muted', t('admin.op.password_help'))),
    h('fieldset', h('legend', t('admin.departments')), newDeps),
    err, h('div.buttons', h('button.primary#op-add', { type: 'submit' }, t('admin.op.create'))), once);
  add.addEventListener('submit', async (ev) => {
    ev.preventDefault(); showError(err, null);
    try {
      const invite = inviteBox.checked;
      const r = await api('POST', '/api/v1/operators', { email: email.value, name: name.value || undefined, role: role.value, password: invite ? '' : pw.value, department_ids: picked(newDeps) });
      if (invite) await showInvite(r.operator.id, once);
      else once.replaceChildren(r.password ? h('p', t('admin.op.generated'), ' ', h('code#generated-password', r.password)) : h('p', t('admin.op.created')));
      add.reset();
      tbody.replaceChildren(...(await api('GET', '/api/v1/operators')).operators.map(row));
    } catch (e) { showError(err, e); }
  });
  const row = (u) => {
    const r = h('select', h('option', { value: 'operator', selected: u.role === 'operator' }, t('admin.role.operator')), h('option', { value: 'admin', selected: u.role === 'admin' }, t('admin.role.admin')));
    const cap = h('input', { type: 'number', min: 0, max: 1000, value: u.capacity, size: 4 });
    const deps = depBoxes(u.department_ids || []);
    const save = async (extra) => {
      try {
        await api('PUT', '/api/v1/operators/' + u.id, { role: r.value, capacity: Number(cap.value), department_ids: picked(deps), ...extra });
        toast(t('admin.saved'));
        if (extra) render();
      } catch (e) { toast(e.message, 'error'); }
    };
    return h('tr', { dataset: { id: u.id } }, h('td', u.name, h('br'), h('small.muted', u.email)), h('td', r), h('td', cap), h('td', deps),
      h('td', u.active ? (u.online ? t('status.online') : t('admin.op.active')) : h('span.state.off', t('admin.op.inactive')), h('br'), h('small.muted', t('admin.op.open_dialogs', u.open_dialogs || 0))),
      h('td.row-actions', h('button.secondary', { type: 'button', onclick: () => save() }, t('admin.save')),
        u.active ? h('button.secondary', { type: 'button', dataset: { act: 'invite' }, onclick: () => showInvite(u.id, once).catch((e) => toast(e.message, 'error')) }, t('admin.op.invite')) : null,
        h('button.danger', { type: 'button', dataset: { act: 'active' }, onclick: () => save({ active: !u.active }) }, u.active ? t('admin.op.deactivate') : t('admin.op.activate'))));
  };
  const tbody = h('tbody', ops.map(row));
  return [h('table#operators-table.grid', h('thead', h('tr', [t('admin.op.name'), t('admin.op.role'), t('admin.op.capacity'), t('admin.departments'), t('admin.op.state'), ''].map((x) => h('th', x)))), tbody), add];
}

// ---------- Departments ----------

async function departmentsPage() {
  const [{ departments }, { operators: ops }] = await Promise.all([api('GET', '/api/v1/departments'), api('GET', '/api/v1/operators')]);
  const members = (sel) => h('div.checks', ops.map((u) => h('label.check', h('input', { type: 'checkbox', value: u.id, checked: sel.includes(u.id) }), u.name || u.email)));
  const picked = (box) => Array.from(box.querySelectorAll('input:checked')).map((i) => Number(i.value));
  const row = (d) => {
    const name = h('input', { type: 'text', value: d.name });
    const sort = h('input', { type: 'number', value: d.sort, size: 4 });
    const m = members(d.members || []);
    return h('tr', { dataset: { id: d.id } }, h('td', name), h('td', sort), h('td', m), h('td.row-actions',
      h('button.secondary', { type: 'button', onclick: async () => {
        try { await api('PUT', '/api/v1/departments/' + d.id, { name: name.value, sort: Number(sort.value), members: picked(m) }); toast(t('admin.saved')); } catch (e) { toast(e.message, 'error'); }
      } }, t('admin.save')),
      h('button.danger', { type: 'button', onclick: async (ev) => {
        const b = ev.currentTarget;
        if (b.dataset.armed !== '1') { b.dataset.armed = '1'; b.textContent = t('admin.confirm_delete'); return; }
        try { await api('DELETE', '/api/v1/departments/' + d.id); render(); } catch (e) { toast(e.message, 'error'); }
      } }, t('admin.delete'))));
  };
  const err = errorBox('department-error');
  const name = h('input#dep-name', { type: 'text', required: true, maxLength: 200 });
  const sort = h('input#dep-sort', { type: 'number', value: (departments.length + 1) * 10 });
  const m = members([]);
  const add = h('form#department-form.card.form', h('h2', t('admin.dep.add')), h('label', t('admin.dep.name'), name), h('label', t('admin.dep.sort'), sort),
    h('fieldset', h('legend', t('admin.dep.members')), m), err, h('div.buttons', h('button.primary', { type: 'submit' }, t('admin.dep.create'))));
  add.addEventListener('submit', async (ev) => {
    ev.preventDefault(); showError(err, null);
    try { await api('POST', '/api/v1/departments', { name: name.value, sort: Number(sort.value), members: picked(m) }); render(); } catch (e) { showError(err, e); }
  });
  return [h('table#departments-table.grid', h('thead', h('tr', [t('admin.dep.name'), t('admin.dep.sort'), t('admin.dep.members'), ''].map((x) => h('th', x)))),
    h('tbody', departments.map(row))), add];
}

// ---------- Base logic ----------

async function settings() {
  const s = await api('GET', '/api/v1/settings');
  const err = errorBox('settings-error');
  const el = {
    auto_add: h('input#s-auto_add', { type: 'checkbox', checked: s.auto_add }),
    record_type: h('select#s-record_type', h('option', { value: 'client', selected: s.record_type === 'client' }, t('admin.set.client')), h('option', { value: 'contact', selected: s.record_type === 'contact' }, t('admin.set.contact'))),
    auto_assign: h('input#s-auto_assign', { type: 'checkbox', checked: s.auto_assign }),
    auto_close_minutes: h('input#s-auto_close_minutes', { type: 'number', min: 0, value: s.auto_close_minutes }),
    default_capacity: h('input#s-default_capacity', { type: 'number', min: 0, max: 1000, value: s.default_capacity }),
    first_contact_text: h('textarea#s-first_contact_text', { rows: 3 }, s.first_contact_text || ''),
    offline_text: h('textarea#s-offline_text', { rows: 3 }, s.offline_text || ''),
    closing_text: h('textarea#s-closing_text', { rows: 3 }, s.closing_text || ''),
  };
  const f = h('form#settings-form.card.form',
    h('label.check', el.auto_add, t('admin.set.auto_add')), h('label', t('admin.set.record_type'), el.record_type),
    h('label.check', el.auto_assign, t('admin.set.auto_assign')),
    h('label', t('admin.set.auto_close'), el.auto_close_minutes, h('small.muted', t('admin.set.auto_close_help'))),
    h('label', t('admin.set.default_capacity'), el.default_capacity),
    h('label', t('admin.set.first_contact'), el.first_contact_text), h('label', t('admin.set.offline'), el.offline_text), h('label', t('admin.set.closing'), el.closing_text),
    err, h('div.buttons', h('button.primary#settings-save', { type: 'submit' }, t('admin.save'))));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault(); showError(err, null);
    const body = { ...s, auto_add: el.auto_add.checked, record_type: el.record_type.value, auto_assign: el.auto_assign.checked,
      auto_close_minutes: Number(el.auto_close_minutes.value), default_capacity: Number(el.default_capacity.value),
      first_contact_text: el.first_contact_text.value, offline_text: el.offline_text.value, closing_text: el.closing_text.value };
    try { await api('PUT', '/api/v1/settings', body); toast(t('admin.saved')); } catch (e) { showError(err, e); }
  });
  return [f];
}

// ---------- Realtime ----------

async function realtime() {
  const r = await api('GET', '/api/v1/realtime');
  const err = errorBox('realtime-error');
  const result = h('div#rt-result', { role: 'status' });
  const mode = (v) => h('label.check', h('input', { type: 'radio', name: 'rt-mode', value: v, id: 'rt-mode-' + v, checked: r.mode === v }), t('admin.rt.' + v));
  const devID = h('input#rt-dev_id', { type: 'number', min: 0, value: r.dev_id || '' });
  const devKey = h('input#rt-dev_key', { type: 'password', autocomplete: 'new-password', placeholder: r.dev_key_set ? t('admin.ch.secret_set') : '' });
  const host = h('input#rt-host', { type: 'text', value: r.host || '', placeholder: 'app.comet-server.ru:3306' });
  const node = h('input#rt-node', { type: 'text', value: r.node || '', placeholder: 'app.comet-server.ru' });
  const body = () => ({ mode: (document.querySelector('input[name=rt-mode]:checked') || {}).value || 'builtin',
    dev_id: Number(devID.value || 0), host: host.value.trim(), node: node.value.trim(), dev_key: devKey.value.trim() });
  const test = h('button.secondary#rt-test', { type: 'button', onclick: async () => {
    showError(err, null); result.replaceChildren(h('span.muted', t('admin.rt.testing')));
    try { await api('POST', '/api/v1/realtime/test', body()); result.replaceChildren(h('span.state.ok#rt-ok', t('admin.rt.test_ok'))); } catch (e) { result.replaceChildren(); showError(err, e); }
  } }, t('admin.rt.test'));
  const f = h('form#realtime-form.card.form', mode('builtin'), mode('comet'),
    h('fieldset', h('legend', 'comet-server.ru'), h('small.muted', t('admin.rt.help')),
      h('label', 'Dev ID', devID),
      h('label', h('span', 'Dev KEY', r.dev_key_set ? h('span.badge', t('admin.ch.secret_set')) : null), devKey),
      h('label', t('admin.rt.host'), host),
      h('label', t('admin.rt.node'), node, h('small.muted', t('admin.rt.node_help')))),
    err, h('div.buttons', test, h('button.primary#rt-save', { type: 'submit' }, t('admin.save'))), result);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault(); showError(err, null);
    try { await api('PUT', '/api/v1/realtime', body()); toast(t('admin.saved')); render(); } catch (e) { showError(err, e); }
  });
  return [f];
}

// ---------- API tokens and sessions ----------

async function tokens() {
  const [tok, ses] = await Promise.all([api('GET', '/api/v1/tokens'), api('GET', '/api/v1/sessions')]);
  const revoke = (path, id) => h('button.danger', { type: 'button', onclick: async () => {
    try { await api('DELETE', `${path}/${id}`); render(); } catch (e) { toast(e.message, 'error'); }
  } }, t('admin.tok.revoke'));
  const err = errorBox('token-error');
  const name = h('input#token-name', { type: 'text', required: true, maxLength: 100 });
  const shown = h('div#token-created', { role: 'status' });
  const f = h('form#token-form.card.form', h('h2', t('admin.tok.create')), h('label', t('admin.tok.name'), name), err,
    h('div.buttons', h('button.primary', { type: 'submit' }, t('admin.tok.create'))), shown);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault(); showError(err, null);
    try {
      const r = await api('POST', '/api/v1/tokens', { name: name.value });
      shown.replaceChildren(h('p', t('admin.tok.shown_once')), h('textarea.code#token-value', { readOnly: true, rows: 2 }, r.token));
    } catch (e) { showError(err, e); }
  });
  const table = (id, list, path, current) => h('table.grid', { id },
    h('thead', h('tr', [t('admin.tok.name'), t('admin.tok.created'), t('admin.tok.last_used'), 'IP', ''].map((x) => h('th', x)))),
    h('tbody', list.map((s) => h('tr', h('td', s.name || s.user_agent || '—', s.id === current ? h('span.badge', t('admin.tok.this')) : null),
      h('td', fmtTime(s.created_at)), h('td', fmtTime(s.last_used_at)), h('td', s.ip), h('td', s.id === current ? '' : revoke(path, s.id))))));
  return [h('h2', t('admin.tok.tokens')), table('tokens-table', tok.sessions, '/api/v1/tokens', tok.current), f,
    h('h2', t('admin.tok.sessions')), table('sessions-table', ses.sessions, '/api/v1/sessions', ses.current)];
}

// ---------- Audit log ----------

async function audit() {
  const q = new URLSearchParams(location.search);
  const inputs = {
    actor: h('input#audit-actor', { type: 'text', value: q.get('actor') || '', placeholder: t('admin.audit.actor_hint') }),
    target_type: h('select#audit-entity', ['', 'channel', 'user', 'department', 'settings', 'session', 'client'].map((v) => h('option', { value: v, selected: q.get('target_type') === v }, v || t('admin.audit.any')))),
    action: h('input#audit-action', { type: 'text', value: q.get('action') || '', placeholder: 'channel.' }),
    since: h('input#audit-since', { type: 'date', value: q.get('since') || '' }),
    until: h('input#audit-until', { type: 'date', value: q.get('until') || '' }),
  };
  const f = h('form#audit-filter.filters-bar', { method: 'get' },
    h('label', t('admin.audit.actor'), inputs.actor), h('label', t('admin.audit.entity'), inputs.target_type), h('label', t('admin.audit.action'), inputs.action),
    h('label', t('admin.audit.since'), inputs.since), h('label', t('admin.audit.until'), inputs.until),
    h('button.secondary', { type: 'submit' }, t('admin.audit.filter')));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, el] of Object.entries(inputs)) if (el.value) p.set(k, el.value);
    history.replaceState(null, '', '?' + p);
    render();
  });
  const p = new URLSearchParams();
  for (const k of ['actor', 'target_type', 'action', 'since', 'until']) if (q.get(k)) p.set(k, q.get(k));
  if (q.get('before')) p.set('before', q.get('before'));
  const { entries } = await api('GET', '/api/v1/audit?' + p);
  // Older entries: the same filter, before the last one shown (100 per page).
  let older = null;
  if (entries.length >= 100) {
    const next = new URLSearchParams(p);
    next.set('before', entries[entries.length - 1].id);
    older = h('a#audit-older', { href: '?' + next }, t('admin.audit.older'));
  }
  return [f, h('table#audit-table.grid',
    h('thead', h('tr', [t('admin.audit.when'), t('admin.audit.actor'), t('admin.audit.action'), t('admin.audit.entity'), t('admin.audit.details')].map((x) => h('th', x)))),
    h('tbody', entries.length ? entries.map((e) => h('tr', h('td', fmtTime(e.at)), h('td', e.user_email || '—'), h('td', e.action),
      h('td', e.target_type + (e.target_id ? ' #' + e.target_id : '')), h('td', h('code.details', JSON.stringify(e.details))))) : h('tr', h('td.muted', { colSpan: 5 }, t('admin.audit.none'))))), older];
}

const sections = { channels, operators, departments: departmentsPage, settings, realtime, tokens, audit };

async function render() {
  const fn = sections[root.dataset.section];
  if (!fn) return;
  try {
    content.replaceChildren(...(await fn()).filter(Boolean));
  } catch (e) {
    content.replaceChildren(h('p.error', { role: 'alert' }, e.message));
  }
  root.dataset.ready = '1';
}

render();
