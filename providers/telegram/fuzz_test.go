package telegram

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/omnichat/omnichat/providers"
)

// FuzzEventFilter feeds EventFilter arbitrary bodies and secret headers. It must never
// panic, never accept a request whose header is not the channel's secret, and on signed
// requests return either well-formed events or an error wrapping ErrMalformed.
func FuzzEventFilter(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/events: %v", err)
	}
	const secret = "fuzz-secret_0123456789"
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, secret)
		f.Add(body, "")
		f.Add(body, secret+"0")
	}
	f.Add([]byte(`{"update_id":1,"message":{"message_id":1,"chat":{"id":1,"type":"private"},"from":{"id":1},"text":"/start@x y","entities":[{"type":"bot_command"}]}}`), secret)

	p := New()
	ch := providers.Channel{ID: 1, Kind: Kind, Secret: secret,
		Settings: providers.Settings{SettingToken: "123456789:AAHfuzz", SettingAllowGroups: "true", SettingBotName: "fuzz_bot"}}
	// NUL in the text, the caption and every name (PostgreSQL refuses it; the core strips it).
	f.Add([]byte(`{"update_id":7,"message":{"message_id":7,"chat":{"id":7,"type":"private","first_name":"An\u0000na"},"from":{"id":7,"is_bot":false,"first_name":"An\u0000na","last_name":"Pe\u0000trova","username":"an\u0000na","language_code":"r\u0000u"},"date":1732190400,"text":"Hel\u0000lo","caption":"c\u0000"}}`), secret)
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		req := &providers.Request{Method: http.MethodPost, Header: http.Header{SecretTokenHeader: {header}}, Body: body}
		evs, err := p.EventFilter(context.Background(), ch, req)
		if header != secret {
			if !errors.Is(err, providers.ErrUnauthorized) || evs != nil {
				t.Fatalf("header %q accepted: %+v, %v", header, evs, err)
			}
			req.Header = nil
			if _, err := p.EventFilter(context.Background(), ch, req); !errors.Is(err, providers.ErrUnauthorized) {
				t.Fatalf("request without the header accepted: %v", err)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, providers.ErrMalformed) || evs != nil {
				t.Fatalf("signed request: error %v (events %+v), want nil or ErrMalformed", err, evs)
			}
			return
		}
		for _, ev := range evs {
			if ev.UserID == "" || ev.ChatID == "" {
				t.Fatalf("event without user or chat: %+v", ev)
			}
			switch ev.Kind {
			case providers.EventMessage, providers.EventEdited, providers.EventConversationStarted:
				if ev.ExternalID == "" || (ev.Text == "" && len(ev.Attachments) == 0) {
					t.Fatalf("message event without id or content: %+v", ev)
				}
				if ev.UserID == "123456789" {
					t.Fatalf("the bot's own message became an event: %+v", ev)
				}
			case providers.EventButton:
				if len(ev.ExternalID) <= len("cb:") || ev.Payload == "" {
					t.Fatalf("button event without id or payload: %+v", ev)
				}
			case providers.EventSubscribed, providers.EventUnsubscribed:
				if ev.ExternalID == "" {
					t.Fatalf("membership event without id: %+v", ev)
				}
			default:
				t.Fatalf("unexpected event kind %q", ev.Kind)
			}
		}
	})
}
