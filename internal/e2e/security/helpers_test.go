package security

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
)

// browser is a cookie-session client: it signs in like the web pages do and keeps the
// session cookie and the CSRF token.
type browser struct {
	base string
	http *http.Client
	csrf string
	resp *http.Response // the sign-in answer (cookie flags)
}

func signInBrowser(t *testing.T, inst *apptest.Instance, email, password string) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{base: inst.URL, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := b.http.Post(inst.URL+"/api/v1/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("sign in %s: HTTP %d %s", email, resp.StatusCode, raw)
	}
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.CSRF == "" {
		t.Fatalf("sign in: no csrf_token in %s", raw)
	}
	b.csrf, b.resp = out.CSRF, resp
	return b
}

// do sends a request with the cookie; csrf adds the X-CSRF-Token header.
func (b *browser) do(t *testing.T, method, path string, body any, csrf bool, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf {
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// raw sends a request with no credentials at all, or with a bearer token.
func raw(t *testing.T, method, url, token string, body []byte, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Code
}

func isPage(path string) bool {
	return !strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/webhooks/")
}
