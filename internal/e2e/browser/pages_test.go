package browser

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
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// session is a cookie-carrying client, like a browser without JS; it does not follow redirects.
type session struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newSession(t *testing.T, base string) *session {
	jar, _ := cookiejar.New(nil)
	return &session{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (s *session) do(method, path string, body io.Reader, header map[string]string) (*http.Response, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := s.c.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var hiddenCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// signIn uses the sign-in form and keeps the session's CSRF token from the inbox page.
func (s *session) signIn(email, pw string) {
	s.t.Helper()
	_, page := s.do("GET", "/login", nil, nil)
	m := hiddenCSRF.FindStringSubmatch(page)
	if m == nil {
		s.t.Fatalf("no csrf_token on the sign-in page: %s", page)
	}
	form := url.Values{"email": {email}, "password": {pw}, "csrf_token": {m[1]}, "next": {"/inbox"}}
	res, body := s.do("POST", "/login", strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/inbox" {
		s.t.Fatalf("sign in: %d %s %s", res.StatusCode, res.Header.Get("Location"), body)
	}
	_, inbox := s.do("GET", "/inbox", nil, nil)
	m = regexp.MustCompile(`data-csrf="([^"]+)"`).FindStringSubmatch(inbox)
	if m == nil {
		s.t.Fatalf("no data-csrf on the inbox: %s", inbox)
	}
	s.csrf = m[1]
}

func TestSignInForm(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	inst.CreateUser(t, "anna@example.com", "operator")
	s := newSession(t, inst.URL)

	res, _ := s.do("GET", "/inbox/5", nil, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Finbox%2F5" {
		t.Fatalf("signed out /inbox/5: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	// The browser's language picks the page's language.
	_, page := s.do("GET", "/login", nil, map[string]string{"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
	if !strings.Contains(page, `<html lang="ru">`) || !strings.Contains(page, "Пароль") {
		t.Fatalf("russian sign-in page: %s", page)
	}
	tok := hiddenCSRF.FindStringSubmatch(page)[1]
	post := func(form url.Values) (*http.Response, string) {
		return s.do("POST", "/login", strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "en"})
	}
	// A form posted from elsewhere (no matching token) is refused.
	if res, _ := post(url.Values{"email": {"anna@example.com"}, "password": {password}, "csrf_token": {"forged"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("forged sign-in form: %d", res.StatusCode)
	}
	// A wrong password re-renders the form with the email kept and an error.
	res, body := post(url.Values{"email": {"anna@example.com"}, "password": {"nope-nope-nope"}, "csrf_token": {tok}})
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong email or password") || !strings.Contains(body, `value="anna@example.com"`) {
		t.Fatalf("wrong password: %d %s", res.StatusCode, body)
	}
	// An open redirect is not possible through next.
	res, _ = post(url.Values{"email": {"anna@example.com"}, "password": {password}, "csrf_token": {tok}, "next": {"//evil.example/x"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/inbox" {
		t.Fatalf("sign in with a foreign next: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, body = s.do("GET", "/inbox", nil, nil)
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("inbox: %d %v", res.StatusCode, res.Header)
	}
	// Under the CSP every script is a file; the only inline one is JSON data.
	if strings.Count(body, "<script") != strings.Count(body, `<script type="module" src=`)+strings.Count(body, `<script type="application/json"`) {
		t.Fatalf("inline script in the inbox page: %s", body)
	}
	// The user's own language wins over the browser's.
	csrf0 := regexp.MustCompile(`data-csrf="([^"]+)"`).FindStringSubmatch(body)[1]
	if res, b := s.do("PUT", "/api/v1/operators/me", strings.NewReader(`{"locale":"ru"}`), map[string]string{"Content-Type": "application/json", "X-CSRF-Token": csrf0, "Accept": "application/json"}); res.StatusCode != 200 {
		t.Fatalf("set locale: %d %s", res.StatusCode, b)
	}
	_, ru := s.do("GET", "/inbox", nil, map[string]string{"Accept-Language": "en-US,en"})
	if !strings.Contains(ru, `<html lang="ru">`) || !strings.Contains(ru, "Очередь") {
		t.Fatalf("inbox after choosing Russian: %s", ru)
	}

	// Sign-out needs the form's CSRF token.
	if res, _ := s.do("POST", "/logout", strings.NewReader(""), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without token: %d", res.StatusCode)
	}
	csrf := regexp.MustCompile(`data-csrf="([^"]+)"`).FindStringSubmatch(body)[1]
	res, _ = s.do("POST", "/logout", strings.NewReader(url.Values{"csrf_token": {csrf}}.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := s.do("GET", "/inbox", nil, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("inbox after sign-out: %d", res.StatusCode)
	}
}

// TestPagesAuthorization: an operator cannot open a dialog they may not see, even by URL,
// and cookie-authenticated writes need the CSRF token.
func TestPagesAuthorization(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	anna := inst.CreateUser(t, "anna@example.com", "operator")
	inst.CreateUser(t, "boris@example.com", "operator")
	var dep struct {
		ID int64 `json:"id"`
	}
	admin.Must(t, "POST", "/api/v1/departments", map[string]any{"name": "Sales", "members": []int64{anna.UserID}}, &dep)
	fake := exampletest.NewServer()
	t.Cleanup(fake.Close)
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Sales line", "department_id": dep.ID, "settings": fake.Settings()}, nil)
	apptest.Eventually(t, 10*time.Second, "the webhook registration", func() bool { return fake.Webhook().URL != "" })
	w := &world{inst: inst, fake: fake}
	w.visitorSays(t, "v-9", "Sara", "Secret", "for sales only")
	var list struct {
		Dialogs []store.Dialog `json:"dialogs"`
	}
	apptest.Eventually(t, 10*time.Second, "the dialog", func() bool {
		admin.Must(t, "GET", "/api/v1/dialogs?status=open", nil, &list)
		return len(list.Dialogs) == 1
	})
	id := list.Dialogs[0].ID
	path := apptest.Path("/inbox/%d", id)

	sa := newSession(t, inst.URL)
	sa.signIn("anna@example.com", password)
	if res, _ := sa.do("GET", path, nil, nil); res.StatusCode != 200 {
		t.Fatalf("anna (in Sales) opens %s: %d", path, res.StatusCode)
	}
	sb := newSession(t, inst.URL)
	sb.signIn("boris@example.com", password)
	res, body := sb.do("GET", path, nil, nil)
	if res.StatusCode != http.StatusNotFound || strings.Contains(body, "Sara") || !strings.Contains(body, "<html") {
		t.Fatalf("boris (not in Sales) opens %s: %d %s", path, res.StatusCode, body)
	}
	if res, _ := sb.do("GET", apptest.Path("/api/v1/dialogs/%d/messages", id), nil, map[string]string{"Accept": "application/json"}); res.StatusCode != http.StatusNotFound {
		t.Fatalf("boris reads the messages: %d", res.StatusCode)
	}
	// The cookie alone cannot change anything: the CSRF header is required.
	take := apptest.Path("/api/v1/dialogs/%d/take", id)
	if res, _ := sa.do("POST", take, nil, map[string]string{"Accept": "application/json"}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("take without CSRF: %d", res.StatusCode)
	}
	if res, body := sa.do("POST", take, nil, map[string]string{"Accept": "application/json", "X-CSRF-Token": sa.csrf}); res.StatusCode != 200 {
		t.Fatalf("take with CSRF: %d %s", res.StatusCode, body)
	}
	// The admin pages are not there for operators.
	if res, _ := sa.do("GET", "/admin", nil, nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("operator opens /admin: %d", res.StatusCode)
	}
}
