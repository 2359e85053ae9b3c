package facebook_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/facebook"
	"github.com/omnichat/omnichat/providers/facebook/facebooktest"
)

// FuzzEventFilter feeds arbitrary bodies and signature headers to EventFilter: it must
// never panic, never accept a body whose signature is not the app secret's HMAC, and give
// either events or ErrMalformed for a correctly signed body.
func FuzzEventFilter(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed corpus in testdata/events: %v", err)
	}
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, "")
		f.Add(body, facebooktest.Sign("not-the-app-secret", body))
	}
	f.Add([]byte(`{"object":"page","entry":[{"id":"104620298745123","messaging":[{"sender":{"id":"1"},"timestamp":"1","message":{"mid":"m","attachments":[{"type":"location","payload":{"coordinates":null}}]}}]}]}`), "sha256=00")

	p := facebook.New()
	ch := testChannel()
	ctx := context.Background()
	secret := ch.Settings["app_secret"]

	// NUL in the text, the ids and a quick reply's payload (PostgreSQL refuses it; the core
	// strips it), signed so it reaches the parser.
	nul := []byte(`{"object":"page","entry":[{"id":"104620298745123","time":1,"messaging":[{"sender":{"id":"1\u0000"},"recipient":{"id":"104620298745123"},"timestamp":1732190400000,"message":{"mid":"m\u0000","text":"Hel\u0000lo","quick_reply":{"payload":"p\u0000"}}}]}]}`)
	f.Add(nul, facebooktest.Sign(secret, nul))
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		// Unsigned: always rejected.
		evs, err := p.EventFilter(ctx, ch, &providers.Request{Method: http.MethodPost, Header: http.Header{}, Body: body})
		if !errors.Is(err, providers.ErrUnauthorized) || len(evs) != 0 {
			t.Fatalf("unsigned body accepted: events=%v err=%v", evs, err)
		}
		// A fuzzed signature: rejected unless it happens to be the right one.
		valid := facebooktest.Sign(secret, body)
		if sig != valid {
			h := http.Header{}
			h.Set(facebook.SignatureHeader, sig)
			evs, err := p.EventFilter(ctx, ch, &providers.Request{Method: http.MethodPost, Header: h, Body: body})
			if !errors.Is(err, providers.ErrUnauthorized) || len(evs) != 0 {
				t.Fatalf("signature %q accepted: events=%v err=%v", sig, evs, err)
			}
		}
		// Correctly signed: events or ErrMalformed, nothing else.
		evs, err = p.EventFilter(ctx, ch, signed(ch, body))
		if err != nil {
			if !errors.Is(err, providers.ErrMalformed) {
				t.Fatalf("a signed body gave %v: only ErrMalformed is allowed", err)
			}
			return
		}
		for _, ev := range evs {
			if ev.Kind == "" || ev.UserID == "" {
				t.Fatalf("event without kind or user: %+v", ev)
			}
			if ev.UserID == ch.Settings["page_id"] {
				t.Fatalf("an event from the page itself: %+v", ev)
			}
		}
	})
}
