// Package foundation tests the base every other part stands on, over HTTP against whole
// instances on a real database: the error shape, request ids and access logs, readiness,
// users, sign-in, sessions, CSRF, API tokens, rate limits and the bootstrap admin.
package foundation

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const password = "correct-horse-1"

// reply is one HTTP answer.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
	Resp   *http.Response
}

// errBody is SPEC §6's error shape.
type errBody struct {
	Error struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Fields  []string `json:"fields"`
	} `json:"error"`
}

// req describes a raw request: the apptest client always sends JSON with a bearer token;
// these tests also need cookies, odd content types and no token at all.
type req struct {
	Method, Path string
	Body         []byte
	Header       map[string]string
	Cookies      []*http.Cookie
}

func do(t *testing.T, base string, r req) reply {
	t.Helper()
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	hr, err := http.NewRequest(r.Method, base+r.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	for _, c := range r.Cookies {
		hr.AddCookie(c)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: raw, Resp: resp}
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// wantError checks the status and the error shape, and returns the decoded error.
func wantError(t *testing.T, what string, r reply, status int, code string) errBody {
	t.Helper()
	var e errBody
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	if r.Status != status {
		t.Errorf("%s: HTTP %d, want %d: %s", what, r.Status, status, r.Body)
		return e
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want JSON", what, ct)
	}
	if err := dec.Decode(&e); err != nil {
		t.Errorf("%s: body %q is not the error shape: %v", what, r.Body, err)
		return e
	}
	// Exactly one top-level key, "error".
	var top map[string]json.RawMessage
	_ = json.Unmarshal(r.Body, &top)
	if len(top) != 1 || e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("%s: error %s, want code %q and a message", what, r.Body, code)
	}
	if r.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s: no X-Request-Id header", what)
	}
	return e
}

// signIn posts credentials and returns the reply (the apptest helper fails on non-2xx).
func signIn(t *testing.T, base, email, pw string, header map[string]string) reply {
	t.Helper()
	return do(t, base, req{Method: "POST", Path: "/api/v1/session", Body: jsonBody(map[string]string{"email": email, "password": pw}), Header: header})
}

type session struct {
	Token     string    `json:"token"`
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
		Role  string `json:"role"`
	} `json:"user"`
}

func mustSignIn(t *testing.T, base, email, pw string) (session, reply) {
	t.Helper()
	r := signIn(t, base, email, pw, nil)
	if r.Status != 200 {
		t.Fatalf("sign in %s: HTTP %d: %s", email, r.Status, r.Body)
	}
	var s session
	if err := json.Unmarshal(r.Body, &s); err != nil || s.Token == "" || s.CSRFToken == "" {
		t.Fatalf("sign in %s: %s (%v)", email, r.Body, err)
	}
	return s, r
}

func createUser(t *testing.T, inst *apptest.Instance, email, role string) {
	t.Helper()
	if _, _, err := inst.App.Auth.CreateUser(context.Background(), 0, email, "", role, password, 0); err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
}

func sessionCookie(t *testing.T, r reply) *http.Cookie {
	t.Helper()
	for _, c := range r.Resp.Cookies() {
		if c.Name == "omnichat_session" {
			return c
		}
	}
	t.Fatalf("no omnichat_session cookie in %v", r.Header["Set-Cookie"])
	return nil
}

// clock lets a test move the auth service's time on one or more instances. It is set
// before the test's first request to them.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func useClock(insts ...*apptest.Instance) *clock {
	c := &clock{}
	for _, i := range insts {
		i.App.Auth.Now = c.now
	}
	return c
}
