package security

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/omnichat/omnichat/internal/apptest"
)

// TestSessionCookieFlags: the sign-in cookie is HttpOnly and SameSite, and Secure whenever
// the public URL is https.
func TestSessionCookieFlags(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true, Env: map[string]string{"OMNICHAT_COOKIE_SECURE": "true"}})
	inst.Admin(t)
	b := signInBrowser(t, inst, "admin@example.com", "test-password-1")
	var c *http.Cookie
	for _, ck := range b.resp.Cookies() {
		if ck.Name == "omnichat_session" {
			c = ck
		}
	}
	if c == nil {
		t.Fatalf("no session cookie in %v", b.resp.Header["Set-Cookie"])
	}
	if !c.HttpOnly || !c.Secure || (c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode) {
		t.Fatalf("cookie flags: %q", b.resp.Header.Get("Set-Cookie"))
	}

	// Sign-out clears it.
	resp, _ := b.do(t, "DELETE", "/api/v1/session", nil, true, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("sign out: HTTP %d", resp.StatusCode)
	}
	if resp, _ := b.do(t, "GET", "/api/v1/me", nil, false, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after sign-out: HTTP %d, want 401", resp.StatusCode)
	}
}

// TestContentSecurityPolicy: every answer carries a CSP that allows no inline script, and
// no template has an inline script, an on* handler or a javascript: URL.
func TestContentSecurityPolicy(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	b := signInBrowser(t, inst, "admin@example.com", "test-password-1")
	checked := 0
	for _, r := range allRoutes(t, inst) {
		if r.method != http.MethodGet || !isPage(r.path) {
			continue
		}
		resp, _ := b.do(t, "GET", concrete(r.path), nil, false, map[string]string{"Accept": "text/html"})
		checkCSP(t, r.path, resp.Header.Get("Content-Security-Policy"))
		if strings.HasPrefix(r.path, "/admin/") && resp.StatusCode != http.StatusOK {
			t.Errorf("admin page %s: HTTP %d", r.path, resp.StatusCode)
		}
		checked++
	}
	resp, _ := raw(t, "GET", inst.URL+"/api/v1/me", admin.Token, nil, nil)
	checkCSP(t, "/api/v1/me", resp.Header.Get("Content-Security-Policy"))
	t.Logf("CSP checked on %d page routes", checked)

	// The templates: no inline script anywhere in web/.
	root := filepath.Join("..", "..", "..", "web")
	// A script element with content is inline script, unless it is a JSON data block
	// (type="application/json"), which the browser never executes.
	inlineScript := regexp.MustCompile(`(?is)<script(\s[^>]*)?>\s*[^<\s]`)
	scriptTag := regexp.MustCompile(`(?is)<script\b[^>]*>`)
	handler := regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	jsURL := regexp.MustCompile(`(?i)(href|src|action)\s*=\s*["']?\s*javascript:`)
	files := 0
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".html") {
			return err
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := string(b)
		for _, loc := range inlineScript.FindAllStringIndex(s, -1) {
			if tag := scriptTag.FindString(s[loc[0]:]); !strings.Contains(tag, `type="application/json"`) {
				t.Errorf("%s: inline script at byte %d: %.80s", p, loc[0], s[loc[0]:])
			}
		}
		for _, tag := range scriptTag.FindAllString(s, -1) {
			if !strings.Contains(tag, "src=") && !strings.Contains(tag, `type="application/json"`) {
				t.Errorf("%s: script tag without src: %s", p, tag)
			}
		}
		if m := handler.FindString(s); m != "" {
			t.Errorf("%s: inline event handler: %.120s", p, m)
		}
		if m := jsURL.FindString(s); m != "" {
			t.Errorf("%s: javascript: URL: %s", p, m)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	t.Logf("%d templates scanned", files)
}

func checkCSP(t *testing.T, path, csp string) {
	t.Helper()
	if csp == "" {
		t.Errorf("%s: no Content-Security-Policy", path)
		return
	}
	var script string
	for _, d := range strings.Split(csp, ";") {
		d = strings.TrimSpace(d)
		if strings.HasPrefix(d, "script-src ") {
			script = d
		}
	}
	if script == "" {
		for _, d := range strings.Split(csp, ";") {
			if d = strings.TrimSpace(d); strings.HasPrefix(d, "default-src ") {
				script = d
			}
		}
	}
	if script == "" || strings.Contains(script, "'unsafe-inline'") || strings.Contains(script, "'unsafe-eval'") || strings.Contains(script, "*") {
		t.Errorf("%s: CSP script policy %q allows inline or foreign script (CSP %q)", path, script, csp)
	}
	if !strings.Contains(csp, "frame-ancestors") {
		t.Errorf("%s: CSP without frame-ancestors: %q", path, csp)
	}
}

// TestPasswordRules: too short or blank passwords are refused when an admin sets one, and
// passwords are stored as argon2id hashes, never as given.
func TestPasswordRules(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	for _, pw := range []string{"short", "        ", strings.Repeat("x", 201)} {
		code, out := admin.Call(t, "POST", "/api/v1/operators", map[string]any{"email": "weak@example.com", "password": pw}, nil)
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(out), "password") {
			t.Errorf("password %q: HTTP %d %s, want 422 naming the password", pw, code, out)
		}
	}
	admin.Must(t, "POST", "/api/v1/operators", map[string]any{"email": "good@example.com", "password": "correct horse battery"}, nil)
	var hash string
	if err := inst.Pool.QueryRow(t.Context(), `SELECT password_hash FROM users WHERE email = 'good@example.com'`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, "correct horse") {
		t.Fatalf("stored password: %q", hash)
	}
	inst.SignIn(t, "good@example.com", "correct horse battery")
}

