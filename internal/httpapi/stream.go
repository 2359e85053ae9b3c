package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/push"
)

// streamHeartbeat keeps proxies from closing idle streams and detects dead clients.
const streamHeartbeat = 15 * time.Second

// stream is GET /api/v1/stream: the operator's server-sent events. The first event,
// "hello", tells the client to refetch what it shows; so does "resync" (after a gap). A
// slow client is dropped with "resync" rather than holding up the others.
func (s *Server) stream(c echo.Context) error {
	u := identity(c).User
	sub, done, err := s.Hub.Subscribe(c.Request().Context(), u)
	if err != nil {
		return err
	}
	defer done()
	return serveSSE(c, sub)
}

// serveSSE writes a subscription as an event stream until the client leaves.
func serveSSE(c echo.Context, sub *push.Sub) error {
	return writeSSE(c, sub, c.Request().Header.Get("Last-Event-ID") != "", func(m push.Msg) string {
		b, _ := json.Marshal(m.Event) // small struct of ints and strings
		return fmt.Sprintf("id: %s\nevent: %s\ndata: %s\n\n", m.ID, m.Event.Kind, b)
	})
}

// writeSSE is the stream loop shared by operators' and visitors' streams: hello first,
// a heartbeat comment, "resync" and the end when the subscriber fell behind, and format
// for each event.
func writeSSE(c echo.Context, sub *push.Sub, resumed bool, format func(push.Msg) string) error {
	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, "retry: 3000\nevent: hello\ndata: {\"resumed\":%t}\n\n", resumed); err != nil {
		return nil
	}
	w.Flush()
	tick := time.NewTicker(streamHeartbeat)
	defer tick.Stop()
	ctx := c.Request().Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Closed:
			return nil
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
			w.Flush()
		case m := <-sub.C:
			if sub.Dropped.Load() {
				_, _ = fmt.Fprint(w, "event: resync\ndata: {}\n\n")
				w.Flush()
				return nil
			}
			if _, err := fmt.Fprint(w, format(m)); err != nil {
				return nil
			}
			w.Flush()
		}
	}
}
