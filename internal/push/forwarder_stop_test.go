package push

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// After Stop the forwarder touches nothing (it reads the database, which closes next), and
// Stop waits for the event in flight.
func TestCometForwarderStop(t *testing.T) {
	var loads atomic.Int32
	release := make(chan struct{})
	f := &CometForwarder{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Load: func(ctx context.Context) (Publisher, error) {
		loads.Add(1)
		<-release
		return nil, nil // comet off
	}}
	f.Handle(Event{Kind: "dialog.updated", DialogID: 1})
	deadline := time.Now().Add(5 * time.Second)
	for loads.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() { f.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while an event was still being forwarded")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	f.Handle(Event{Kind: "dialog.updated", DialogID: 2})
	time.Sleep(20 * time.Millisecond)
	if n := loads.Load(); n != 1 {
		t.Fatalf("settings loaded %d times, want 1 (nothing after Stop)", n)
	}
}
