// Package channels proves each messaging platform end to end through a whole omnichat
// instance (real database, HTTP API, job queue, push stream) against the provider's fake
// platform: one file per platform, shared helpers here.
package channels

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/internal/testdb"
	"github.com/omnichat/omnichat/providers/chatapi/chatapitest"
	"github.com/omnichat/omnichat/providers/facebook/facebooktest"
	"github.com/omnichat/omnichat/providers/viber/vibertest"
	"github.com/omnichat/omnichat/providers/vk/vktest"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// channelView is what the admin API answers for a channel.
type channelView struct {
	ID           int64             `json:"id"`
	Kind         string            `json:"kind"`
	WebhookURL   string            `json:"webhook_url"`
	WebhookState string            `json:"webhook_state"`
	WebhookError string            `json:"webhook_error"`
	Settings     map[string]string `json:"settings"`
	SecretsSet   []string          `json:"secrets_set"`
}

// createChannel is the admin saving a new channel in the settings UI.
func createChannel(t *testing.T, admin *apptest.Client, kind string, settings map[string]string) channelView {
	t.Helper()
	var ch channelView
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": kind, "name": kind + " channel", "settings": settings}, &ch)
	if ch.ID == 0 {
		t.Fatalf("created channel has no id: %+v", ch)
	}
	return ch
}

func getChannel(t *testing.T, admin *apptest.Client, id int64) channelView {
	t.Helper()
	var ch channelView
	admin.Must(t, "GET", apptest.Path("/api/v1/channels/%d", id), nil, &ch)
	return ch
}

// pushed is the part of a push event the tests read.
type pushed struct {
	DialogID  int64 `json:"d"`
	MessageID int64 `json:"m"`
}

func decodePush(t *testing.T, ev apptest.Event) pushed {
	t.Helper()
	var p pushed
	if err := json.Unmarshal(ev.Data, &p); err != nil || p.DialogID == 0 {
		t.Fatalf("%s data %s: %v", ev.Kind, ev.Data, err)
	}
	return p
}

func getDialog(t *testing.T, admin *apptest.Client, id int64) store.Dialog {
	t.Helper()
	var d store.Dialog
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d", id), nil, &d)
	return d
}

func messages(t *testing.T, admin *apptest.Client, dialogID int64) []store.Message {
	t.Helper()
	var list struct {
		Messages []store.Message `json:"messages"`
	}
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages", dialogID), nil, &list)
	// Oldest first, whatever order the API pages in.
	sort.Slice(list.Messages, func(i, j int) bool { return list.Messages[i].ID < list.Messages[j].ID })
	return list.Messages
}

func message(t *testing.T, admin *apptest.Client, dialogID, id int64) store.Message {
	t.Helper()
	for _, m := range messages(t, admin, dialogID) {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("message %d not in dialog %d", id, dialogID)
	return store.Message{}
}

func inbound(ms []store.Message) []store.Message {
	var out []store.Message
	for _, m := range ms {
		if m.Direction == "in" {
			out = append(out, m)
		}
	}
	return out
}

// waitStatus waits until message id has the delivery status want.
func waitStatus(t *testing.T, admin *apptest.Client, dialogID, id int64, want string) store.Message {
	t.Helper()
	var m store.Message
	apptest.Eventually(t, 15*time.Second, "message status "+want, func() bool {
		m = message(t, admin, dialogID, id)
		return m.Status == want
	})
	return m
}

// reply is the operator answering with a text (and buttons).
func reply(t *testing.T, c *apptest.Client, dialogID int64, body map[string]any) store.Message {
	t.Helper()
	var m store.Message
	code, raw := c.Call(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages", dialogID), body, &m)
	if code != 201 {
		t.Fatalf("send: HTTP %d: %s", code, raw)
	}
	return m
}

// replyFile is the operator attaching a file.
func replyFile(t *testing.T, c *apptest.Client, dialogID int64, name string, data []byte, caption string) store.Message {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(data)
	if caption != "" {
		_ = w.WriteField("text", caption)
	}
	_ = w.Close()
	var m store.Message
	code, raw := c.CallWithHeader(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages", dialogID), buf.Bytes(),
		map[string]string{"Content-Type": w.FormDataContentType()}, &m)
	if code != 201 {
		t.Fatalf("send file: HTTP %d: %s", code, raw)
	}
	return m
}

// enableAutoAdd turns on "add new visitors to the client base".
func enableAutoAdd(t *testing.T, admin *apptest.Client) {
	t.Helper()
	var st map[string]any
	admin.Must(t, "GET", "/api/v1/settings", nil, &st)
	st["auto_add"] = true
	admin.Must(t, "PUT", "/api/v1/settings", st, nil)
}

// clientsByPhone searches the client base.
func clientsByPhone(t *testing.T, admin *apptest.Client, q string) []json.RawMessage {
	t.Helper()
	var res struct {
		Clients []json.RawMessage `json:"clients"`
	}
	admin.Must(t, "GET", "/api/v1/clients?q="+q, nil, &res)
	return res.Clients
}

// hurrySnoozed makes jobs the queue put off (a platform's retry-after) due now, so a test
// proves "retried later" without waiting out the platform's delay. It returns how many
// jobs were waiting.
func hurrySnoozed(t *testing.T, inst *apptest.Instance, kind string) int {
	t.Helper()
	tag, err := inst.Pool.Exec(context.Background(),
		`UPDATE river_job SET scheduled_at = now() WHERE kind = $1 AND state = 'scheduled'`, kind)
	if err != nil {
		t.Fatal(err)
	}
	return int(tag.RowsAffected())
}

// assertNoSecret fails when the server log holds any of the secrets.
func assertNoSecret(t *testing.T, inst *apptest.Instance, secrets ...string) {
	t.Helper()
	log := inst.Log.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("the server log contains a secret (%q…)", s[:4])
		}
	}
}