// TestSignInRateLimit: after ten wrong passwords for one email the eleventh attempt, even
// with the right password, is refused with 429; another account from the same address is
// not locked out yet.
func TestSignInRateLimit(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	inst.Admin(t)
	inst.CreateUser(t, "other@example.com", "operator")
	for i := 0; i < 10; i++ {
		resp, out := raw(t, "POST", inst.URL+"/api/v1/session", "", []byte(`{"email":"admin@example.com","password":"wrong-password"}`), nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: HTTP %d %s, want 401", i+1, resp.StatusCode, out)
		}
	}
	resp, out := raw(t, "POST", inst.URL+"/api/v1/session", "", []byte(`{"email":"admin@example.com","password":"test-password-1"}`), nil)
	if resp.StatusCode != http.StatusTooManyRequests || errorCode(out) != "rate_limited" {
		t.Fatalf("after 10 failures: HTTP %d %s, want 429 rate_limited", resp.StatusCode, out)
	}
	inst.SignIn(t, "other@example.com", "test-password-1")
}

// TestSessionListAndRevoke: a user sees their sessions and revokes one; the revoked token
// stops working at once; another user's session cannot be revoked.
func TestSessionListAndRevoke(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	a1 := inst.Admin(t)
	a2 := inst.SignIn(t, "admin@example.com", "test-password-1")
	op := inst.CreateUser(t, "op@example.com", "operator")
	var list struct {
		Sessions []struct {
			ID int64  `json:"id"`
			IP string `json:"ip"`
		} `json:"sessions"`
		Current int64 `json:"current"`
	}
	a1.Must(t, "GET", "/api/v1/sessions", nil, &list)
	if len(list.Sessions) != 2 {
		t.Fatalf("sessions: %+v", list)
	}
	var other int64
	for _, s := range list.Sessions {
		if s.ID != list.Current {
			other = s.ID
		}
	}
	if code, out := op.Call(t, "DELETE", apptest.Path("/api/v1/sessions/%d", other), nil, nil); code != http.StatusNotFound {
		t.Fatalf("operator revoking the admin's session: HTTP %d %s, want 404", code, out)
	}
	a1.Must(t, "DELETE", apptest.Path("/api/v1/sessions/%d", other), nil, nil)
	if code, _ := a2.Call(t, "GET", "/api/v1/me", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("revoked session: HTTP %d, want 401", code)
	}
	a1.Must(t, "GET", "/api/v1/me", nil, nil)
}

// TestDeactivatedOperatorIsSignedOut: deactivating an operator ends their sessions.
func TestDeactivatedOperatorIsSignedOut(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	op := inst.CreateUser(t, "op@example.com", "operator")
	admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", op.UserID), map[string]any{"active": false}, nil)
	if code, _ := op.Call(t, "GET", "/api/v1/me", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("deactivated operator: HTTP %d, want 401", code)
	}
	if resp, _ := raw(t, "POST", inst.URL+"/api/v1/session", "", []byte(`{"email":"op@example.com","password":"test-password-1"}`), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("deactivated operator signs in: HTTP %d", resp.StatusCode)
	}
}
