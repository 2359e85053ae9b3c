package pipeline

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/example"
)

// TestStreamHelloAndEventIDs: every event has an id; a client reconnecting with
// Last-Event-ID is greeted with hello {"resumed":true} (its cue to refetch), a fresh one
// with {"resumed":false}; a stream needs a session.
func TestStreamHelloAndEventIDs(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)
	deliver(t, fake, example.NewMessageUpdate(1, 1, "u-1", "", "A", "", "hi", time.Now()))
	ev := stream.Next(t, "dialog.created", 10*time.Second)
	if ev.ID == "" {
		t.Fatal("an event without an id: a reconnecting client could not say where it was")
	}

	hello := func(lastID string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", inst.URL+"/api/v1/stream", nil)
		req.Header.Set("Authorization", "Bearer "+admin.Token)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("stream: %d %q", resp.StatusCode, ct)
		}
		sc := bufio.NewScanner(resp.Body)
		seenHello := false
		for sc.Scan() {
			line := sc.Text()
			if line == "event: hello" {
				seenHello = true
			}
			if seenHello && strings.HasPrefix(line, "data: ") {
				return line[6:]
			}
		}
		t.Fatal("no hello")
		return ""
	}
	if got := hello(ev.ID); got != `{"resumed":true}` {
		t.Errorf("reconnect hello %s", got)
	}
	if got := hello(""); got != `{"resumed":false}` {
		t.Errorf("fresh hello %s", got)
	}
	if code, _ := post(t, "GET", inst.URL+"/api/v1/stream", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("stream without a session: %d", code)
	}
}
