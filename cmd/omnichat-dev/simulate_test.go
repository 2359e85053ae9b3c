package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

// TestSimulateTelegram: `omnichat simulate telegram --channel ID --text …` posts a signed
// update to a running server, and the message appears in the operator's API.
func TestSimulateTelegram(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake := telegramtest.NewServer()
	fake.AllowHTTPWebhook = true
	t.Cleanup(fake.Close)
	var ch struct {
		ID int64 `json:"id"`
	}
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "telegram", "name": "Bot", "settings": fake.Settings()}, &ch)
	stream := admin.Stream(t)

	// The command reads the same configuration as the server it talks to.
	t.Setenv("OMNICHAT_DATABASE_URL", inst.DatabaseURL)
	t.Setenv("OMNICHAT_SECRET_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	t.Setenv("OMNICHAT_PUBLIC_URL", inst.URL)
	t.Setenv("OMNICHAT_DATA_DIR", t.TempDir())
	t.Setenv("OMNICHAT_LOG_LEVEL", "warn")
	var stdout, stderr bytes.Buffer
	code := run([]string{"simulate", "telegram", "--channel", strconv.FormatInt(ch.ID, 10), "--text", "Hello from simulate", "--name", "Demo"}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("simulate exited %d: %s %s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "delivered to channel") {
		t.Errorf("simulate printed %q", stdout.String())
	}
	stream.Next(t, "dialog.created", 10*time.Second)
	var list struct {
		Dialogs []store.Dialog `json:"dialogs"`
	}
	admin.Must(t, "GET", "/api/v1/dialogs", nil, &list)
	if len(list.Dialogs) != 1 || list.Dialogs[0].Visitor.FirstName != "Demo" || list.Dialogs[0].LastMessage != "Hello from simulate" {
		t.Fatalf("dialogs after simulate: %+v", list.Dialogs)
	}

	// A wrong channel kind or id is a readable error, not a crash.
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"simulate", "telegram", "--channel", "999", "--text", "x"}, strings.NewReader(""), &stdout, &stderr); code == 0 {
		t.Fatalf("simulate to a missing channel succeeded: %s", stdout.String())
	}
}
