package push

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/omnichat/omnichat/internal/store"
)

// Msg is one event as a subscriber receives it, with a stream id ("epoch-seq") so a
// reconnecting client can tell whether it missed something.
type Msg struct {
	ID    string
	Event Event
}

// Sub is one open stream: an operator's, or a widget visitor's.
type Sub struct {
	UserID    int64
	Admin     bool
	VisitorID int64
	C         chan Msg
	// Dropped is set when the buffer overflowed: the stream sends "resync" and closes.
	Dropped atomic.Bool
	// Closed is closed when the hub shuts down: streams end so the server can stop.
	Closed <-chan struct{}
	depts  atomic.Pointer[map[int64]bool]
}

// Hub fans committed changes out to this instance's subscribers.
type Hub struct {
	Pool     *pgxpool.Pool
	Log      *slog.Logger
	Instance string
	// OnPresence is called when an operator's first stream opens or last one closes.
	OnPresence func(userID int64, online bool)
	// Buffer is each subscriber's queue length.
	Buffer int
	// OnEvent, when set, also receives the notifications this instance produced (the
	// comet-server.ru forwarder); with Own nil it receives every notification.
	// It must not block.
	OnEvent func(Event)
	// Own is this instance's pool backends (see Backends).
	Own *Backends

	epoch string
	seq   atomic.Uint64
	mu    sync.Mutex
	subs  map[*Sub]struct{}
	conns map[int64]int // open streams per operator
	ready chan struct{}
	once  sync.Once

	presMu sync.Mutex // serializes presence writes (see writePresence)

	closed    chan struct{}
	closeOnce sync.Once
}

// NewHub returns a hub for this instance.
func NewHub(pool *pgxpool.Pool, log *slog.Logger, instance string) *Hub {
	return &Hub{Pool: pool, Log: log, Instance: instance, Buffer: 256,
		epoch: strconv.FormatInt(time.Now().UnixNano(), 36), subs: map[*Sub]struct{}{}, conns: map[int64]int{}, ready: make(chan struct{}), closed: make(chan struct{})}
}

// Ready is closed once the hub LISTENs (tests wait for it before sending).
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Epoch identifies this hub's event ids.
func (h *Hub) Epoch() string { return h.epoch }

// CloseStreams ends every open stream (at shutdown: SSE requests never finish by themselves).
func (h *Hub) CloseStreams() { h.closeOnce.Do(func() { close(h.closed) }) }

// Run LISTENs until ctx ends, reconnecting after failures, and keeps presence fresh.
// It returns after this instance's presence rows are cleared.
func (h *Hub) Run(ctx context.Context) {
	hb := make(chan struct{})
	go func() { h.heartbeat(ctx); close(hb) }()
	defer func() { <-hb }()
	backoff := time.Second
	for ctx.Err() == nil {
		err := h.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		h.Log.Warn("push: listen connection lost; reconnecting", "err", err, "in", backoff)
		// Whatever was notified meanwhile is lost to us: tell every client to refetch.
		h.deliver(Event{Kind: "resync"}, true)
		if h.OnEvent != nil {
			h.OnEvent(Event{Kind: "resync"})
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (h *Hub) listen(ctx context.Context) error {
	conn, err := h.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if err := store.Listen(ctx, conn.Conn(), Channel); err != nil {
		return err
	}
	h.once.Do(func() { close(h.ready) })
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			// The connection's state is unknown after an interrupted wait: don't reuse it.
			_ = conn.Conn().Close(context.Background())
			return err
		}
		var ev Event
		if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil {
			h.Log.Warn("push: bad notification", "err", err)
			continue
		}
		if ev.Kind == "operator.updated" {
			h.refreshDepartments(ctx, ev.UserID)
		}
		h.deliver(ev, false)
		if h.OnEvent != nil && (h.Own == nil || h.Own.Has(n.PID)) {
			h.OnEvent(ev)
		}
	}
}

// Publish delivers an event to local subscribers without the database (used for events
// that only matter to this instance).
func (h *Hub) Publish(ev Event) { h.deliver(ev, false) }

func (h *Hub) deliver(ev Event, all bool) {
	msg := Msg{ID: h.epoch + "-" + strconv.FormatUint(h.seq.Add(1), 10), Event: ev}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !all && !visible(s, ev) {
			continue
		}
		select {
		case s.C <- msg:
		default:
			// A slow client must not hold up the others: drop it; it resyncs on reconnect.
			s.Dropped.Store(true)
		}
	}
}

// visible decides whether a subscriber may receive an event.
func visible(s *Sub, ev Event) bool {
	if s.VisitorID != 0 {
		return ev.VisitorID == s.VisitorID && (ev.Kind == "message.created" || ev.Kind == "message.updated")
	}
	if ev.Kind == "resync" || s.Admin {
		return true
	}
	if ev.UserID != 0 && ev.UserID == s.UserID {
		return true
	}
	if ev.Kind == "operator.updated" || ev.Kind == "operator.presence" {
		return true // names and statuses of colleagues, for transfer lists
	}
	if ev.DialogID == 0 {
		return false
	}
	if ev.AssigneeID != nil && *ev.AssigneeID == s.UserID {
		return true
	}
	for _, p := range ev.Participants {
		if p == s.UserID {
			return true
		}
	}
	if ev.DepartmentID == nil {
		return true
	}
	d := s.depts.Load()
	return d != nil && (*d)[*ev.DepartmentID]
}