type storeMessage = store.Message

// pngBytes is a 1×1 PNG a fake "platform CDN" serves.
var pngBytes = []byte{
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
	0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
	0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
	0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
}

// cdn serves pngBytes at any path, standing for a platform's file storage (VK's userapi.com,
// ChatAPI's S3 bucket), and counts the downloads.
func cdn(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(pngBytes)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// waitInboundFile waits for an inbound message whose first attachment of kind was downloaded
// and stored, and checks the operator gets the same bytes from the file API.
func waitInboundFile(t *testing.T, admin *apptest.Client, dialogID int64, kind string, want []byte) store.Message {
	t.Helper()
	var found store.Message
	apptest.Eventually(t, 15*time.Second, "the "+kind+" downloaded and stored", func() bool {
		for _, m := range inbound(messages(t, admin, dialogID)) {
			for _, a := range m.Attachments {
				if a.Kind == kind && a.FileID != 0 && !a.Pending {
					found = m
					return true
				}
				if a.Kind == kind && a.Error != "" {
					t.Fatalf("%s download failed: %s", kind, a.Error)
				}
			}
		}
		return false
	})
	var id int64
	for _, a := range found.Attachments {
		if a.Kind == kind {
			id = a.FileID
		}
	}
	code, raw := admin.Call(t, "GET", apptest.Path("/api/v1/files/%d", id), nil, nil)
	if code != 200 || !bytes.Equal(raw, want) {
		t.Fatalf("GET file %d: HTTP %d, %d bytes (want %d)", id, code, len(raw), len(want))
	}
	return found
}

// TestWrongCredentialsNeverEchoed: Check with a wrong secret fails with a readable error
// that names no secret, on every platform, and the server log holds none either. The fakes
// answer a wrong token the way their platforms do.
func TestWrongCredentialsNeverEchoed(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	viberFake := vibertest.NewServer()
	t.Cleanup(viberFake.Close)
	vkFake := vktest.NewServer()
	t.Cleanup(vkFake.Close)
	fbFake := facebooktest.NewServer()
	t.Cleanup(fbFake.Close)
	caFake := chatapitest.NewServer()
	t.Cleanup(caFake.Close)

	const wrong = "wrong-SECRET-0123456789-abcdefghijklmnop"
	for _, c := range []struct {
		kind     string
		settings map[string]string
	}{
		{"viber", map[string]string{"token": wrong, "api_url": viberFake.URL()}},
		{"vk", map[string]string{"group_id": "229000001", "group_token": wrong, "api_url": vkFake.URL()}},
		{"facebook", map[string]string{"page_id": fbFake.PageID, "app_id": fbFake.AppID, "app_secret": fbFake.AppSecret, "page_token": wrong, "api_url": fbFake.URL()}},
		{"facebook", map[string]string{"page_id": fbFake.PageID, "app_id": fbFake.AppID, "app_secret": wrong, "page_token": fbFake.Token, "api_url": fbFake.URL()}},
		{"chatapi", map[string]string{"api_url": caFake.URL(), "token": wrong, "channel_id": chatapitest.InstanceID}},
	} {
		code, raw := admin.Call(t, "POST", "/api/v1/channels/check", map[string]any{"kind": c.kind, "settings": c.settings}, nil)
		if code < 400 || code >= 500 {
			t.Errorf("%s: Check with a wrong secret: HTTP %d %s, want a 4xx", c.kind, code, raw)
		}
		if strings.Contains(string(raw), wrong) || strings.Contains(string(raw), "SECRET") {
			t.Errorf("%s: the error echoes the secret: %s", c.kind, raw)
		}
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || len(e.Error.Message) < 10 {
			t.Errorf("%s: no readable error: %s", c.kind, raw)
		}
		// Creating the channel fails the same way and stores nothing.
		code, _ = admin.Call(t, "POST", "/api/v1/channels", map[string]any{"kind": c.kind, "name": "x", "settings": c.settings}, nil)
		if code < 400 || code >= 500 {
			t.Errorf("%s: create with a wrong secret: HTTP %d", c.kind, code)
		}
	}
	var list struct {
		Channels []json.RawMessage `json:"channels"`
	}
	admin.Must(t, "GET", "/api/v1/channels", nil, &list)
	if len(list.Channels) != 0 {
		t.Errorf("%d channels stored after failed checks", len(list.Channels))
	}
	assertNoSecret(t, inst, wrong)
}

// updatesFor reads the stream for a while and counts kind events about message id.
func updatesFor(t *testing.T, s *apptest.Stream, kind string, id int64, wait time.Duration) int {
	t.Helper()
	n := 0
	deadline := time.After(wait)
	for {
		select {
		case ev, ok := <-s.C:
			if !ok {
				return n
			}
			if ev.Kind == kind {
				var p pushed
				if json.Unmarshal(ev.Data, &p) == nil && p.MessageID == id {
					n++
				}
			}
		case <-deadline:
			return n
		}
	}
}
