// live.js: one realtime connection per page. The server sends small hints
// ({k, d, m, dep, a, p, u, v}); "hello" (every (re)connect) and "resync" (we missed
// something) mean: refetch what is shown. The transport is the SSE stream, or
// comet-server.ru when the server is configured for it (comet.js).

const KINDS = ['dialog.created', 'dialog.updated', 'message.created', 'message.updated',
  'operator.updated', 'operator.presence'];

/**
 * connect opens the stream. handlers: {event(ev), sync(), state('up'|'down'|'connecting')}.
 * Returns a function that closes it.
 */
export function connectSSE(handlers) {
  let es = null;
  let closed = false;
  let retry = 1000;
  let timer = null;

  const open = () => {
    if (closed) return;
    handlers.state('connecting');
    es = new EventSource('/api/v1/stream', { withCredentials: true });
    es.addEventListener('hello', () => { retry = 1000; handlers.state('up'); handlers.sync(); });
    es.addEventListener('resync', () => handlers.sync());
    for (const k of KINDS) {
      es.addEventListener(k, (e) => {
        let ev;
        try { ev = JSON.parse(e.data); } catch { return; }
        handlers.event(ev);
      });
    }
    es.onerror = () => {
      handlers.state('down');
      // The browser reconnects by itself unless the stream was refused (e.g. signed out,
      // or a proxy error): then we retry with backoff, and the API helper handles a 401.
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        clearTimeout(timer);
        timer = setTimeout(async () => {
          try {
            const r = await fetch('/api/v1/me', { credentials: 'same-origin' });
            if (r.status === 401) { location.href = '/login?next=' + encodeURIComponent(location.pathname); return; }
          } catch { /* offline: keep trying */ }
          open();
        }, retry);
        retry = Math.min(retry * 2, 30000);
      }
    };
  };
  open();
  return () => { closed = true; clearTimeout(timer); es && es.close(); };
}
