package browser

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/omnichat/omnichat/internal/apptest"
)

// countText counts elements matched by sel whose text contains text.
func countText(b *browser, sel, text string) int {
	var n int
	b.run("count "+sel, chromedp.Evaluate(fmt.Sprintf(`[...document.querySelectorAll(%q)].filter(e => e.textContent.includes(%q)).length`, sel, text), &n))
	return n
}

// TestInboxHistoryFailuresAndReconnect: endless scroll upward through a long history; a
// failed delivery shows its reason and is retried; an own message is deleted; after the
// connection drops, what arrived meanwhile shows up once.
func TestInboxHistoryFailuresAndReconnect(t *testing.T) {
	root := startChromium(t)
	w := setup(t)
	for i := 1; i <= 60; i++ {
		w.visitorSays(t, "v-3", "Hanna", "History", fmt.Sprintf("line %02d", i))
	}
	anna := newBrowser(t, root, w.inst, "anna", 1280, 900)
	anna.signIn("anna@example.com", password)
	anna.run("open the long conversation",
		chromedp.Click(`[data-tab=queue]`, chromedp.ByQuery),
		waitText(`#dialogs .dialog-row`, "Hanna History"),
		clickText(`#dialogs .dialog-row`, "Hanna History"),
		waitText(`#messages .msg.in`, "line 60"),
		jsClick(`#act-take`),
		waitText(`#side .people`, "Anna Ops"),
	)
	if n := countText(anna, "#messages .msg.in", "line 01"); n != 0 {
		t.Fatal("the first page already holds the whole history; the test needs more lines")
	}
	anna.run("scroll up to the beginning",
		chromedp.PollFunction(`() => { const b = document.getElementById('messages'); b.scrollTop = 0; b.dispatchEvent(new Event('scroll')); return [...document.querySelectorAll('#messages .msg.in')].some(e => e.textContent.includes('line 01')); }`, nil, chromedp.WithPollingInterval(200*time.Millisecond)),
		waitText(`#messages .history-end`, "beginning"),
	)
	for _, line := range []string{"line 01", "line 30", "line 60"} {
		if n := countText(anna, "#messages .msg.in", line); n != 1 {
			t.Fatalf("%q shown %d times", line, n)
		}
	}

	// The platform refuses a send: the reason shows with a retry, which then goes through.
	w.fake.FailSends(1, 403)
	anna.run("send a reply the platform refuses",
		chromedp.SendKeys(`#text`, "will fail first"+kb.Enter, chromedp.ByQuery),
		waitJS(`[...document.querySelectorAll('#messages .msg.out.failed')].some(e => e.textContent.includes('will fail first') && e.querySelector('.fail button'))`),
	)
	anna.run("retry", clickText(`#messages .msg.out.failed .fail button`, ""),
		waitJS(`[...document.querySelectorAll('#messages .msg.out')].some(e => e.textContent.includes('will fail first') && ['sent','delivered','read'].includes(e.dataset.status))`))
	apptest.Eventually(t, 10*time.Second, "the retried reply at the platform", func() bool {
		for _, s := range w.sentTexts() {
			if s == "will fail first" {
				return true
			}
		}
		return false
	})

	// Delete the own message.
	anna.run("delete it",
		chromedp.Evaluate(`window.confirm = () => true`, nil),
		chromedp.Evaluate(`[...document.querySelectorAll('#messages .msg.out')].find(e => e.textContent.includes('will fail first')).querySelector('.actions button').click()`, nil),
		waitText(`#messages .msg.out.deleted`, "deleted"),
	)
	apptest.Eventually(t, 10*time.Second, "the delete at the platform", func() bool { return len(w.fake.Deleted()) == 1 })

	// An image is shown inline (served by our file endpoint under the page's CSP).
	png := filepath.Join(t.TempDir(), "dot.png")
	if err := os.WriteFile(png, tinyPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	anna.run("send an image", chromedp.SetUploadFiles(`#file-input`, []string{png}, chromedp.ByQuery),
		waitJS(`[...document.querySelectorAll('#messages .msg.out img.inline')].some(i => i.complete && i.naturalWidth === 1)`))

	// The connection drops; two messages arrive before the browser is back.
	w.inst.DropConnections()
	w.visitorSays(t, "v-3", "Hanna", "History", "during the gap 1")
	w.visitorSays(t, "v-3", "Hanna", "History", "during the gap 2")
	anna.run("after reconnecting, the gap is filled",
		waitText(`#messages .msg.in`, "during the gap 2"),
		chromedp.Click(`[data-tab=mine]`, chromedp.ByQuery),
		waitText(`#dialogs .dialog-row .preview`, "during the gap 2"),
		waitJS(`document.getElementById('live-state').dataset.state === 'up'`),
	)
	for _, line := range []string{"during the gap 1", "during the gap 2", "line 60"} {
		if n := countText(anna, "#messages .msg.in", line); n != 1 {
			t.Fatalf("%q shown %d times after the reconnect", line, n)
		}
	}
}

// tinyPNG is a 1×1 PNG.
var tinyPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
