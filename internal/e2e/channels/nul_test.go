package channels

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	mviber "github.com/mileusna/viber"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/chatapi/chatapitest"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
	"github.com/omnichat/omnichat/providers/facebook/facebooktest"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
	"github.com/omnichat/omnichat/providers/viber/vibertest"
	"github.com/omnichat/omnichat/providers/vk/vktest"
	"github.com/omnichat/omnichat/providers/widget"
)

// What every platform sends below: a NUL inside the text and inside both names, which
// PostgreSQL refuses (SQLSTATE 22021). Stored, it reads without them.
const (
	nulText  = "Hel\x00lo"
	nulFirst = "An\x00na"
	nulLast  = "Pe\x00trova"
	nulName  = nulFirst + " " + nulLast
)

// TestNULFromEveryPlatformIsStoredCleanly posts, for each kind of channel, a webhook whose
// text and sender name carry "\u0000": it must be answered 200 (not 500 on every platform
// retry) and stored as "Hello" from "Anna Petrova" — names that arrive through the
// platform's user-info API (VK, Facebook) included.
func TestNULFromEveryPlatformIsStoredCleanly(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	ctx := context.Background()

	kinds := []struct {
		kind string
		// send creates the channel and delivers the webhook; it returns the channel id and
		// the webhook's status.
		send func(t *testing.T) (int64, int)
	}{
		{"example", func(t *testing.T) (int64, int) {
			fake := exampletest.NewServer()
			t.Cleanup(fake.Close)
			ch := createChannel(t, admin, "example", fake.Settings())
			apptest.Eventually(t, 15*time.Second, "the webhook registration", func() bool { return fake.Webhook().URL != "" })
			code, _, err := fake.Deliver(ctx, example.NewMessageUpdate(1, 1, "u-nul", "", nulFirst, nulLast, nulText, time.Now()))
			must(t, err)
			return ch.ID, code
		}},
		{"telegram", func(t *testing.T) (int64, int) {
			fake := telegramtest.NewServer()
			fake.AllowHTTPWebhook = true
			t.Cleanup(fake.Close)
			ch := createChannel(t, admin, "telegram", fake.Settings())
			apptest.Eventually(t, 15*time.Second, "setWebhook", func() bool { return fake.Webhook().URL != "" })
			fake.AddUser(telegramtest.User{ID: 4242, FirstName: nulFirst, LastName: nulLast, Username: "an\x00na"})
			code, _, err := fake.Deliver(ctx, fake.TextUpdate(4242, nulText))
			must(t, err)
			return ch.ID, code
		}},
		{"vk", func(t *testing.T) (int64, int) {
			fake := vktest.NewServer()
			t.Cleanup(fake.Close)
			ch := createChannel(t, admin, "vk", fake.Settings())
			must(t, fake.Confirm(ctx))
			fake.AddUser(vktest.User{ID: vktest.UserID, FirstName: nulFirst, LastName: nulLast})
			code, _, err := fake.DeliverMessage(ctx, "ev-nul", vktest.UserID, 1, nulText)
			must(t, err)
			return ch.ID, code
		}},
		{"viber", func(t *testing.T) (int64, int) {
			fake := vibertest.NewServer()
			t.Cleanup(fake.Close)
			ch := createChannel(t, admin, "viber", map[string]string{"token": fake.Token, "api_url": fake.URL()})
			fake.AddUser(mviber.User{ID: vibertest.UserID, Name: nulName})
			resp, err := fake.Deliver(ctx, ch.WebhookURL, fake.TextCallback(vibertest.UserID, nulText))
			must(t, err)
			resp.Body.Close()
			return ch.ID, resp.StatusCode
		}},
		{"chatapi", func(t *testing.T) (int64, int) {
			fake := chatapitest.NewServer()
			t.Cleanup(fake.Close)
			ch := createChannel(t, admin, "chatapi", fake.Settings())
			_, code, err := fake.DeliverText(ctx, "79161234567", nulName, nulText)
			must(t, err)
			return ch.ID, code
		}},
		{"facebook", func(t *testing.T) (int64, int) {
			fake := facebooktest.NewServer()
			t.Cleanup(fake.Close)
			ch := createChannel(t, admin, "facebook", fake.Settings())
			fake.AddUser(facebooktest.User{PSID: facebooktest.DefaultPSID, FirstName: nulFirst, LastName: nulLast})
			body := facebooktest.Update(fake.PageID, facebooktest.TextMessage(fake.PageID, facebooktest.DefaultPSID, "m_nul", nulText, time.Now()))
			resp, err := fake.Deliver(ctx, ch.WebhookURL, body)
			must(t, err)
			resp.Body.Close()
			return ch.ID, resp.StatusCode
		}},
		{"widget", func(t *testing.T) (int64, int) {
			ch := createChannel(t, admin, "widget", map[string]string{widget.SettingPrechatName: "true", "allowed_origins": inst.URL})
			api := fmt.Sprintf("%s/widget/api/%d", inst.URL, ch.ID)
			var s struct {
				Token string `json:"token"`
			}
			if code, raw := widgetPost(t, inst.URL, api+"/session", "", map[string]string{"token": ""}, &s); code != 200 || s.Token == "" {
				t.Fatalf("widget session: %d %s", code, raw)
			}
			code, _ := widgetPost(t, inst.URL, api+"/messages", s.Token, map[string]string{"type": "message", "id": "m-nul-000001", "text": nulText, "name": nulName}, nil)
			return ch.ID, code
		}},
	}
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			id, code := k.send(t)
			if code != http.StatusOK {
				t.Fatalf("webhook with NUL answered %d, want 200", code)
			}
			var text string
			apptest.Eventually(t, 15*time.Second, "the message stored", func() bool {
				err := inst.Pool.QueryRow(ctx, `SELECT text FROM messages WHERE channel_id = $1 AND direction = 'in' ORDER BY id LIMIT 1`, id).Scan(&text)
				return err == nil
			})
			if text != "Hello" {
				t.Fatalf("stored text %q, want %q", text, "Hello")
			}
			// Names that come from the platform's user-info API arrive through a job.
			var name string
			apptest.Eventually(t, 15*time.Second, "the visitor's name", func() bool {
				var first, last string
				if err := inst.Pool.QueryRow(ctx, `SELECT first_name, last_name FROM visitors WHERE channel_id = $1`, id).Scan(&first, &last); err != nil {
					return false
				}
				name = strings.Join(strings.Fields(first+" "+last), " ")
				return name != ""
			})
			if name != "Anna Petrova" {
				t.Fatalf("stored name %q, want %q", name, "Anna Petrova")
			}
		})
	}
	if strings.Contains(inst.Log.String(), "22021") {
		t.Fatalf("PostgreSQL refused a NUL somewhere:\n%s", inst.Log.String())
	}
}

