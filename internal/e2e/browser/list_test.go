package browser

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// TestDialogListSearchFilterAndScroll: the list pages by keyset as it scrolls (no row twice,
// none missing), search finds by name and by message text, the channel filter narrows.
func TestDialogListSearchFilterAndScroll(t *testing.T) {
	root := startChromium(t)
	w := setup(t)
	const n = 35 // the list loads 30 at a time
	for i := 1; i <= n; i++ {
		w.visitorSays(t, fmt.Sprintf("v-%d", i), "Guest", fmt.Sprintf("N%02d", i), fmt.Sprintf("question number %02d", i))
	}
	// A second channel with one visitor, for the filter.
	other := exampletest.NewServer()
	t.Cleanup(other.Close)
	var ch struct {
		ID int64 `json:"id"`
	}
	w.admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Second line", "settings": other.Settings()}, &ch)
	apptest.Eventually(t, 10*time.Second, "the second webhook", func() bool { return other.Webhook().URL != "" })
	if code, body, err := other.Deliver(context.Background(), example.NewMessageUpdate(1, 1, "o-1", "", "Olga", "Other", "from the other line", time.Now())); err != nil || code != 200 {
		t.Fatalf("deliver: %d %s %v", code, body, err)
	}

	anna := newBrowser(t, root, w.inst, "anna", 1280, 900)
	anna.signIn("anna@example.com", password)
	rows := func() (total, unique int) {
		anna.run("count rows", chromedp.Evaluate(`(() => { const ids = [...document.querySelectorAll('#dialogs .dialog-row')].map(e => e.dataset.id); return [ids.length, new Set(ids).size]; })()`, &[]*int{&total, &unique}))
		return
	}
	anna.run("all open, first page", chromedp.Click(`[data-tab=open]`, chromedp.ByQuery), waitText(`#dialogs .dialog-row`, "Olga Other"))
	anna.run("scroll to the end",
		chromedp.PollFunction(`() => { const l = document.getElementById('dialogs'); l.scrollTop = l.scrollHeight; l.dispatchEvent(new Event('scroll')); return document.querySelectorAll('#dialogs .dialog-row').length >= 36; }`, nil, chromedp.WithPollingInterval(200*time.Millisecond)))
	if total, unique := rows(); total != n+1 || unique != n+1 {
		t.Fatalf("after scrolling: %d rows, %d distinct, want %d", total, unique, n+1)
	}

	anna.run("search by name", chromedp.SendKeys(`#search`, "N07", chromedp.ByQuery),
		waitJS(`document.querySelectorAll('#dialogs .dialog-row').length === 1`), waitText(`#dialogs .dialog-row`, "Guest N07"))
	anna.run("search by text", setInput(`#search`, "question number 33", "input"),
		waitJS(`document.querySelectorAll('#dialogs .dialog-row').length === 1`), waitText(`#dialogs .dialog-row`, "Guest N33"))
	anna.run("clear the search", setInput(`#search`, "", "input"),
		waitJS(`document.querySelectorAll('#dialogs .dialog-row').length >= 30`))
	anna.run("filter by channel", setInput(`#channel-filter`, fmt.Sprint(ch.ID), "change"),
		waitJS(`document.querySelectorAll('#dialogs .dialog-row').length === 1`), waitText(`#dialogs .dialog-row`, "Olga Other"))
}

// setInput sets a field's value from JS and fires the event the page listens to.
func setInput(sel, value, event string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event(%q)); })()`, sel, value, event), nil)
}
