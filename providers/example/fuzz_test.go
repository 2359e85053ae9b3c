package example_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/example"
)

// FuzzEventFilter feeds EventFilter arbitrary bodies, seeded from testdata. For every input:
// no panic; unsigned or forged requests are always ErrUnauthorized; a signed one either
// gives an error wrapping ErrMalformed or events that satisfy the contract.
//
//	go test ./providers/example/ -run='^$' -fuzz=FuzzEventFilter -fuzztime=20s
func FuzzEventFilter(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"updates":[{"type":"message","message":{"id":1,"from":{"id":"u"},"text":"x"}},{"type":"read","receipt":{"watermark":1}}]}`))

	p := example.New()
	ch := testChannel(providers.Settings{example.SettingToken: "t"})
	ctx := context.Background()
	// NUL in the text, every name and a file name (PostgreSQL refuses it; the core strips it).
	f.Add([]byte(`{"updates":[{"update_id":7,"type":"message","message":{"id":7,"chat_id":"u\u0000","from":{"id":"u\u0000","first_name":"An\u0000na","last_name":"Pe\u0000trova","username":"an\u0000na"},"date":1732190400,"text":"Hel\u0000lo","attachments":[{"type":"file","file_id":"f\u0000","name":"a\u0000.txt"}]}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for name, req := range map[string]*providers.Request{
			"unsigned": {Method: http.MethodPost, Body: body},
			"forged":   forged(ch, body),
		} {
			if evs, err := p.EventFilter(ctx, ch, req); !errors.Is(err, providers.ErrUnauthorized) || evs != nil {
				t.Fatalf("%s request accepted: %v, %+v", name, err, evs)
			}
		}

		evs, err := p.EventFilter(ctx, ch, signed(ch, body))
		if err != nil {
			if !errors.Is(err, providers.ErrMalformed) {
				t.Fatalf("a signed body gave an error that is not ErrMalformed: %v", err)
			}
			return
		}
		for _, ev := range evs {
			switch ev.Kind {
			case providers.EventMessage, providers.EventEdited:
				if ev.ExternalID == "" || ev.UserID == "" || (ev.Text == "" && len(ev.Attachments) == 0) {
					t.Fatalf("incomplete %s event: %+v", ev.Kind, ev)
				}
				for _, a := range ev.Attachments {
					if a.Kind == "" {
						t.Fatalf("attachment without kind: %+v", a)
					}
				}
			case providers.EventButton, providers.EventSubscribed, providers.EventUnsubscribed, providers.EventConversationStarted:
				if ev.UserID == "" {
					t.Fatalf("%s event without user: %+v", ev.Kind, ev)
				}
				if ev.ExternalID == "btn:" || ev.ExternalID == "upd:0" {
					t.Fatalf("%s event with an id that is not unique: %+v", ev.Kind, ev)
				}
			case providers.EventDelivered, providers.EventRead, providers.EventFailed:
				if len(ev.Refs) == 0 && ev.Watermark.IsZero() {
					t.Fatalf("%s receipt about nothing: %+v", ev.Kind, ev)
				}
			default:
				t.Fatalf("unknown event kind %q", ev.Kind)
			}
		}
	})
}
