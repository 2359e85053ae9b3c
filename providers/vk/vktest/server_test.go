package vktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/omnichat/omnichat/providers/providertest"
)

// apiCall posts one API method the way VK clients do and decodes the answer.
func apiCall(t *testing.T, s *Server, token, method string, form url.Values) (json.RawMessage, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/method/"+method, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, -resp.StatusCode
	}
	var a struct {
		Response json.RawMessage `json:"response"`
		Error    struct {
			Code int `json:"error_code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%s answered %q: %v", method, body, err)
	}
	return a.Response, a.Error.Code
}

func TestFakeSpeaksVK(t *testing.T) {
	s := NewServer()
	defer s.Close()
	v := func(kv ...string) url.Values {
		f := url.Values{"v": {"5.199"}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	tests := []struct {
		name   string
		token  string
		method string
		form   url.Values
		code   int
	}{
		{"bad token", "nope", "users.get", v("user_ids", "1001"), 5},
		{"token as a parameter", "", "users.get", v("user_ids", "1001", "access_token", DefaultToken), 0},
		{"no version", DefaultToken, "users.get", url.Values{"user_ids": {"1001"}}, 8},
		{"unknown method", DefaultToken, "messages.fly", v(), 3},
		{"no random_id", DefaultToken, "messages.send", v("peer_id", "1001", "message", "x"), 100},
		{"empty message", DefaultToken, "messages.send", v("peer_id", "1001", "random_id", "1"), 100},
		{"too long", DefaultToken, "messages.send", v("peer_id", "1001", "random_id", "2", "message", strings.Repeat("я", 4097)), 914},
		{"bad keyboard", DefaultToken, "messages.send", v("peer_id", "1001", "random_id", "3", "message", "x", "keyboard", `{"buttons":[[{"action":{"type":"callback","label":"x","payload":"not json"}}]]}`), 911},
		{"unknown keyboard field", DefaultToken, "messages.send", v("peer_id", "1001", "random_id", "4", "message", "x", "keyboard", `{"buttons":[],"colour":"red"}`), 911},
		{"user token cannot send", DefaultUserToken, "messages.send", v("peer_id", "1001", "random_id", "5", "message", "x"), 15},
		{"unsaved attachment", DefaultToken, "messages.send", v("peer_id", "1001", "random_id", "6", "attachment", "photo1_2"), 100},
		{"bad secret key", DefaultToken, "groups.addCallbackServer", v("group_id", "229000001", "url", "https://x.example/", "title", "t", "secret_key", "a-b"), 100},
		{"long title", DefaultToken, "groups.addCallbackServer", v("group_id", "229000001", "url", "https://x.example/", "title", "fifteen chars!!"), 100},
		{"foreign group", DefaultToken, "groups.getCallbackConfirmationCode", v("group_id", "1"), 15},
		{"unknown user", DefaultToken, "users.get", v("user_ids", "5"), 113},
		{"delete unknown", DefaultToken, "messages.delete", v("message_ids", "99999", "delete_for_all", "1"), 104},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, code := apiCall(t, s, tc.token, tc.method, tc.form); code != tc.code {
				t.Fatalf("error %d, want %d", code, tc.code)
			}
		})
	}

	// random_id makes messages.send idempotent.
	r1, _ := apiCall(t, s, DefaultToken, "messages.send", v("peer_id", "1001", "random_id", "77", "message", "a"))
	r2, _ := apiCall(t, s, DefaultToken, "messages.send", v("peer_id", "1001", "random_id", "77", "message", "a"))
	if string(r1) != string(r2) || len(s.Sent()) != 1 {
		t.Errorf("repeated random_id: %s vs %s, %d sent", r1, r2, len(s.Sent()))
	}
	// FailNext hits the next send only, and Reset forgets it.
	s.FailNext(providertest.FailTransient)
	if _, code := apiCall(t, s, DefaultToken, "messages.send", v("peer_id", "1001", "random_id", "78", "message", "a")); code != -http.StatusBadGateway {
		t.Errorf("FailTransient: %d", code)
	}
	s.FailNext(providertest.FailBlocked)
	s.Reset()
	if _, code := apiCall(t, s, DefaultToken, "messages.send", v("peer_id", "1001", "random_id", "79", "message", "a")); code != 0 {
		t.Errorf("after Reset: error %d", code)
	}
	if n := len(s.CallsTo("messages.send")); n != 1 {
		t.Errorf("recorded %d messages.send calls since Reset, want 1", n)
	}
}
