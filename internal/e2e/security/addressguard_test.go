package security

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/chatapi/chatapitest"
	"github.com/omnichat/omnichat/providers/example/exampletest"
	"github.com/omnichat/omnichat/providers/facebook/facebooktest"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
	"github.com/omnichat/omnichat/providers/viber/vibertest"
	"github.com/omnichat/omnichat/providers/vk/vktest"
)

// canaryAnswer is what the canary answers: an internal service's page that must never reach
// a browser.
const canaryAnswer = "canary: internal service, instance-credentials=AKIAFAKE"

// canary is an HTTP server on a loopback address that records every request reaching it
// (path, headers, body) and answers a page that is not any platform's JSON.
type canary struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func startCanary(t *testing.T, addr string) *canary {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	c := &canary{}
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.seen = append(c.seen, r.Method+" "+r.URL.String()+" "+strings.Join(r.Header.Values("Authorization"), ",")+
			strings.Join(r.Header.Values("X-Viber-Auth-Token"), ",")+" "+string(body))
		c.mu.Unlock()
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(canaryAnswer))
	}))
	c.Listener.Close()
	c.Listener = ln
	c.Start()
	t.Cleanup(c.Close)
	return c
}

func (c *canary) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// kindSettings are good-looking settings of every kind that makes requests, with api_url set
// to base.
func kindSettings(base string) map[string]map[string]string {
	return map[string]map[string]string{
		"telegram": {"token": telegramtest.DefaultToken, "api_url": base},
		"viber":    {"token": vibertest.DefaultToken, "api_url": base + "/pa"},
		"vk":       {"group_id": "123456", "group_token": vktest.DefaultToken, "api_url": base},
		"facebook": {"page_id": "1234567890", "app_id": "987654321", "app_secret": "fake-app-secret-0123456789", "page_token": facebooktest.DefaultToken, "api_url": base},
		"chatapi":  {"token": chatapitest.DefaultToken, "channel_id": chatapitest.InstanceID, "api_url": base},
		"example":  {"token": exampletest.DefaultToken, "api_url": base},
		"widget":   {"allowed_origins": "https://shop.example", "api_url": base},
	}
}

// TestAddressGuardRefusesInternalAddresses: with the address guard on, Check and Save of
// every channel kind pointed at an internal address (a canary on loopback; the cloud
// metadata address; loopback spelled as IPv4-mapped IPv6; a Telegram proxy on loopback)
// send nothing there, and the admin reads that the address is not allowed — never the
// internal answer. The instance allows only 127.0.0.1 (where a platform fake would run), and
// the canary listens on 127.0.0.2, so an existing channel's Update is tested too.
func TestAddressGuardRefusesInternalAddresses(t *testing.T) {
	cn := startCanary(t, "127.0.0.2:0")
	inst := apptest.Start(t, apptest.Options{Env: map[string]string{"OMNICHAT_ALLOW_PRIVATE_ADDRESSES": "127.0.0.1/32"}})
	admin := inst.Admin(t)
	port := strconv.Itoa(cn.Listener.Addr().(*net.TCPAddr).Port)

	refused := func(what, method, path string, body any) {
		t.Helper()
		code, out := admin.Call(t, method, path, body, nil)
		if code != http.StatusUnprocessableEntity {
			t.Errorf("%s: HTTP %d %s, want 422", what, code, out)
			return
		}
		if !strings.Contains(string(out), "not allowed") {
			t.Errorf("%s: the error does not say the address is not allowed: %s", what, out)
		}
		if strings.Contains(string(out), "canary") || strings.Contains(string(out), "AKIAFAKE") {
			t.Errorf("%s: the internal answer reached the browser: %s", what, out)
		}
		for _, secret := range []string{tokenSecret, vibertest.DefaultToken, vktest.DefaultToken, facebooktest.DefaultToken,
			"fake-app-secret-0123456789", chatapitest.DefaultToken, exampletest.DefaultToken} {
			if strings.Contains(string(out), secret) {
				t.Errorf("%s: the answer carries a secret: %s", what, out)
			}
		}
	}
	for kind, settings := range kindSettings(cn.URL) {
		if kind == "widget" {
			continue // the widget calls nothing: its api_url is for browsers (checked below)
		}
		refused(kind+" check", "POST", "/api/v1/channels/check", map[string]any{"kind": kind, "settings": settings})
		refused(kind+" save", "POST", "/api/v1/channels", map[string]any{"kind": kind, "name": kind, "settings": settings})
	}
	for _, base := range []string{"http://[::ffff:127.0.0.2]:" + port, "http://169.254.169.254", "http://[::ffff:a9fe:a9fe]"} {
		refused("example at "+base, "POST", "/api/v1/channels/check",
			map[string]any{"kind": "example", "settings": kindSettings(base)["example"]})
	}
	refused("telegram through a proxy on loopback", "POST", "/api/v1/channels/check", map[string]any{"kind": "telegram",
		"settings": map[string]string{"token": telegramtest.DefaultToken, "proxy_url": "http://127.0.0.2:" + port}})
	admin.Must(t, "POST", "/api/v1/channels/check", map[string]any{"kind": "widget", "settings": kindSettings(cn.URL)["widget"]}, nil)

	// An existing channel (its platform on the allowed 127.0.0.1) moved to the canary, with
	// its token entered again.
	fake := exampletest.NewServer()
	t.Cleanup(fake.Close)
	var ch channelView
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Example", "settings": fake.Settings()}, &ch)
	refused("update to the canary", "PUT", apptest.Path("/api/v1/channels/%d", ch.ID),
		map[string]any{"settings": map[string]string{"api_url": cn.URL, "token": exampletest.DefaultToken}})

	if got := cn.requests(); len(got) != 0 {
		t.Fatalf("the canary received %d requests, want none: %q", len(got), got)
	}
}

