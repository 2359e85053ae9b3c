package httpapi

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/omnichat/omnichat/internal/push"
)

// cometSettings turns the saved realtime settings (admin_realtime.go: mode "comet", Dev ID,
// sealed Dev KEY, CometQL host, WebSocket node) into one publisher. The row is read on
// every use (a primary-key lookup; a cache would let a page or an event miss a change that
// another instance saved a moment ago); the publisher and its connection are kept while
// the settings stay the same.
type cometSettings struct {
	s   *Server
	mu  sync.Mutex
	pub *push.Comet // nil while the built-in transport is used
	at  time.Time   // when the forwarder last read the settings
}

// forwarderRecheck bounds how often the event forwarder rereads the settings: under load
// it sees many events a second, and a change may take this long to reach it.
const forwarderRecheck = time.Second

// CometPublisher returns the comet-server.ru publisher while that transport is configured
// (nil otherwise), rereading the settings at most once a second: the event forwarder's
// Load (wired in internal/app).
func (s *Server) CometPublisher(ctx context.Context) (push.Publisher, error) {
	return s.comet.publisher(ctx)
}

// close drops the comet connection (before the pool closes).
func (cs *cometSettings) close() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.pub != nil {
		cs.pub.Close()
		cs.pub = nil
	}
}

// current returns the publisher, or nil when comet is off (or not completely configured).
func (cs *cometSettings) current(ctx context.Context) (*push.Comet, error) {
	r, key, err := cs.s.RealtimeSettings(ctx)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var cfg *push.CometConfig
	if r.Mode == "comet" && r.DevID > 0 && key != "" {
		cfg = &push.CometConfig{DevID: r.DevID, DevKey: key, Addr: r.Host, Node: r.Node}
	}
	next := cs.pub
	if cfg != nil {
		want := push.NewComet(*cfg)
		if next == nil || next.Config() != want.Config() {
			next = want
		}
	} else {
		next = nil
	}
	if cs.pub != nil && cs.pub != next {
		cs.pub.Close()
	}
	cs.pub = next
	return cs.pub, nil
}

func (cs *cometSettings) publisher(ctx context.Context) (push.Publisher, error) {
	cs.mu.Lock()
	fresh, pub := time.Since(cs.at) < forwarderRecheck, cs.pub
	cs.mu.Unlock()
	if fresh {
		if pub == nil {
			return nil, nil
		}
		return pub, nil
	}
	pub, err := cs.current(ctx)
	cs.mu.Lock()
	cs.at = time.Now()
	cs.mu.Unlock()
	if err != nil || pub == nil {
		return nil, err
	}
	return pub, nil
}

// browser returns the inbox's comet connection for user uid as JSON, and the WebSocket
// host the page's CSP must allow; "" when comet is off.
func (cs *cometSettings) browser(ctx context.Context, uid int64) (string, string, error) {
	pub, err := cs.current(ctx)
	if err != nil || pub == nil {
		return "", "", err
	}
	key, err := pub.Auth(uid)
	if err != nil {
		return "", "", err
	}
	cfg := pub.Config()
	b, _ := json.Marshal(map[string]any{"dev_id": cfg.DevID, "user_id": uid, "user_key": key, "node": cfg.Node})
	return string(b), cfg.Node, nil
}
