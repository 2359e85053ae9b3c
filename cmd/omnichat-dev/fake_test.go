package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/telegram"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

// `omnichat fake telegram` serves a Bot API that answers getMe for the printed token.
func TestFakeTelegramServesTheBotAPI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- fake(ctx, []string{"telegram"}, strings.NewReader(""), pw); pw.Close() }()
	buf := make([]byte, 4096)
	n, err := pr.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`listening at (http://\S+)`).FindStringSubmatch(string(buf[:n]))
	if m == nil {
		t.Fatalf("no URL in %q", buf[:n])
	}
	go io.Copy(io.Discard, pr)
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(m[1] + "/bot" + telegramtest.DefaultToken + "/getMe")
	if err != nil {
		t.Fatal(err)
	}
	var me struct {
		OK     bool `json:"ok"`
		Result struct {
			Username string `json:"username"`
		} `json:"result"`
	}
	err = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if err != nil || !me.OK || me.Result.Username == "" {
		t.Fatalf("getMe: %+v %v", me, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fake telegram did not stop when its context ended")
	}
	if err := fake(context.Background(), []string{"viber"}, strings.NewReader(""), io.Discard); err == nil {
		t.Error("an unknown platform was accepted")
	}
}

// The offline walkthrough with the embedded database: the fake's printed token and URL make
// a channel, and a line typed at the fake reaches the inbox as the visitor's message, with
// no access to omnichat's database.
func TestFakeTelegramDeliversTypedLines(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	out := &syncBuf{}
	done := make(chan error, 1)
	go func() { done <- fake(ctx, []string{"telegram"}, stdinR, out) }()
	printed := waitFor(t, out, regexp.MustCompile(`listening at (http://\S+)`))
	token := waitFor(t, out, regexp.MustCompile(telegram.SettingToken+`: (\S+)`))

	// Before a channel is connected, a line says what is missing.
	io.WriteString(stdinW, "too early\n")
	waitFor(t, out, regexp.MustCompile(`not delivered .*is a Telegram channel connected`))

	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "telegram", "name": "Fake",
		"settings": map[string]string{telegram.SettingToken: token[1], telegram.SettingAPIURL: printed[1]}}, nil)
	stream := admin.Stream(t)
	io.WriteString(stdinW, "Hello from the fake\n")
	waitFor(t, out, regexp.MustCompile(`delivered: "Hello from the fake"`))
	stream.Next(t, "dialog.created", 10*time.Second)
	var list struct {
		Dialogs []store.Dialog `json:"dialogs"`
	}
	admin.Must(t, "GET", "/api/v1/dialogs", nil, &list)
	if len(list.Dialogs) != 1 || list.Dialogs[0].LastMessage != "Hello from the fake" {
		t.Fatalf("dialogs after a typed line: %+v", list.Dialogs)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fake telegram did not stop when its context ended")
	}
}

// syncBuf collects the command's output while the test reads it.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls the output until re matches (a slow machine gets 15 s).
func waitFor(t *testing.T, out *syncBuf, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the output:\n%s", re, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