// TestSecretsMustBeEnteredAgainWhenAnAddressChanges: a channel saved against fake A; Check
// (with channel_id) and Update with api_url (or Telegram's proxy_url) pointed elsewhere and
// the token left empty answer 422 naming the secret fields, and the new address receives
// nothing. The address guard is off here (private addresses allowed), so this proves the
// secret rule on its own. Entering the token again works, and the channel's own webhook
// secret changes with the address.
func TestSecretsMustBeEnteredAgainWhenAnAddressChanges(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	cn := startCanary(t, "127.0.0.1:0")
	fakeA := telegramFake(t)
	var ch channelView
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "telegram", "name": "Bot", "settings": fakeA.Settings()}, &ch)
	oldSecret := fakeA.Webhook().Secret
	if oldSecret == "" {
		t.Fatal("fake A has no webhook secret")
	}

	mustReenter := func(what, method, path string, body any, fields ...string) {
		t.Helper()
		code, out := admin.Call(t, method, path, body, nil)
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("%s: HTTP %d %s, want 422", what, code, out)
		}
		var e struct {
			Error struct {
				Message string   `json:"message"`
				Fields  []string `json:"fields"`
			} `json:"error"`
		}
		if err := json.Unmarshal(out, &e); err != nil {
			t.Fatalf("%s: %s: %v", what, out, err)
		}
		if strings.Join(e.Error.Fields, ",") != strings.Join(fields, ",") || !strings.Contains(e.Error.Message, fields[0]) {
			t.Errorf("%s: %s, want the fields %v named", what, out, fields)
		}
	}
	id := apptest.Path("/api/v1/channels/%d", ch.ID)
	for _, s := range []map[string]string{
		{"api_url": cn.URL},
		{"api_url": cn.URL, "token": ""},
		{"api_url": cn.URL + "/", "token": "", "allow_groups": "true"},
		{"proxy_url": cn.URL},
		{"api_url": ""}, // back to the public API: still another address
	} {
		mustReenter("check "+s["api_url"]+s["proxy_url"], "POST", "/api/v1/channels/check", map[string]any{"channel_id": ch.ID, "settings": s}, "token")
		mustReenter("update "+s["api_url"]+s["proxy_url"], "PUT", id, map[string]any{"settings": s}, "token")
	}
	// The kind of a check with channel_id is the channel's: another kind's form with the same
	// field names does not carry the token over either.
	if code, out := admin.Call(t, "POST", "/api/v1/channels/check", map[string]any{"kind": "example", "channel_id": ch.ID,
		"settings": map[string]string{"api_url": cn.URL}}, nil); code != http.StatusUnprocessableEntity {
		t.Errorf("check with another kind: HTTP %d %s, want 422", code, out)
	}
	if got := cn.requests(); len(got) != 0 {
		t.Fatalf("the new address received %d requests, want none: %q", len(got), got)
	}

	// Settings that are not addresses still keep the stored token.
	admin.Must(t, "POST", "/api/v1/channels/check", map[string]any{"channel_id": ch.ID, "settings": map[string]string{"allow_groups": "true", "api_url": fakeA.URL()}}, nil)
	admin.Must(t, "PUT", id, map[string]any{"settings": map[string]string{"allow_groups": "true", "token": ""}}, nil)

	// With the token entered again the channel moves, with a new webhook secret.
	fakeB := telegramFake(t)
	admin.Must(t, "POST", "/api/v1/channels/check", map[string]any{"channel_id": ch.ID, "settings": fakeB.Settings()}, nil)
	admin.Must(t, "PUT", id, map[string]any{"settings": fakeB.Settings()}, nil)
	if s := fakeB.Webhook().Secret; s == "" || s == oldSecret {
		t.Errorf("the webhook secret did not change with the address (%q)", s)
	}
}
