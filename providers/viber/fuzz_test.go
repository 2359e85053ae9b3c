package viber_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/viber"
	"github.com/omnichat/omnichat/providers/viber/vibertest"
)

// FuzzEventFilter feeds arbitrary bodies and signatures to EventFilter (seeded with the
// testdata payloads). It checks that nothing panics, that a body signed with the channel's
// token either parses or fails with ErrMalformed, and that a body without the right
// signature is never accepted: no events, ErrUnauthorized.
func FuzzEventFilter(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
		f.Add(b, "0000")
	}
	f.Add([]byte(`{"event":"message","message_token":1,"sender":{"id":"u"},"message":{"type":"text","text":"x","tracking_data":"omnichat:{\"b\":{\"x\":\"y\"}}"}}`), "zz")
	f.Add([]byte(`null`), "")

	p := viber.New()
	ch := testChannel()
	// NUL in the text, the sender's name and a file name (PostgreSQL refuses it; the core strips it).
	f.Add([]byte(`{"event":"message","timestamp":1732190400000,"message_token":7,"sender":{"id":"u\u0000","name":"An\u0000na Pe\u0000trova","language":"r\u0000u"},"message":{"type":"file","text":"Hel\u0000lo","media":"https://x/f","file_name":"a\u0000.txt","size":1}}`), "")
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		ctx := context.Background()

		evs, err := p.EventFilter(ctx, ch, signed(ch, body))
		if err != nil && !errors.Is(err, providers.ErrMalformed) {
			t.Fatalf("signed body: want nil or ErrMalformed, got %v", err)
		}
		if err != nil && len(evs) > 0 {
			t.Fatalf("events together with an error: %+v", evs)
		}
		for _, ev := range evs {
			if ev.Kind == "" {
				t.Fatalf("event without a kind: %+v", ev)
			}
		}
		_ = p.Ack(ch, signed(ch, body), evs)

		h := http.Header{}
		if sig != "" {
			h.Set(viber.SignatureHeader, sig)
		}
		unsigned := &providers.Request{Method: http.MethodPost, Header: h, Body: body}
		if sig == vibertest.Sign(testToken, body) {
			return // the fuzzer forged a real signature: astronomically unlikely
		}
		evs, err = p.EventFilter(ctx, ch, unsigned)
		if !errors.Is(err, providers.ErrUnauthorized) || len(evs) > 0 {
			t.Fatalf("a body without the right signature was accepted: events %+v, err %v", evs, err)
		}
		if _, handled, _ := p.CallbackServerConfirmation(ctx, ch, unsigned); handled {
			t.Fatal("an unsigned request was answered as the webhook check")
		}
	})
}