// widgetPost is the widget's page posting JSON to its API.
func widgetPost(t *testing.T, origin, url, token string, body any, out any) (int, []byte) {
	t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	if token != "" {
		req.Header.Set(widget.TokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		must(t, json.Unmarshal(raw, out))
	}
	return resp.StatusCode, raw
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestNULInTheAPIIsCleaned sends NUL (and a byte that is not UTF-8) where operators and
// integrations type: query filters answer 200 as if the bytes were not there, and JSON
// bodies are stored without them, never a 500.
func TestNULInTheAPIIsCleaned(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	ctx := context.Background()
	for _, path := range []string{
		"/api/v1/dialogs?q=%00",
		"/api/v1/dialogs?q=an%00na%FF&status=open%00",
		"/api/v1/clients?q=%00",
		"/api/v1/audit?actor=%00&action=user%00&target_type=%00",
		"/api/v1/audit?actor=ad%FFmin",
	} {
		if code, raw := admin.Call(t, "GET", path, nil, nil); code != http.StatusOK {
			t.Errorf("GET %s = %d %s, want 200", path, code, raw)
		}
	}
	if code, _ := admin.Call(t, "GET", "/api/v1/files/%00", nil, nil); code != http.StatusNotFound {
		t.Errorf("a path with NUL = %d, want 404", code)
	}

	// The sign-in page's form: an email with NUL is a wrong email (401), not a 500.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(inst.URL + "/login")
	must(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="csrf_token" value="([0-9a-f]+)"`).FindSubmatch(page)
	if csrf == nil {
		t.Fatalf("no csrf_token in the sign-in form: %.300s", page)
	}
	resp, err = browser.PostForm(inst.URL+"/login", url.Values{"csrf_token": {string(csrf[1])}, "email": {"admin@example.com\x00"}, "password": {"x\x00"}})
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("sign-in form with NUL: HTTP %d, want 401", resp.StatusCode)
	}

	// A client record: plain fields and the free-form custom JSON (jsonb).
	var cl struct {
		ID int64 `json:"id"`
	}
	code, raw := admin.Call(t, "POST", "/api/v1/clients", []byte(`{"name":"An\u0000na","note":"n\u0000","emails":["a\u0000@example.com"],"custom":{"k\u0000":"v\u0000"}}`), &cl)
	if code != http.StatusCreated {
		t.Fatalf("create client with NUL: %d %s", code, raw)
	}
	var name, note, custom string
	must(t, inst.Pool.QueryRow(ctx, `SELECT name, note, custom::text FROM clients WHERE id = $1`, cl.ID).Scan(&name, &note, &custom))
	if name != "Anna" || note != "n" || custom != `{"k": "v"}` {
		t.Fatalf("stored client %q %q %s", name, note, custom)
	}

	// An operator's reply.
	fake := exampletest.NewServer()
	t.Cleanup(fake.Close)
	createChannel(t, admin, "example", fake.Settings())
	apptest.Eventually(t, 15*time.Second, "the webhook registration", func() bool { return fake.Webhook().URL != "" })
	stream := admin.Stream(t)
	code, _, err = fake.Deliver(ctx, example.NewMessageUpdate(1, 1, "u1", "", "Anna", "", "Hi", time.Now()))
	if err != nil || code != http.StatusOK {
		t.Fatalf("deliver: %d %v", code, err)
	}
	d := decodePush(t, stream.Next(t, "dialog.created", 10*time.Second))
	m := reply(t, admin, d.DialogID, map[string]any{"text": "Hel\u0000lo"})
	if m.Text != "Hello" {
		t.Fatalf("reply stored as %q, want %q", m.Text, "Hello")
	}
}
