package chatapi_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/chatapi"
)

// FuzzEventFilter feeds arbitrary bodies and paths to EventFilter. It must never panic,
// never accept a request whose path is not the channel's token, and on success return
// only events that identify what they are about.
func FuzzEventFilter(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, "/"+testChannel().Secret)
		f.Add(body, "/")
	}
	f.Add([]byte(`{"messages":[{"id":"false_1@c.us_A","chatId":"1@c.us","type":"vcard","body":"BEGIN:VCARD\nTEL;waid=1:1\nEND:VCARD"}]}`), "/"+testChannel().Secret)
	f.Add([]byte(`{"ack":[{"id":"x","status":"viewed"}],"instanceId":777001}`), "/"+testChannel().Secret)

	p := chatapi.New()
	ch := testChannel()
	// NUL in the text and the sender's name (PostgreSQL refuses it; the core strips it).
	f.Add([]byte(`{"messages":[{"id":"false_7@c.us_A","chatId":"7@c.us","author":"7@c.us","type":"chat","body":"Hel\u0000lo","senderName":"An\u0000na Pe\u0000trova","fromMe":false,"time":1732190400}]}`), "/"+testChannel().Secret)
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		evs, err := p.EventFilter(context.Background(), ch, &providers.Request{Method: "POST", Path: path, Body: body})
		if path != "/"+ch.Secret {
			if !errors.Is(err, providers.ErrUnauthorized) || evs != nil {
				t.Fatalf("path %q is not the channel's token but EventFilter returned %v, %+v", path, err, evs)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, providers.ErrMalformed) && !errors.Is(err, providers.ErrUnauthorized) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrUnauthorized: %v", err)
			}
			if evs != nil {
				t.Fatalf("events returned with an error: %+v", evs)
			}
			return
		}
		for _, ev := range evs {
			switch ev.Kind {
			case providers.EventMessage:
				if ev.ExternalID == "" || ev.UserID == "" || (ev.Text == "" && len(ev.Attachments) == 0) {
					t.Fatalf("incomplete message event %+v", ev)
				}
				for _, a := range ev.Attachments {
					if a.Kind == "" {
						t.Fatalf("attachment without kind %+v", a)
					}
				}
			case providers.EventDelivered, providers.EventRead:
				if len(ev.Refs) == 0 || ev.Refs[0] == "" {
					t.Fatalf("receipt without refs %+v", ev)
				}
			default:
				t.Fatalf("unexpected event kind %q", ev.Kind)
			}
		}
	})
}
