// comet.js: the inbox's live connection through comet-server.ru (CppComet) instead of SSE.
// A minimal client for comet's documented WebSocket protocol (see docs comet.md): it
// authenticates with the JWT our server signed, receives this operator's private messages
// (pipe "msg") and never evaluates code sent by the comet server. Events are hints: on every
// (re)connect the page refetches from our API (comet may queue or repeat messages).

function uuid() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * connectComet(cfg, handlers): cfg = {dev_id, user_id, user_key, node, wss}.
 * handlers as in live.js: {event, sync, state}.
 */
export function connectComet(cfg, handlers) {
  let ws = null;
  let closed = false;
  let retry = 1000;
  let timer = null;
  const seen = new Set(); // _cometApi_uuid of recent events: comet may replay its queue
  const id = uuid();

  const open = () => {
    if (closed) return;
    handlers.state('connecting');
    const scheme = cfg.wss || location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${scheme}://${cfg.node}/ws/sesion=${encodeURIComponent(cfg.user_key)}&myid=${cfg.user_id}&devid=${cfg.dev_id}&v=4.08&uuid=${id}&api=js`;
    try {
      ws = new WebSocket(url);
    } catch {
      schedule();
      return;
    }
    ws.onmessage = (e) => {
      let f;
      try { f = JSON.parse(e.data); } catch { return; }
      if (f.pipe === 'sys' && f.event === 'serverInfo') {
        if (f.authorized) { retry = 1000; handlers.state('up'); handlers.sync(); }
        else { handlers.state('down'); ws.close(); }
        return;
      }
      if (f.pipe !== 'msg') return;
      let data = f.data;
      if (typeof data === 'string') { try { data = JSON.parse(data); } catch { return; } }
      if (!data || typeof data !== 'object') return;
      const key = data._cometApi_uuid;
      if (key) {
        if (seen.has(key)) return;
        seen.add(key);
        if (seen.size > 500) seen.delete(seen.values().next().value);
      }
      if (data.k === 'resync' || data.k === 'hello') handlers.sync();
      else handlers.event(data);
    };
    ws.onclose = () => { handlers.state('down'); schedule(); };
  };
  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(open, retry);
    retry = Math.min(retry * 2, 30000);
  };
  open();
  // Our SSE stream is what marks an operator present (for assignment); without it, say so
  // every 20 s (the server forgets a silent browser after 45 s).
  const ping = () => fetch('/api/v1/presence', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': document.body.dataset.csrf || '' } }).catch(() => {});
  ping();
  const beat = setInterval(ping, 20000);
  return () => { closed = true; clearTimeout(timer); clearInterval(beat); ws && ws.close(); };
}
