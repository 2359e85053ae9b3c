package push

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

func ptr(n int64) *int64 { return &n }

func TestVisible(t *testing.T) {
	op := &Sub{UserID: 5}
	op.depts.Store(&map[int64]bool{2: true})
	admin := &Sub{UserID: 1, Admin: true}
	visitor := &Sub{VisitorID: 44}
	cases := []struct {
		name string
		sub  *Sub
		ev   Event
		want bool
	}{
		{"own department's queue", op, Event{Kind: "message.created", DialogID: 1, DepartmentID: ptr(2)}, true},
		{"another department", op, Event{Kind: "message.created", DialogID: 1, DepartmentID: ptr(3)}, false},
		{"assigned to me in another department", op, Event{Kind: "message.created", DialogID: 1, DepartmentID: ptr(3), AssigneeID: ptr(5)}, true},
		{"participant in another department", op, Event{Kind: "message.updated", DialogID: 1, DepartmentID: ptr(3), Participants: []int64{9, 5}}, true},
		{"no dialog, not mine", op, Event{Kind: "visitor.updated", VisitorID: 44}, false},
		{"meant for me", op, Event{Kind: "dialog.updated", UserID: 5}, true},
		{"colleague's presence", op, Event{Kind: "operator.presence", UserID: 6}, true},
		{"resync", op, Event{Kind: "resync"}, true},
		{"admin sees another department", admin, Event{Kind: "message.created", DialogID: 1, DepartmentID: ptr(3)}, true},
		{"visitor: own message", visitor, Event{Kind: "message.created", DialogID: 1, VisitorID: 44}, true},
		{"visitor: another visitor", visitor, Event{Kind: "message.created", DialogID: 1, VisitorID: 45}, false},
		{"visitor: internal event", visitor, Event{Kind: "dialog.updated", DialogID: 1, VisitorID: 44}, false},
	}
	for _, c := range cases {
		if got := visible(c.sub, c.ev); got != c.want {
			t.Errorf("%s: visible = %v, want %v", c.name, got, c.want)
		}
	}
}

// A subscriber that does not read is dropped (and resyncs) instead of blocking the others;
// event ids grow within an epoch so a client can tell order.
func TestSlowSubscriberDroppedOthersServed(t *testing.T) {
	h := NewHub(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	h.Buffer = 4
	slow := &Sub{UserID: 1, Admin: true, C: make(chan Msg, h.Buffer)}
	fast := &Sub{UserID: 2, Admin: true, C: make(chan Msg, 100)}
	h.subs[slow], h.subs[fast] = struct{}{}, struct{}{}
	for i := range 10 {
		h.deliver(Event{Kind: "message.created", DialogID: int64(i + 1)}, false)
	}
	if !slow.Dropped.Load() {
		t.Fatal("a subscriber with a full buffer was not marked dropped")
	}
	if fast.Dropped.Load() || len(fast.C) != 10 {
		t.Fatalf("the fast subscriber got %d of 10 events (dropped %v)", len(fast.C), fast.Dropped.Load())
	}
	prev := ""
	for range 10 {
		m := <-fast.C
		if !strings.HasPrefix(m.ID, h.Epoch()+"-") {
			t.Fatalf("event id %q is not in the hub's epoch %q", m.ID, h.Epoch())
		}
		if prev != "" && len(m.ID) == len(prev) && m.ID <= prev {
			t.Fatalf("event ids not increasing: %q after %q", m.ID, prev)
		}
		prev = m.ID
	}
}
