package exampletest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/omnichat/omnichat/providers/example/exampletest"
	"github.com/omnichat/omnichat/providers/providertest"
)

// call makes a raw API request to the fake, as a provider would.
func call(t *testing.T, s *exampletest.Server, method, path, token, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

func errorCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestFakeAuth(t *testing.T) {
	s := exampletest.NewServer()
	defer s.Close()
	for _, token := range []string{"", "wrong", s.Token + "x"} {
		if status, out := call(t, s, "GET", "/me", token, ""); status != 401 || errorCode(out) != "unauthorized" {
			t.Errorf("token %q: %d %v", token, status, out)
		}
	}
	status, out := call(t, s, "GET", "/me", s.Token, "")
	if status != 200 || out["id"] != float64(exampletest.BotID) || out["name"] != exampletest.BotName {
		t.Errorf("GET /me: %d %v", status, out)
	}
	if calls := s.CallsTo("GET /me"); len(calls) != 4 {
		t.Errorf("recorded %d GET /me calls, want 4 (failed ones too)", len(calls))
	}
}

func TestFakeIsStrict(t *testing.T) {
	s := exampletest.NewServer()
	defer s.Close()
	for _, body := range []string{
		`{"chat":"u-1","text":"x"}`,                               // misspelt field
		`{"chat_id":"u-1","text":""}`,                             // no text
		`{"chat_id":"u-1","text":"x","buttons":[[{"text":"a"}]]}`, // button without data or url
		`{"chat_id":"u-1","text":"` + strings.Repeat("x", 4097) + `"}`,
		`{"chat_id":"u-1","text":"x"} {}`,
	} {
		if status, out := call(t, s, "POST", "/messages", s.Token, body); status != 400 {
			t.Errorf("%.60s: %d %v, want 400", body, status, out)
		}
	}
	if len(s.Sent()) != 0 {
		t.Error("invalid requests were accepted")
	}
}

func TestFakeFailuresAndReset(t *testing.T) {
	s := exampletest.NewServer()
	defer s.Close()
	send := func(key string) (int, map[string]any) {
		return call(t, s, "POST", "/messages", s.Token, `{"chat_id":"u-1","text":"x"}`, "Idempotency-Key", key)
	}
	for f, want := range map[providertest.Failure]int{
		providertest.FailTransient: 503, providertest.FailRateLimited: 429, providertest.FailBlocked: 403,
	} {
		s.FailNext(f)
		status, out := send("")
		if status != want {
			t.Errorf("failure %d: status %d, want %d", f, status, want)
		}
		if want == 429 {
			if e := out["error"].(map[string]any); e["retry_after"] != float64(2) {
				t.Errorf("429 without retry_after: %v", out)
			}
		}
	}
	if status, _ := send("k1"); status != 200 {
		t.Errorf("the failure was not used up: %d", status)
	}
	_, first := send("k2")
	_, again := send("k2")
	if first["id"] != again["id"] {
		t.Errorf("same idempotency key gave ids %v and %v", first["id"], again["id"])
	}
	if n := len(s.Sent()); n != 2 {
		t.Errorf("Sent has %d messages, want 2", n)
	}

	s.FailSends(3, 500)
	s.Reset()
	if len(s.Calls()) != 0 || len(s.Sent()) != 0 {
		t.Error("Reset kept calls or sent messages")
	}
	if status, _ := send("k3"); status != 200 {
		t.Errorf("Reset kept queued failures: %d", status)
	}
	// Platform state survives Reset: the old idempotency key still maps to its message.
	if _, out := send("k2"); out["id"] != first["id"] {
		t.Errorf("after Reset key k2 gave %v, want %v", out["id"], first["id"])
	}
}

func TestFakeDeliverNeedsWebhook(t *testing.T) {
	s := exampletest.NewServer()
	defer s.Close()
	if _, _, err := s.Deliver(context.Background(), []byte(`{}`)); err == nil {
		t.Error("Deliver without a registered webhook must fail")
	}
	if err := s.VerifyWebhook(context.Background()); err == nil {
		t.Error("VerifyWebhook without a registered webhook must fail")
	}
	if status, out := call(t, s, "POST", "/webhook", s.Token, `{"url":"https://h.example/w","secret":"short"}`); status != 400 || errorCode(out) != "bad_secret" {
		t.Errorf("a short secret was accepted: %d %v", status, out)
	}
	if status, out := call(t, s, "DELETE", "/webhook", s.Token, ""); status != 404 || errorCode(out) != "webhook_not_found" {
		t.Errorf("DELETE /webhook without one: %d %v", status, out)
	}
}
