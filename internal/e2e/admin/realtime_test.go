package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/push/comettest"
)

const devKey = "k3y0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"

// TestRealtimeSettings: the admin switches to comet-server.ru; the Dev KEY is sealed (not in
// the database or any answer), "test connection" signs in to a fake CometQL server with the
// saved key and reports a wrong key in words; the page's button does the same.
func TestRealtimeSettings(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	comet, err := comettest.Start(15, devKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(comet.Close)

	var v struct {
		Mode      string `json:"mode"`
		DevID     int64  `json:"dev_id"`
		DevKeySet bool   `json:"dev_key_set"`
	}
	admin.Must(t, "GET", "/api/v1/realtime", nil, &v)
	if v.Mode != "builtin" || v.DevKeySet {
		t.Fatalf("default: %+v", v)
	}
	if code, out := admin.Call(t, "PUT", "/api/v1/realtime", map[string]any{"mode": "comet", "dev_id": 15}, nil); code != http.StatusUnprocessableEntity || !strings.Contains(string(out), "Dev KEY") {
		t.Fatalf("comet without a key: HTTP %d %s", code, out)
	}
	admin.Must(t, "PUT", "/api/v1/realtime", map[string]any{"mode": "comet", "dev_id": 15, "host": comet.Addr(), "dev_key": devKey}, nil)
	_, raw := admin.Call(t, "GET", "/api/v1/realtime", nil, &v)
	if v.Mode != "comet" || v.DevID != 15 || !v.DevKeySet || strings.Contains(string(raw), devKey[:20]) {
		t.Fatalf("saved: %s", raw)
	}
	var dump string
	if err := inst.Pool.QueryRow(context.Background(), `SELECT string_agg(x::text, '') FROM settings x`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, devKey[:20]) || !strings.Contains(dump, "dev_key_sealed") {
		t.Fatalf("settings row: %s", dump)
	}
	// Test with the saved key (sent empty), then with a wrong one.
	admin.Must(t, "POST", "/api/v1/realtime/test", map[string]any{"dev_id": 15, "host": comet.Addr()}, nil)
	code, out := admin.Call(t, "POST", "/api/v1/realtime/test", map[string]any{"dev_id": 15, "host": comet.Addr(), "dev_key": "wrong"}, nil)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(out), "Access denied") {
		t.Fatalf("wrong key: HTTP %d %s", code, out)
	}
	if strings.Contains(inst.Log.String(), devKey[:20]) {
		t.Fatal("the Dev KEY is in the log")
	}

	// The page: the saved key shows as set; Test connection reports success.
	ctx, _ := browser(t)
	signIn(t, ctx, inst.URL, "admin@example.com", "test-password-1")
	var ok string
	var keyValue string
	run(t, ctx, "test the comet connection on the page",
		chromedp.Navigate(inst.URL+"/admin/realtime"),
		chromedp.WaitVisible(`#admin-root[data-ready="1"] #realtime-form`, chromedp.ByQuery),
		chromedp.Value(`#rt-dev_key`, &keyValue, chromedp.ByQuery),
		chromedp.Click(`#rt-test`, chromedp.ByQuery),
		chromedp.WaitVisible(`#rt-ok`, chromedp.ByQuery),
		chromedp.Text(`#rt-ok`, &ok, chromedp.ByQuery),
	)
	if keyValue != "" || !strings.Contains(ok, "accepted") {
		t.Errorf("page: key field %q, result %q", keyValue, ok)
	}
	// Two accepted sign-ins: the API test with the saved key, and the page's button
	// (the wrong key was refused and does not count).
	if got := comet.Logins(); got != 2 {
		t.Errorf("accepted logins at the fake comet: %d, want 2", got)
	}

	// The browsers' WebSocket node: a bad one is refused on the page, a good one is saved
	// and shown again after a reload, next to the rest (which the save keeps).
	var errText string
	run(t, ctx, "a bad node on the page",
		setValue(`#rt-node`, "ws.example/path"),
		chromedp.Click(`#rt-save`, chromedp.ByQuery),
		chromedp.WaitVisible(`#realtime-error`, chromedp.ByQuery),
		chromedp.Text(`#realtime-error`, &errText, chromedp.ByQuery),
	)
	if !strings.Contains(errText, "WebSocket node") {
		t.Errorf("bad node: the page says %q", errText)
	}
	var nodeLabel, nodeValue, hostValue string
	run(t, ctx, "save the node on the page",
		setValue(`#rt-node`, "ws.chat.example:8443"),
		chromedp.Click(`#rt-save`, chromedp.ByQuery),
		chromedp.WaitVisible(`.toast`, chromedp.ByQuery),
		chromedp.Reload(),
		chromedp.WaitVisible(`#admin-root[data-ready="1"] #realtime-form`, chromedp.ByQuery),
		chromedp.Value(`#rt-node`, &nodeValue, chromedp.ByQuery),
		chromedp.Value(`#rt-host`, &hostValue, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('rt-node').closest('label').textContent`, &nodeLabel),
	)
	if nodeValue != "ws.chat.example:8443" || hostValue != comet.Addr() || !strings.Contains(nodeLabel, "WebSocket server") {
		t.Errorf("after a reload: node %q, host %q, label %q", nodeValue, hostValue, nodeLabel)
	}
	var saved struct {
		Mode      string `json:"mode"`
		Node      string `json:"node"`
		DevKeySet bool   `json:"dev_key_set"`
	}
	admin.Must(t, "GET", "/api/v1/realtime", nil, &saved)
	if saved.Node != "ws.chat.example:8443" || saved.Mode != "comet" || !saved.DevKeySet {
		t.Errorf("the API after the page's save: %+v", saved)
	}
}
