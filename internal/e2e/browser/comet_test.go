package browser

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/push/comettest"
)

// TestInboxOverComet: with a comet-server.ru account configured, the inbox subscribes via
// comet's WebSocket (authenticated with our JWT) instead of our SSE stream, and a webhook
// dialog still appears live. Only ids cross comet: no message text or names.
func TestInboxOverComet(t *testing.T) {
	fake, err := comettest.Start(15, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	root := startChromium(t)
	w := setup(t)
	var view map[string]any
	w.admin.Must(t, "PUT", "/api/v1/realtime", map[string]any{"mode": "comet", "dev_id": 15, "dev_key": fake.DevKey, "host": fake.Addr(), "node": fake.Node()}, &view)
	if view["mode"] != "comet" || view["dev_key_set"] != true || view["node"] != fake.Node() || strings.Contains(fmt.Sprint(view), fake.DevKey) {
		t.Fatalf("comet settings answer: %v", view)
	}

	anna := newBrowser(t, root, w.inst, "anna", 1280, 900)
	anna.signIn("anna@example.com", password)
	var cfg string
	anna.run("read the page's comet config", chromedp.Evaluate(`document.getElementById('inbox').dataset.comet || ''`, &cfg))
	if !strings.Contains(cfg, `"node":"`+fake.Node()+`"`) || strings.Contains(cfg, fake.DevKey) {
		t.Fatalf("the inbox's comet config: %q", cfg)
	}
	apptest.Eventually(t, 5*time.Second, "anna's comet socket", func() bool { return fake.Sockets(w.anna.UserID) == 1 })
	var transport string
	anna.run("which transport", chromedp.Evaluate(`document.getElementById('live-state').dataset.transport`, &transport))
	if transport != "comet" {
		t.Fatalf("the inbox uses %q, want comet", transport)
	}
	// Without our stream, the page still marks Anna present (assignment needs that).
	apptest.Eventually(t, 5*time.Second, "anna online", func() bool {
		var ops struct {
			Operators []struct {
				ID     int64 `json:"id"`
				Online bool  `json:"online"`
			} `json:"operators"`
		}
		w.admin.Must(t, "GET", "/api/v1/operators", nil, &ops)
		for _, o := range ops.Operators {
			if o.ID == w.anna.UserID {
				return o.Online
			}
		}
		return false
	})
	anna.run("open the queue tab", chromedp.Click(`[data-tab=queue]`, chromedp.ByQuery))
	w.visitorSays(t, "v-7", "Carl", "Comet", "Hello via comet")
	anna.run("the new dialog appears live through comet",
		waitText(`#dialogs .dialog-row`, "Carl Comet"),
		waitText(`[data-count=queue]`, "1"),
	)
	var toAnna bool
	for _, q := range fake.Queries() {
		if strings.Contains(q, "Hello via comet") || strings.Contains(q, "Carl") {
			t.Fatalf("content crossed comet: %s", q)
		}
		if strings.HasPrefix(q, "INSERT INTO users_messages (id, event, message) VALUES ("+strconv.FormatInt(w.anna.UserID, 10)+", ") {
			toAnna = true
		}
	}
	if !toAnna {
		t.Fatalf("no users_messages for anna: %q", fake.Queries())
	}
}
