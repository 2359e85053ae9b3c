package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

// `omnichat fake telegram` serves a Bot API that answers getMe for the printed token.
func TestFakeTelegramServesTheBotAPI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- fake(ctx, []string{"telegram"}, pw); pw.Close() }()
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
	if err := fake(context.Background(), []string{"viber"}, io.Discard); err == nil {
		t.Error("an unknown platform was accepted")
	}
}
