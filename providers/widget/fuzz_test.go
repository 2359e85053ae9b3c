package widget_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/widget"
	"github.com/omnichat/omnichat/providers/widget/widgettest"
)

// FuzzEventFilter: whatever a visitor's browser posts, EventFilter never panics, fails only
// with ErrMalformed, and every event it returns is addressed to the token's visitor.
func FuzzEventFilter(f *testing.F) {
	files, _ := filepath.Glob("testdata/events/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"message","id":"m-12345678","text":"\u0000"}`))
	p := widget.New()
	ch := channel()
	id, tok := widget.NewVisitor(ch)
	// NUL in the text and in every pre-chat field (PostgreSQL refuses it; the core strips it).
	f.Add([]byte(`{"type":"message","id":"m-87654321","text":"Hel\u0000lo","name":"An\u0000na Pe\u0000trova","phone":"+7\u0000916","email":"a\u0000@example.com"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := p.EventFilter(context.Background(), ch, widgettest.RawRequest(tok, body))
		if err != nil && !errors.Is(err, providers.ErrMalformed) {
			t.Fatalf("error %v is not ErrMalformed", err)
		}
		for _, ev := range evs {
			if ev.UserID != id || len(ev.ExternalID) <= len(id) || ev.ExternalID[:len(id)] != id {
				t.Fatalf("event for %q (%q), token is %q's", ev.UserID, ev.ExternalID, id)
			}
			if len([]rune(ev.Text)) > widget.MaxText {
				t.Fatalf("text of %d characters passed", len([]rune(ev.Text)))
			}
		}
	})
}
