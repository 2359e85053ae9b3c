package security

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
)

// TestSignInRedirectStaysOnSite: the page after sign-in (?next=) is only ever a path on
// this site. Every spelling a browser could read as another host — a TAB or backslash
// browsers drop or turn into "/", "//", encoded and double-encoded slashes, schemes — sends
// the user to /inbox instead; plain paths with a query are kept.
func TestSignInRedirectStaysOnSite(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	inst.Admin(t)
	b := signInBrowser(t, inst, "admin@example.com", "test-password-1")
	// Raw query values, as they would appear in a link an attacker sends.
	refused := []string{
		"/%09/evil.example", "/%09%09/evil.example", "%09//evil.example", "/%0A/evil.example", "/%0D%0A/evil.example",
		"/%5Cevil.example", "/%5C%5Cevil.example", "%5C%5Cevil.example", "/inbox%5C..%5C..%5Cevil",
		"//evil.example", "///evil.example", "%2F%2Fevil.example", "/%2F/evil.example",
		"/%252F%252Fevil.example", "/%252Fevil.example", "/%25252F%25252Fevil.example", "/%2509/evil.example",
		"/%255Cevil.example", "/%20/evil.example", "%20//evil.example", "/%E3%80%80/evil.example", "/%C2%A0/evil.example",
		"javascript:alert(1)", "JavaScript%3Aalert(1)", "https://evil.example/", "http:/evil.example", "https:evil.example",
		"evil.example", "", "/inbox%00", "/%7F/evil.example",
	}
	for _, q := range refused {
		resp, _ := b.do(t, "GET", "/login?next="+q, nil, false, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/inbox" {
			t.Errorf("next=%s: HTTP %d Location %q, want 303 /inbox", q, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	allowed := map[string]string{
		"/inbox":                        "/inbox",
		"/inbox/5":                      "/inbox/5",
		"%2Fadmin%2Fchannels%3Fx%3D1":   "/admin/channels?x=1",
		"/admin/audit%3Faction%3Duser.": "/admin/audit?action=user.",
	}
	for q, want := range allowed {
		resp, _ := b.do(t, "GET", "/login?next="+q, nil, false, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("next=%s: HTTP %d Location %q, want 303 %s", q, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}

	// The sign-in form's own redirect follows the same rule.
	c := b.http
	c.Jar.SetCookies(mustURL(t, inst.URL+"/"), []*http.Cookie{{Name: "omnichat_session", Value: "", MaxAge: -1}})
	page, err := c.Get(inst.URL + "/login?next=/%09/evil.example")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if strings.Contains(string(html), "evil.example") {
		t.Errorf("the sign-in form carries the foreign next: %.400s", html)
	}
	tok := ""
	for _, ck := range c.Jar.Cookies(mustURL(t, inst.URL+"/login")) {
		if ck.Name == "omnichat_pre" {
			tok = ck.Value
		}
	}
	resp, err := c.PostForm(inst.URL+"/login", url.Values{"csrf_token": {tok}, "email": {"admin@example.com"}, "password": {"test-password-1"}, "next": {"/\t/evil.example"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/inbox" {
		t.Fatalf("sign-in form with next=/\\t/evil.example: HTTP %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type sessionItem struct {
	ID         int64     `json:"id"`
	UserID     int64     `json:"user_id"`
	Kind       string    `json:"kind"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	UserAgent  *string   `json:"user_agent"`
	IP         *string   `json:"ip"`
	Current    *bool     `json:"current"`
}

type sessionList struct {
	Sessions []sessionItem `json:"sessions"`
}

// TestAdminListsAndRevokesOthersSessions: as docs/api.md says, an admin lists anyone's
// sessions and API tokens (?user_id=) and revokes any of them; the revoked one gets 401 on
// its next request, and the revocation is in the audit log. The list never carries a token
// or a CSRF token. An operator sees and revokes only their own.
func TestAdminListsAndRevokesOthersSessions(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	op1 := inst.CreateUser(t, "op@example.com", "operator")
	op2 := inst.SignIn(t, "op@example.com", "test-password-1")
	var created struct {
		Token   string `json:"token"`
		Session struct {
			ID int64 `json:"id"`
		} `json:"session"`
	}
	op1.Must(t, "POST", "/api/v1/tokens", map[string]string{"name": "crm"}, &created)
	api := &apptest.Client{Base: inst.URL, Token: created.Token, HTTP: op1.HTTP}
	api.Must(t, "GET", "/api/v1/me", nil, nil)

	var list sessionList
	code, rawList := admin.Call(t, "GET", apptest.Path("/api/v1/sessions?user_id=%d", op1.UserID), nil, &list)
	if code != http.StatusOK || len(list.Sessions) != 2 {
		t.Fatalf("admin lists the operator's sessions: HTTP %d %s", code, rawList)
	}
	for _, tok := range []string{op1.Token, op2.Token, created.Token, "csrf", "token_hash"} {
		if strings.Contains(string(rawList), tok) {
			t.Fatalf("the session list carries %q: %s", tok, rawList)
		}
	}
	for _, s := range list.Sessions {
		if s.UserID != op1.UserID || s.Kind != "session" || s.CreatedAt.IsZero() || s.LastUsedAt.IsZero() || s.UserAgent == nil || s.IP == nil || s.Current == nil || *s.Current {
			t.Fatalf("session item %+v in %s", s, rawList)
		}
	}
	var tokens sessionList
	admin.Must(t, "GET", apptest.Path("/api/v1/tokens?user_id=%d", op1.UserID), nil, &tokens)
	if len(tokens.Sessions) != 1 || tokens.Sessions[0].ID != created.Session.ID {
		t.Fatalf("admin lists the operator's tokens: %+v", tokens)
	}

	// Own list: the calling session is marked current.
	var own sessionList
	op1.Must(t, "GET", "/api/v1/sessions", nil, &own)
	current := 0
	for _, s := range own.Sessions {
		if s.Current != nil && *s.Current {
			current++
		}
	}
	if len(own.Sessions) != 2 || current != 1 {
		t.Fatalf("own sessions: %+v", own)
	}

	// An operator may not look at or end anyone else's.
	if code, out := op1.Call(t, "GET", apptest.Path("/api/v1/sessions?user_id=%d", admin.UserID), nil, nil); code != http.StatusForbidden {
		t.Fatalf("operator lists the admin's sessions: HTTP %d %s, want 403", code, out)
	}
	var adminList sessionList
	admin.Must(t, "GET", "/api/v1/sessions", nil, &adminList)
	if code, out := op1.Call(t, "DELETE", apptest.Path("/api/v1/sessions/%d", adminList.Sessions[0].ID), nil, nil); code != http.StatusNotFound {
		t.Fatalf("operator revokes the admin's session: HTTP %d %s, want 404", code, out)
	}

	// The admin ends one of the operator's sessions and the API token: at once.
	var op1Session int64
	for _, s := range own.Sessions {
		if *s.Current {
			op1Session = s.ID
		}
	}
	admin.Must(t, "DELETE", apptest.Path("/api/v1/sessions/%d", op1Session), nil, nil)
	if code, _ := op1.Call(t, "GET", "/api/v1/me", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("revoked session: HTTP %d, want 401", code)
	}
	op2.Must(t, "GET", "/api/v1/me", nil, nil)
	// /sessions/{id} is for sign-ins only, /tokens/{id} for API tokens.
	if code, _ := admin.Call(t, "DELETE", apptest.Path("/api/v1/sessions/%d", created.Session.ID), nil, nil); code != http.StatusNotFound {
		t.Fatalf("an API token through /sessions/{id}: HTTP %d, want 404", code)
	}
	admin.Must(t, "DELETE", apptest.Path("/api/v1/tokens/%d", created.Session.ID), nil, nil)
	if code, _ := api.Call(t, "GET", "/api/v1/me", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("revoked API token: HTTP %d, want 401", code)
	}

	var audit struct {
		Entries []struct {
			Action     string          `json:"action"`
			TargetType string          `json:"target_type"`
			TargetID   *int64          `json:"target_id"`
			UserID     *int64          `json:"user_id"`
			Details    json.RawMessage `json:"details"`
		} `json:"entries"`
	}
	admin.Must(t, "GET", "/api/v1/audit", nil, &audit)
	found := map[string]bool{}
	for _, e := range audit.Entries {
		if e.UserID != nil && *e.UserID == admin.UserID && e.TargetID != nil && strings.Contains(string(e.Details), fmt.Sprintf(`"user_id":%d`, op1.UserID)) {
			found[fmt.Sprintf("%s %s %d", e.Action, e.TargetType, *e.TargetID)] = true
		}
	}
	for _, want := range []string{fmt.Sprintf("session.revoke session %d", op1Session), fmt.Sprintf("token.revoke session %d", created.Session.ID)} {
		if !found[want] {
			t.Errorf("audit log has no %q: %+v", want, audit.Entries)
		}
	}
}

// TestCSRFTokenOnlyInHeaderOrForm: a cookie write with the CSRF token in the query string
// (where it leaks into logs, history and Referer) is refused; the header and the form field
// still work.
func TestCSRFTokenOnlyInHeaderOrForm(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	inst.Admin(t)
	b := signInBrowser(t, inst, "admin@example.com", "test-password-1")
	q := "?csrf_token=" + url.QueryEscape(b.csrf)
	if resp, out := b.do(t, "PUT", "/api/v1/operators/me"+q, map[string]string{"name": "Q"}, false, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("CSRF token in the query (API): HTTP %d %s, want 403", resp.StatusCode, out)
	}
	if resp, out := b.do(t, "POST", "/api/v1/tokens"+q, map[string]string{"name": "q"}, false, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("CSRF token in the query (API POST): HTTP %d %s, want 403", resp.StatusCode, out)
	}
	req, _ := http.NewRequest("POST", inst.URL+"/logout"+q, strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-out form with the CSRF token in the query: HTTP %d, want 403", resp.StatusCode)
	}
	if resp, out := b.do(t, "PUT", "/api/v1/operators/me", map[string]string{"name": "H"}, true, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("CSRF header: HTTP %d %s", resp.StatusCode, out)
	}
	resp, err = b.http.PostForm(inst.URL+"/logout", url.Values{"csrf_token": {b.csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out form with the field: HTTP %d, want 303", resp.StatusCode)
	}
	if resp, _ := b.do(t, "GET", "/api/v1/me", nil, false, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after signing out: HTTP %d", resp.StatusCode)
	}
}

// TestDeactivationRevokesAPITokens: deactivating a user deletes their API tokens with their
// sessions, so reactivating them does not bring an old token back to life.
func TestDeactivationRevokesAPITokens(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	op := inst.CreateUser(t, "op@example.com", "operator")
	var created struct {
		Token string `json:"token"`
	}
	op.Must(t, "POST", "/api/v1/tokens", map[string]string{"name": "crm"}, &created)
	api := &apptest.Client{Base: inst.URL, Token: created.Token, HTTP: op.HTTP}
	api.Must(t, "GET", "/api/v1/me", nil, nil)
	admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", op.UserID), map[string]any{"active": false}, nil)
	if code, _ := api.Call(t, "GET", "/api/v1/me", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("API token of a deactivated user: HTTP %d", code)
	}
	admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", op.UserID), map[string]any{"active": true}, nil)
	if code, _ := api.Call(t, "GET", "/api/v1/me", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("API token after reactivation: HTTP %d, want 401", code)
	}
	if code, _ := op.Call(t, "GET", "/api/v1/me", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("session after reactivation: HTTP %d, want 401", code)
	}
	var tokens sessionList
	admin.Must(t, "GET", apptest.Path("/api/v1/tokens?user_id=%d", op.UserID), nil, &tokens)
	if len(tokens.Sessions) != 0 {
		t.Fatalf("tokens left after deactivation: %+v", tokens)
	}
}

// widgetDialog opens a dialog through the web-site widget and returns its id.
func widgetDialog(t *testing.T, inst *apptest.Instance, admin *apptest.Client) int64 {
	t.Helper()
	var ch struct {
		ID int64 `json:"id"`
	}
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "widget", "name": "Site", "settings": map[string]string{"allowed_origins": inst.URL}}, &ch)
	api := apptest.Path("%s/widget/api/%d", inst.URL, ch.ID)
	hdr := map[string]string{"Origin": inst.URL}
	resp, body := raw(t, "POST", api+"/session", "", []byte(`{"token":""}`), hdr)
	var s struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &s); err != nil || resp.StatusCode != 200 {
		t.Fatalf("widget session: HTTP %d %s", resp.StatusCode, body)
	}
	hdr["X-Widget-Token"] = s.Token
	if resp, body := raw(t, "POST", api+"/messages", "", []byte(`{"type":"message","id":"m-websec-000001","text":"hello"}`), hdr); resp.StatusCode >= 300 {
		t.Fatalf("widget message: HTTP %d %s", resp.StatusCode, body)
	}
	var list struct {
		Dialogs []struct {
			ID int64 `json:"id"`
		} `json:"dialogs"`
	}
	apptest.Eventually(t, 10*time.Second, "the widget dialog", func() bool {
		admin.Must(t, "GET", "/api/v1/dialogs", nil, &list)
		return len(list.Dialogs) == 1
	})
	return list.Dialogs[0].ID
}

// TestButtonURLsAreHTTPOnly: a reply's URL buttons must be absolute http(s) addresses with a
// host; javascript:, data: and the like are refused with 422 naming the button.
func TestButtonURLsAreHTTPOnly(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	d := widgetDialog(t, inst, admin)
	path := apptest.Path("/api/v1/dialogs/%d/messages", d)
	for _, u := range []string{
		"javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
		"data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "file:///etc/passwd", "ftp://example.com/",
		"//evil.example/", "/relative", "https:evil.example", "http://", "https:///path", "example.com",
	} {
		body := map[string]any{"text": "Pay here", "buttons": [][]map[string]string{{{"text": "Yes", "data": "y"}, {"text": "Pay now", "url": u}}}}
		code, out := admin.Call(t, "POST", path, body, nil)
		if code != http.StatusUnprocessableEntity || errorCode(out) != "invalid" || !strings.Contains(string(out), "Pay now") || !strings.Contains(string(out), `"buttons"`) {
			t.Errorf("button url %q: HTTP %d %s, want 422 naming the button", u, code, out)
		}
	}
	var m struct {
		Buttons json.RawMessage `json:"buttons"`
	}
	admin.Must(t, "POST", path, map[string]any{"text": "Pay here", "buttons": [][]map[string]string{{{"text": "Pay", "url": "https://shop.example/pay?x=1"}, {"text": "Docs", "url": "http://docs.example"}}}}, &m)
	if !strings.Contains(string(m.Buttons), "https://shop.example/pay?x=1") {
		t.Fatalf("an https button: %s", m.Buttons)
	}
}

// slowRequest sends a request's headers and the first bytes of a body of n bytes from
// the given client address (X-Forwarded-For through the trusted loopback proxy), then
// stalls. It returns the open connection.
func slowRequest(t *testing.T, base, clientIP string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nX-Forwarded-For: %s\r\n\r\n{\"email\":", clientIP)
	return conn
}

// TestSlowBodiesAreCutOffAndCappedPerAddress: a body that trickles in is cut off at the body
// time limit (not held for minutes), and one address cannot hold more than the allowed
// number of requests at once (429 with the JSON error); another address is unaffected.
func TestSlowBodiesAreCutOffAndCappedPerAddress(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true, Env: map[string]string{
		"OMNICHAT_BODY_TIMEOUT": "1s", "OMNICHAT_TRUSTED_PROXIES": "127.0.0.1",
	}})
	conn := slowRequest(t, inst.URL, "203.0.113.5")
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	if err == nil {
		resp.Body.Close()
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("a stalled body still holds the connection after %s", took)
	}
	if took > 15*time.Second {
		t.Fatalf("the stalled body was cut off only after %s", took)
	}
	t.Logf("stalled body cut off after %s (resp err %v)", took.Round(time.Millisecond), err)

	// The cap: a long body time limit, two requests per address at once.
	capped := apptest.Start(t, apptest.Options{NoWorkers: true, Env: map[string]string{
		"OMNICHAT_BODY_TIMEOUT": "60s", "OMNICHAT_TRUSTED_PROXIES": "127.0.0.1", "OMNICHAT_MAX_REQUESTS_PER_ADDRESS": "2",
	}})
	c1, c2 := slowRequest(t, capped.URL, "203.0.113.5"), slowRequest(t, capped.URL, "203.0.113.5")
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	var body []byte
	apptest.Eventually(t, 15*time.Second, "429 for a third request from the same address", func() bool {
		var resp *http.Response
		resp, body = raw(t, "GET", capped.URL+"/healthz", "", nil, from("203.0.113.5"))
		return resp.StatusCode == http.StatusTooManyRequests
	})
	if errorCode(body) != "rate_limited" {
		t.Fatalf("over the cap: %s, want the JSON error rate_limited", body)
	}
	if resp, body := raw(t, "POST", capped.URL+"/api/v1/session", "", []byte(`{"email":"a@example.com","password":"wrong-password"}`), from("203.0.113.6")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("another address while the first is capped: HTTP %d %s", resp.StatusCode, body)
	}
	// Event streams stay open for hours and are not counted.
	admin := capped.Admin(t)
	for range 3 {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", capped.URL+"/api/v1/stream", nil)
		req.Header.Set("Authorization", "Bearer "+admin.Token)
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("event stream: HTTP %d", resp.StatusCode)
		}
	}
	if resp, body := raw(t, "GET", capped.URL+"/healthz", "", nil, from("203.0.113.7")); resp.StatusCode != http.StatusOK {
		t.Fatalf("a request beside three open event streams: HTTP %d %s", resp.StatusCode, body)
	}
	c1.Close()
	c2.Close()
	apptest.Eventually(t, 15*time.Second, "the address served again once its requests ended", func() bool {
		resp, _ := raw(t, "GET", capped.URL+"/healthz", "", nil, from("203.0.113.5"))
		return resp.StatusCode == http.StatusOK
	})
}