// Subscribe opens an operator's stream.
func (h *Hub) Subscribe(ctx context.Context, u store.User) (*Sub, func(), error) {
	s := &Sub{UserID: u.ID, Admin: u.Role == "admin", C: make(chan Msg, h.Buffer), Closed: h.closed}
	depts, err := h.departments(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	s.depts.Store(&depts)
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.conns[u.ID]++
	n := h.conns[u.ID]
	h.mu.Unlock()
	h.writePresence(ctx, u.ID)
	if n == 1 && h.OnPresence != nil {
		h.OnPresence(u.ID, true)
	}
	return s, func() { h.unsubscribe(s) }, nil
}

// SubscribeVisitor opens a widget visitor's stream.
func (h *Hub) SubscribeVisitor(visitorID int64) (*Sub, func()) {
	s := &Sub{VisitorID: visitorID, C: make(chan Msg, h.Buffer), Closed: h.closed}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
	}
}

func (h *Hub) unsubscribe(s *Sub) {
	h.mu.Lock()
	delete(h.subs, s)
	h.conns[s.UserID]--
	n := h.conns[s.UserID]
	if n <= 0 {
		delete(h.conns, s.UserID)
	}
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.writePresence(ctx, s.UserID)
	if n <= 0 && h.OnPresence != nil {
		h.OnPresence(s.UserID, false)
	}
}

// writePresence stores the operator's current stream count. Writes are serialized and each
// reads the count at write time: concurrent opens and closes written in another order than
// they happened left a stale row (say, connections 1 after the last stream closed) that the
// heartbeat then kept fresh forever, so a gone operator stayed eligible for dialogs.
func (h *Hub) writePresence(ctx context.Context, userID int64) {
	h.presMu.Lock()
	defer h.presMu.Unlock()
	h.mu.Lock()
	n := h.conns[userID]
	h.mu.Unlock()
	if err := store.SetPresence(ctx, h.Pool, userID, h.Instance, n); err != nil {
		h.Log.Error("push: set presence", "err", err)
	}
}

func (h *Hub) departments(ctx context.Context, userID int64) (map[int64]bool, error) {
	ids, err := store.UserDepartments(ctx, h.Pool, userID)
	if err != nil {
		return nil, fmt.Errorf("push: departments: %w", err)
	}
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m, nil
}

func (h *Hub) refreshDepartments(ctx context.Context, userID int64) {
	h.mu.Lock()
	var mine []*Sub
	for s := range h.subs {
		if s.UserID == userID && s.VisitorID == 0 {
			mine = append(mine, s)
		}
	}
	h.mu.Unlock()
	if len(mine) == 0 {
		return
	}
	// A deactivated operator's open streams end: marked dropped, each closes (with "resync")
	// on this very event, and the reconnect is refused.
	if u, err := store.UserByID(ctx, h.Pool, userID); err == nil && !u.Active {
		for _, s := range mine {
			s.Dropped.Store(true)
		}
		return
	}
	d, err := h.departments(ctx, userID)
	if err != nil {
		h.Log.Error("push: refresh departments", "err", err)
		return
	}
	for _, s := range mine {
		s.depts.Store(&d)
	}
}

// RefreshPresence (the heartbeat's work) rewrites this instance's presence rows from its
// open streams: touching the rows alone never brought back one that another instance had
// expired while this one stalled, and the operator stayed "absent" with a stream open.
func (h *Hub) RefreshPresence(ctx context.Context) error {
	h.presMu.Lock()
	h.mu.Lock()
	users := make([]int64, 0, len(h.conns))
	conns := make([]int32, 0, len(h.conns))
	for u, n := range h.conns {
		users, conns = append(users, u), append(conns, int32(n))
	}
	h.mu.Unlock()
	back, err := store.RefreshPresence(ctx, h.Pool, h.Instance, users, conns)
	h.presMu.Unlock()
	for _, id := range back {
		if h.OnPresence != nil {
			h.OnPresence(id, true)
		}
	}
	return err
}

// heartbeat keeps this instance's presence rows fresh and expires those of dead instances.
func (h *Hub) heartbeat(ctx context.Context) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := store.ClearPresence(c, h.Pool, h.Instance); err != nil {
				h.Log.Warn("push: clear presence", "err", err)
			}
			return
		case <-t.C:
		}
		if err := h.RefreshPresence(ctx); err != nil {
			h.Log.Warn("push: presence heartbeat", "err", err)
		}
		gone, err := store.ExpiredPresenceUsers(ctx, h.Pool)
		if err != nil {
			h.Log.Warn("push: expire presence", "err", err)
		}
		for _, id := range gone {
			if h.OnPresence != nil {
				h.OnPresence(id, false)
			}
		}
	}
}
