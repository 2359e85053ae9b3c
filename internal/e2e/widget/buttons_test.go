package widget

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/omnichat/omnichat/internal/apptest"
)

// TestWidgetLinksOnlyHTTPButtons: the chat page renders a URL button as a link only for an
// http(s) address. A button stored with a javascript:/data: URL (before the API refused
// them, or by any other path) shows as plain text, never as a clickable link.
func TestWidgetLinksOnlyHTTPButtons(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	ch := widgetChannel(t, admin, map[string]string{"allowed_origins": inst.URL})
	v := newVisitor(t, inst, ch.ID)
	v.say(t, "hello", nil)
	var list struct {
		Dialogs []struct {
			ID int64 `json:"id"`
		} `json:"dialogs"`
	}
	apptest.Eventually(t, 10*time.Second, "the dialog", func() bool {
		admin.Must(t, "GET", "/api/v1/dialogs", nil, &list)
		return len(list.Dialogs) == 1
	})
	admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages", list.Dialogs[0].ID), map[string]any{"text": "Links",
		"buttons": [][]map[string]string{{{"text": "Shop", "url": "https://shop.example/"}, {"text": "Evil", "url": "https://x.example/"}}}}, nil)
	stored := `[[{"text":"Shop","url":"https://shop.example/"},{"text":"Evil","url":"javascript:alert(1)"},` +
		`{"text":"Data","url":"data:text/html,<b>x</b>"},{"text":"Tab","url":" java\tscript:alert(1)"},{"text":"Rel","url":"//evil.example/"}]]`
	if _, err := inst.Pool.Exec(t.Context(), `UPDATE messages SET buttons = $1 WHERE dialog_id = $2 AND direction = 'out'`, stored, list.Dialogs[0].ID); err != nil {
		t.Fatal(err)
	}

	ctx, problems := startBrowser(t)
	key := fmt.Sprintf("omnichat.widget.%d.token", ch.ID)
	var hrefs, texts []string
	run(t, ctx, "open the chat with the visitor's session",
		// The token is stored from a same-origin page that runs no chat script (the chat
		// page itself would race to store a fresh visitor's token).
		chromedp.Navigate(inst.URL+"/healthz"),
		chromedp.Evaluate(fmt.Sprintf(`localStorage.setItem(%q, %q); true`, key, v.token), nil),
		chromedp.Navigate(apptest.Path("%s/widget/frame/%d", inst.URL, ch.ID)),
		waitJS(`document.querySelector('.msg.out .buttons')`),
		chromedp.Evaluate(`[...document.querySelectorAll('.msg.out .buttons [href]')].map(a => a.getAttribute('href'))`, &hrefs),
		chromedp.Evaluate(`[...document.querySelectorAll('.msg.out .buttons > *')].map(e => e.tagName + ':' + e.textContent)`, &texts),
	)
	if len(hrefs) != 1 || hrefs[0] != "https://shop.example/" {
		t.Fatalf("links under the message: %q (buttons %q), want only the https one", hrefs, texts)
	}
	if len(texts) != 5 || texts[1] != "SPAN:Evil" || texts[2] != "SPAN:Data" {
		t.Fatalf("buttons shown: %q", texts)
	}
	for _, p := range problems() {
		t.Errorf("browser problem: %s", p)
	}
}
