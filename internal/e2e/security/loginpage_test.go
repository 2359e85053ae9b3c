package security

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
)

// TestSignInPageRateLimitAndCSRF: the sign-in form refuses a post without its CSRF token,
// and after ten wrong passwords it says "too many attempts" (429) even for the right one.
func TestSignInPageRateLimitAndCSRF(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	inst.Admin(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(inst.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf_token" value="([0-9a-f]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token in the sign-in form: %.500s", page)
	}
	post := func(csrf, pw string) (int, string) {
		resp, err := c.PostForm(inst.URL+"/login", url.Values{"csrf_token": {csrf}, "email": {"admin@example.com"}, "password": {pw}, "next": {"/inbox"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post("", "test-password-1"); code != http.StatusForbidden {
		t.Fatalf("sign-in form without CSRF token: HTTP %d, want 403", code)
	}
	for i := 0; i < 10; i++ {
		if code, _ := post(string(m[1]), "wrong-password"); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: HTTP %d, want 401", i+1, code)
		}
	}
	code, body := post(string(m[1]), "test-password-1")
	if code != http.StatusTooManyRequests || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("after 10 failures: HTTP %d %.300s", code, body)
	}
	if strings.Contains(body, "test-password-1") {
		t.Fatal("the page echoes the password")
	}
}
