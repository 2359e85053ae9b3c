package vk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/vk"
)

// FuzzEventFilter feeds arbitrary bodies to EventFilter. It must never panic, and it may
// accept a body only when the body itself carries the channel's secret key and community:
// nothing unsigned ever gets through. A channel with another secret must refuse every body
// signed for this one.
func FuzzEventFilter(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ch := testChannel()
	key := vk.CallbackSecret(ch.Secret)
	f.Add([]byte(`{"type":"message_new","group_id":229000001,"secret":"` + key + `","object":{"message":{"from_id":1,"peer_id":1,"conversation_message_id":1,"text":"x","attachments":[{"type":"wall","wall":{"id":1,"to_id":-5}}],"fwd_messages":[{"text":"y","fwd_messages":[{"text":"z"}]}]}}}`))
	f.Add([]byte(`{"type":"message_event","group_id":229000001,"secret":"` + key + `","object":{"user_id":1,"event_id":"e","payload":"\"x\""}}`))
	f.Add([]byte(`{"type":"message_new","group_id":229000001,"SECRET":"` + key + `","secret":"nope"}`))
	f.Add([]byte(`{}`))

	p := vk.New()
	other := ch
	other.Secret = "a-completely-different-channel-secret-0123456789"
	ctx := context.Background()
	// NUL in the text and the button payload (PostgreSQL refuses it; the core strips it).
	f.Add([]byte(`{"type":"message_new","group_id":229000001,"secret":"` + key + `","object":{"message":{"from_id":1,"peer_id":1,"conversation_message_id":7,"date":1732190400,"text":"Hel\u0000lo","payload":"{\"b\":\"\\u0000\"}"}}}`))
	f.Add([]byte(`{"type":"message_event","group_id":229000001,"secret":"` + key + `","object":{"user_id":1,"peer_id":1,"event_id":"e\u0000","payload":"\"\\u0000\""}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := &providers.Request{Method: "POST", Body: body}
		evs, err := p.EventFilter(ctx, ch, req)
		if err == nil {
			var e struct {
				GroupID int64   `json:"group_id"`
				Secret  *string `json:"secret"`
			}
			if json.Unmarshal(body, &e) != nil || e.Secret == nil || *e.Secret != key || e.GroupID != 229000001 {
				t.Fatalf("accepted a body without the channel's secret and community: %q", body)
			}
			for _, ev := range evs {
				if ev.Kind == "" || ev.UserID == "" && ev.Kind != providers.EventRead {
					t.Fatalf("event without kind or user: %+v", ev)
				}
			}
		} else if !errors.Is(err, providers.ErrUnauthorized) && !errors.Is(err, providers.ErrMalformed) {
			t.Fatalf("error %v is neither ErrUnauthorized nor ErrMalformed", err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte(key)) {
			t.Fatalf("error %q carries the secret", err)
		}
		if _, err := p.EventFilter(ctx, other, req); err == nil {
			t.Fatalf("a channel with another secret accepted %q", body)
		}
		// The handshake path must not panic either.
		_, _, _ = p.CallbackServerConfirmation(ctx, ch, req)
	})
}
