package foundation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/auth"
	"github.com/omnichat/omnichat/internal/store"
)

// Sign-in: email in any case, a token stored only as a hash, an HttpOnly SameSite cookie
// whose Secure flag follows the configuration, and the user without its password hash.
func TestSignIn(t *testing.T) {
	for _, secure := range []bool{false, true} {
		env := map[string]string{"OMNICHAT_COOKIE_SECURE": "false", "OMNICHAT_SESSION_TTL": "2h"}
		if secure {
			env["OMNICHAT_COOKIE_SECURE"] = "true"
		}
		inst := apptest.Start(t, apptest.Options{NoWorkers: true, Env: env})
		createUser(t, inst, "Olga.Op@Example.com", "operator")
		before := time.Now()
		s, r := mustSignIn(t, inst.URL, "  olga.op@EXAMPLE.com ", password)
		if s.User.Email != "Olga.Op@Example.com" || s.User.Role != "operator" || s.User.ID == 0 {
			t.Errorf("user %+v", s.User)
		}
		if bytes.Contains(r.Body, []byte("argon2")) || bytes.Contains(r.Body, []byte("password")) {
			t.Errorf("the answer carries the password hash: %s", r.Body)
		}
		if s.ExpiresAt.Before(before.Add(2*time.Hour-time.Minute)) || s.ExpiresAt.After(time.Now().Add(2*time.Hour+time.Minute)) {
			t.Errorf("expires_at %s, want about 2h from now", s.ExpiresAt)
		}
		ck := sessionCookie(t, r)
		if ck.Value != s.Token || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure != secure || ck.Path != "/" {
			t.Errorf("cookie %+v (want HttpOnly, SameSite=Lax, Secure=%t)", ck, secure)
		}
		// Only a SHA-256 of the token is stored; the hash of the password is argon2id.
		sum := sha256.Sum256([]byte(s.Token))
		var n int
		var plain bool
		if err := inst.Pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE token_hash = $1), bool_or(position($2 in encode(token_hash, 'escape')) > 0) FROM sessions`, sum[:], s.Token).Scan(&n, &plain); err != nil || n != 1 || plain {
			t.Errorf("stored sessions: %d with the token's hash, plain %t (%v)", n, plain, err)
		}
		u, err := store.UserByEmail(context.Background(), inst.Pool, "olga.op@example.com")
		if err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$") || strings.Contains(u.PasswordHash, password) {
			t.Errorf("password hash %q (%v)", u.PasswordHash, err)
		}
		// The token works as Bearer and as the cookie.
		if r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(s.Token)}); r.Status != 200 {
			t.Errorf("bearer: %d %s", r.Status, r.Body)
		}
		if r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Cookies: []*http.Cookie{ck}}); r.Status != 200 {
			t.Errorf("cookie: %d %s", r.Status, r.Body)
		}
		wantError(t, "wrong password", signIn(t, inst.URL, "olga.op@example.com", "Wrong-Secret-9", nil), 401, "unauthorized")
		// Neither passwords nor tokens reach the log.
		for _, secret := range []string{password, "Wrong-Secret-9", s.Token, s.CSRFToken} {
			if strings.Contains(inst.Log.String(), secret) {
				t.Errorf("the server log contains a secret %q", secret[:4]+"…")
			}
		}
	}
}

// Users: email unique whatever its case, two roles, passwords with rules.
func TestUsersAndRoles(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	ctx := context.Background()
	svc := inst.App.Auth
	if _, _, err := svc.CreateUser(ctx, 0, "Ann@Example.com", "", auth.RoleAdmin, password, 0); err != nil {
		t.Fatal(err)
	}
	var ae *apperr.Error
	if _, _, err := svc.CreateUser(ctx, 0, "ann@EXAMPLE.COM", "", auth.RoleOperator, password, 0); !errors.As(err, &ae) || ae.Code != apperr.Conflict {
		t.Errorf("same email in another case: %v", err)
	}
	// The database itself refuses it too (two instances racing past the service).
	u := store.User{Email: "ANN@example.com", Name: "x", Role: "operator", PasswordHash: "x"}
	if err := store.CreateUser(ctx, inst.Pool, &u); !errors.Is(err, store.ErrConflict) {
		t.Errorf("store: same email in another case: %v", err)
	}
	for _, tc := range []struct{ email, role, pw string }{
		{"bob@example.com", "owner", password},
		{"not-an-email", "operator", password},
		{"bob@example.com", "operator", "short"},
		{"bob@example.com", "operator", "        "},
		{"bob@example.com", "operator", strings.Repeat("p", 201)},
	} {
		if _, _, err := svc.CreateUser(ctx, 0, tc.email, "", tc.role, tc.pw, 0); !errors.As(err, &ae) || ae.Code != apperr.Invalid {
			t.Errorf("CreateUser(%q, %q, %d chars): %v, want invalid", tc.email, tc.role, len(tc.pw), err)
		}
	}
	// Roles: an operator may not use admin routes, an admin may.
	createUser(t, inst, "op@example.com", "operator")
	op, _ := mustSignIn(t, inst.URL, "op@example.com", password)
	adm, _ := mustSignIn(t, inst.URL, "ann@example.com", password)
	wantError(t, "operator lists channels", do(t, inst.URL, req{Method: "GET", Path: "/api/v1/channels", Header: bearer(op.Token)}), 403, "forbidden")
	if r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/channels", Header: bearer(adm.Token)}); r.Status != 200 {
		t.Errorf("admin lists channels: %d %s", r.Status, r.Body)
	}
	// A deactivated user can no longer sign in, and loses the sessions it had.
	if err := store.UpdateUser(ctx, inst.Pool, op.User.ID, store.UserUpdate{Active: new(bool)}); err != nil {
		t.Fatal(err)
	}
	wantError(t, "deactivated user's token", do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(op.Token)}), 401, "unauthorized")
	wantError(t, "deactivated user signs in", signIn(t, inst.URL, "op@example.com", password, nil), 401, "unauthorized")
}

// A wrong email, a wrong password and a deactivated account get the very same answer.
func TestWrongEmailAndWrongPasswordLookAlike(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	createUser(t, inst, "op@example.com", "operator")
	createUser(t, inst, "gone@example.com", "operator")
	gone, _ := store.UserByEmail(context.Background(), inst.Pool, "gone@example.com")
	if err := store.UpdateUser(context.Background(), inst.Pool, gone.ID, store.UserUpdate{Active: new(bool)}); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, c := range [][2]string{{"op@example.com", "wrong-password"}, {"nobody@example.com", password}, {"gone@example.com", password}, {"op@example.com", strings.Repeat("x", 500)}} {
		r := signIn(t, inst.URL, c[0], c[1], nil)
		wantError(t, "sign in "+c[0], r, 401, "unauthorized")
		if len(r.Resp.Cookies()) != 0 {
			t.Errorf("%s: a failed sign-in set a cookie", c[0])
		}
		bodies = append(bodies, string(r.Body))
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("answers differ: %s vs %s", bodies[0], b)
		}
	}
	if bodies[0] != `{"error":{"code":"unauthorized","message":"wrong email or password"}}`+"\n" {
		t.Errorf("answer %q", bodies[0])
	}
}

// params fills route parameters with values that name nothing.
var params = strings.NewReplacer(":channel_id", "987654", ":mid", "987654", ":id", "987654", ":action", "close", ":name", "check")

// Every /api/v1 route refuses a caller without credentials (401, error shape) and takes a
// Bearer token: with one, no route answers 401.
func TestBearerOnEveryAPIRoute(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	createUser(t, inst, "admin@example.com", "admin")
	u, _ := store.UserByEmail(context.Background(), inst.Pool, "admin@example.com")
	routes := 0
	for _, rt := range inst.App.HTTP.Echo().Routes() {
		if !strings.HasPrefix(rt.Path, "/api/v1/") || rt.Method == "echo_route_not_found" || strings.HasSuffix(rt.Path, "*") {
			continue
		}
		if rt.Path == "/api/v1/session" && rt.Method == "POST" {
			continue // signing in is the one public call
		}
		routes++
		path := params.Replace(rt.Path)
		var body []byte
		if rt.Method == "POST" || rt.Method == "PUT" || rt.Method == "PATCH" {
			body = []byte(`{}`)
		}
		r := do(t, inst.URL, req{Method: rt.Method, Path: path, Body: body})
		wantError(t, rt.Method+" "+rt.Path+" without credentials", r, 401, "unauthorized")

		// A fresh session per route: DELETE /session signs out the token it is called with.
		tok, _, err := inst.App.Auth.NewSession(context.Background(), u.ID, "session", "", "127.0.0.1", "test")
		if err != nil {
			t.Fatal(err)
		}
		if rt.Path == "/api/v1/stream" {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			hr, _ := http.NewRequestWithContext(ctx, "GET", inst.URL+path, nil)
			hr.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(hr)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("stream with a bearer token: %v %v", err, resp)
			} else {
				resp.Body.Close()
			}
			cancel()
			continue
		}
		if r := do(t, inst.URL, req{Method: rt.Method, Path: path, Body: body, Header: bearer(tok)}); r.Status == 401 || r.Status == 403 {
			t.Errorf("%s %s with an admin's bearer token: %d %s", rt.Method, path, r.Status, r.Body)
		}
	}
	if routes < 20 {
		t.Fatalf("only %d /api/v1 routes found", routes)
	}
	t.Logf("%d /api/v1 routes: 401 without credentials, accepted with Bearer", routes)
}

// Writes authenticated by the cookie need the session's CSRF token; Bearer calls do not
// (a foreign site cannot set the header, and cannot read the token).
func TestCookieWritesNeedTheCSRFToken(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	createUser(t, inst, "op@example.com", "operator")
	s, r := mustSignIn(t, inst.URL, "op@example.com", password)
	ck := sessionCookie(t, r)
	jar := []*http.Cookie{ck}

	name := jsonBody(map[string]string{"name": "CRM"})
	wantError(t, "cookie write without CSRF", do(t, inst.URL, req{Method: "POST", Path: "/api/v1/tokens", Body: name, Cookies: jar}), 403, "forbidden")
	wantError(t, "cookie write with a wrong CSRF", do(t, inst.URL, req{Method: "POST", Path: "/api/v1/tokens", Body: name, Cookies: jar, Header: map[string]string{"X-CSRF-Token": "guess"}}), 403, "forbidden")
	// Another session's CSRF token does not fit this one.
	other, _ := mustSignIn(t, inst.URL, "op@example.com", password)
	wantError(t, "cookie write with another session's CSRF", do(t, inst.URL, req{Method: "POST", Path: "/api/v1/tokens", Body: name, Cookies: jar, Header: map[string]string{"X-CSRF-Token": other.CSRFToken}}), 403, "forbidden")
	if r := do(t, inst.URL, req{Method: "POST", Path: "/api/v1/tokens", Body: name, Cookies: jar, Header: map[string]string{"X-CSRF-Token": s.CSRFToken}}); r.Status != 201 {
		t.Errorf("cookie write with the CSRF token: %d %s", r.Status, r.Body)
	}
	// Reads need none; GET /me hands the page its CSRF token.
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	r = do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Cookies: jar})
	if err := json.Unmarshal(r.Body, &me); r.Status != 200 || err != nil || me.CSRF != s.CSRFToken {
		t.Errorf("GET /me with the cookie: %d %s", r.Status, r.Body)
	}
	// Bearer writes need no CSRF token.
	if r := do(t, inst.URL, req{Method: "POST", Path: "/api/v1/tokens", Body: name, Header: bearer(s.Token)}); r.Status != 201 {
		t.Errorf("bearer write: %d %s", r.Status, r.Body)
	}
	// Signing out with the cookie needs it too.
	wantError(t, "cookie sign-out without CSRF", do(t, inst.URL, req{Method: "DELETE", Path: "/api/v1/session", Cookies: jar}), 403, "forbidden")
	if r := do(t, inst.URL, req{Method: "DELETE", Path: "/api/v1/session", Cookies: jar, Header: map[string]string{"X-CSRF-Token": s.CSRFToken}}); r.Status != 204 {
		t.Errorf("cookie sign-out: %d %s", r.Status, r.Body)
	}
	wantError(t, "cookie after sign-out", do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Cookies: jar}), 401, "unauthorized")
}

// Sign-out ends the token at once and clears the cookie; the user's other sessions live on.
func TestSignOut(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	createUser(t, inst, "op@example.com", "operator")
	a, _ := mustSignIn(t, inst.URL, "op@example.com", password)
	b, _ := mustSignIn(t, inst.URL, "op@example.com", password)
	r := do(t, inst.URL, req{Method: "DELETE", Path: "/api/v1/session", Header: bearer(a.Token)})
	if r.Status != 204 {
		t.Fatalf("sign out: %d %s", r.Status, r.Body)
	}
	if ck := sessionCookie(t, r); ck.Value != "" || ck.MaxAge >= 0 {
		t.Errorf("sign-out cookie %+v, want it cleared", ck)
	}
	e := wantError(t, "signed-out token", do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(a.Token)}), 401, "unauthorized")
	if !strings.Contains(e.Error.Message, "sign in again") {
		t.Errorf("message %q", e.Error.Message)
	}
	wantError(t, "signing out twice", do(t, inst.URL, req{Method: "DELETE", Path: "/api/v1/session", Header: bearer(a.Token)}), 401, "unauthorized")
	if r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(b.Token)}); r.Status != 200 {
		t.Errorf("the other session: %d", r.Status)
	}
}

// Sessions expire by the auth service's clock; API tokens outlive them.
func TestSessionExpiry(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true, Env: map[string]string{"OMNICHAT_SESSION_TTL": "1h"}})
	clk := useClock(inst)
	createUser(t, inst, "op@example.com", "operator")
	s, _ := mustSignIn(t, inst.URL, "op@example.com", password)
	var tok struct {
		Token string `json:"token"`
	}
	r := do(t, inst.URL, req{Method: "POST", Path: "/api/v1/tokens", Body: jsonBody(map[string]string{"name": "CRM"}), Header: bearer(s.Token)})
	if err := json.Unmarshal(r.Body, &tok); r.Status != 201 || err != nil || tok.Token == "" {
		t.Fatalf("create token: %d %s", r.Status, r.Body)
	}

	clk.advance(59 * time.Minute)
	if r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(s.Token)}); r.Status != 200 {
		t.Fatalf("59 minutes in: %d %s", r.Status, r.Body)
	}
	clk.advance(2 * time.Minute)
	wantError(t, "61 minutes in", do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(s.Token)}), 401, "unauthorized")
	if r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(tok.Token)}); r.Status != 200 {
		t.Errorf("the API token after the session expired: %d %s", r.Status, r.Body)
	}
	// An expired session is not listed; a new sign-in works.
	s2, _ := mustSignIn(t, inst.URL, "op@example.com", password)
	var list struct {
		Sessions []store.Session `json:"sessions"`
	}
	r = do(t, inst.URL, req{Method: "GET", Path: "/api/v1/sessions", Header: bearer(s2.Token)})
	if err := json.Unmarshal(r.Body, &list); err != nil || len(list.Sessions) != 1 {
		t.Errorf("sessions after expiry: %s", r.Body)
	}
}

// The user's sessions are listed (no secrets) and any of them can be revoked; another
// user's cannot.
func TestSessionsListAndRevoke(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	createUser(t, inst, "op@example.com", "operator")
	createUser(t, inst, "other@example.com", "operator")
	a, _ := mustSignIn(t, inst.URL, "op@example.com", password)
	b, _ := mustSignIn(t, inst.URL, "op@example.com", password)
	o, _ := mustSignIn(t, inst.URL, "other@example.com", password)

	var list struct {
		Sessions []store.Session `json:"sessions"`
		Current  int64           `json:"current"`
	}
	r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/sessions", Header: bearer(a.Token)})
	if err := json.Unmarshal(r.Body, &list); r.Status != 200 || err != nil || len(list.Sessions) != 2 || list.Current == 0 {
		t.Fatalf("sessions: %d %s", r.Status, r.Body)
	}
	for _, secret := range []string{a.Token, b.Token, a.CSRFToken, b.CSRFToken, "token_hash", "csrf"} {
		if bytes.Contains(r.Body, []byte(secret)) {
			t.Errorf("the session list shows %q", secret)
		}
	}
	var bID int64
	for _, s := range list.Sessions {
		if s.ID != list.Current {
			bID = s.ID
		}
		if s.IP != "127.0.0.1" || s.UserAgent == "" {
			t.Errorf("session %+v lacks where it came from", s)
		}
	}
	// The other user's session is not found, not revoked.
	var olist struct {
		Current int64 `json:"current"`
	}
	_ = json.Unmarshal(do(t, inst.URL, req{Method: "GET", Path: "/api/v1/sessions", Header: bearer(o.Token)}).Body, &olist)
	wantError(t, "revoke another user's session", do(t, inst.URL, req{Method: "DELETE", Path: apptest.Path("/api/v1/sessions/%d", olist.Current), Header: bearer(a.Token)}), 404, "not_found")
	if r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(o.Token)}); r.Status != 200 {
		t.Errorf("the other user's session after a foreign revoke: %d", r.Status)
	}
	if r := do(t, inst.URL, req{Method: "DELETE", Path: apptest.Path("/api/v1/sessions/%d", bID), Header: bearer(a.Token)}); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	wantError(t, "revoked session", do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(b.Token)}), 401, "unauthorized")
	if r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(a.Token)}); r.Status != 200 {
		t.Errorf("the revoking session: %d", r.Status)
	}
}

// API tokens: made by a signed-in user, shown once, usable as Bearer, listed apart from
// sessions, revocable.
func TestAPITokens(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	createUser(t, inst, "admin@example.com", "admin")
	s, _ := mustSignIn(t, inst.URL, "admin@example.com", password)
	wantError(t, "token without a name", do(t, inst.URL, req{Method: "POST", Path: "/api/v1/tokens", Body: []byte(`{"name":" "}`), Header: bearer(s.Token)}), 422, "invalid")
	var created struct {
		Token   string        `json:"token"`
		Session store.Session `json:"session"`
	}
	r := do(t, inst.URL, req{Method: "POST", Path: "/api/v1/tokens", Body: jsonBody(map[string]string{"name": "CRM sync"}), Header: bearer(s.Token)})
	if err := json.Unmarshal(r.Body, &created); r.Status != 201 || err != nil || created.Token == "" || created.Session.Kind != "api" || created.Session.Name != "CRM sync" {
		t.Fatalf("create token: %d %s", r.Status, r.Body)
	}
	if created.Session.ExpiresAt.Before(time.Now().Add(365 * 24 * time.Hour)) {
		t.Errorf("an API token should last years, expires %s", created.Session.ExpiresAt)
	}
	// Usable on user and admin routes.
	for _, p := range []string{"/api/v1/me", "/api/v1/channels", "/api/v1/dialogs"} {
		if r := do(t, inst.URL, req{Method: "GET", Path: p, Header: bearer(created.Token)}); r.Status != 200 {
			t.Errorf("GET %s with the API token: %d %s", p, r.Status, r.Body)
		}
	}
	var tokens, sessions struct {
		Sessions []store.Session `json:"sessions"`
	}
	_ = json.Unmarshal(do(t, inst.URL, req{Method: "GET", Path: "/api/v1/tokens", Header: bearer(s.Token)}).Body, &tokens)
	_ = json.Unmarshal(do(t, inst.URL, req{Method: "GET", Path: "/api/v1/sessions", Header: bearer(s.Token)}).Body, &sessions)
	if len(tokens.Sessions) != 1 || tokens.Sessions[0].ID != created.Session.ID || len(sessions.Sessions) != 1 || sessions.Sessions[0].Kind != "session" {
		t.Errorf("tokens %+v, sessions %+v", tokens.Sessions, sessions.Sessions)
	}
	// Signing out of the browser session leaves the token alone; revoking it ends it.
	if r := do(t, inst.URL, req{Method: "DELETE", Path: "/api/v1/session", Header: bearer(s.Token)}); r.Status != 204 {
		t.Fatalf("sign out: %d", r.Status)
	}
	if r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(created.Token)}); r.Status != 200 {
		t.Errorf("token after the session signed out: %d", r.Status)
	}
	// Each list revokes only its own kind.
	wantError(t, "a token revoked as a session", do(t, inst.URL, req{Method: "DELETE", Path: apptest.Path("/api/v1/sessions/%d", created.Session.ID), Header: bearer(created.Token)}), 404, "not_found")
	wantError(t, "a session revoked as a token", do(t, inst.URL, req{Method: "DELETE", Path: apptest.Path("/api/v1/tokens/%d", sessions.Sessions[0].ID), Header: bearer(created.Token)}), 404, "not_found")
	if r := do(t, inst.URL, req{Method: "DELETE", Path: apptest.Path("/api/v1/tokens/%d", created.Session.ID), Header: bearer(created.Token)}); r.Status != 204 {
		t.Fatalf("revoke token: %d %s", r.Status, r.Body)
	}
	wantError(t, "revoked token", do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(created.Token)}), 401, "unauthorized")
}

// Failed sign-ins are limited per email: the failures are counted in the database, so two
// instances share one count. The limit ends after the window.
func TestSignInRateLimitPerEmailAcrossInstances(t *testing.T) {
	a := apptest.Start(t, apptest.Options{NoWorkers: true})
	b := apptest.Start(t, apptest.Options{NoWorkers: true, DatabaseURL: a.DatabaseURL})
	clk := useClock(a, b)
	createUser(t, a, "op@example.com", "operator")
	createUser(t, a, "other@example.com", "operator")
	insts := []*apptest.Instance{a, b}
	for i := 0; i < auth.MaxPerEmail; i++ {
		// Alternate instances and the email's case: one count for them all.
		email := map[bool]string{true: "op@example.com", false: "OP@Example.COM"}[i%2 == 0]
		wantError(t, "failure", signIn(t, insts[i%2].URL, email, "wrong-password", nil), 401, "unauthorized")
	}
	for _, inst := range insts {
		// Even the right password is refused while the limit holds.
		e := wantError(t, "after the limit", signIn(t, inst.URL, "op@example.com", password, nil), 429, "rate_limited")
		if !strings.Contains(e.Error.Message, "15 minutes") {
			t.Errorf("message %q", e.Error.Message)
		}
	}
	// Another email from the same address is not affected.
	mustSignIn(t, b.URL, "other@example.com", password)
	// After the window the right password works again.
	clk.advance(auth.Window + time.Second)
	mustSignIn(t, a.URL, "op@example.com", password)
}

// Failed sign-ins are limited per address, whatever emails are tried, across instances;
// X-Forwarded-For from the client does not change the address.
func TestSignInRateLimitPerAddress(t *testing.T) {
	a := apptest.Start(t, apptest.Options{NoWorkers: true})
	b := apptest.Start(t, apptest.Options{NoWorkers: true, DatabaseURL: a.DatabaseURL})
	createUser(t, a, "op@example.com", "operator")
	for i := 0; i < auth.MaxPerAddress; i++ {
		inst := map[bool]*apptest.Instance{true: a, false: b}[i%2 == 0]
		hdr := map[string]string{"X-Forwarded-For": apptest.Path("203.0.113.%d", i)}
		wantError(t, "failure", signIn(t, inst.URL, apptest.Path("guess%d@example.com", i), "wrong-password", hdr), 401, "unauthorized")
	}
	wantError(t, "a valid user after the address's limit", signIn(t, b.URL, "op@example.com", password, map[string]string{"X-Forwarded-For": "198.51.100.7"}), 429, "rate_limited")
	var n int
	if err := a.Pool.QueryRow(context.Background(), `SELECT count(*) FROM login_failures WHERE key = 'ip:127.0.0.1'`).Scan(&n); err != nil || n != auth.MaxPerAddress {
		t.Errorf("%d failures recorded for 127.0.0.1 (%v), want %d", n, err, auth.MaxPerAddress)
	}
}

// The bootstrap admin from OMNICHAT_ADMIN_EMAIL/PASSWORD is created once, even by two
// instances starting at the same moment, and never overwritten later.
func TestBootstrapAdminOnce(t *testing.T) {
	env := map[string]string{"OMNICHAT_ADMIN_EMAIL": "Boss@Example.com", "OMNICHAT_ADMIN_PASSWORD": "boss-password-1"}
	a := apptest.Start(t, apptest.Options{NoWorkers: true, Env: env})
	b := apptest.Start(t, apptest.Options{NoWorkers: true, Env: env, DatabaseURL: a.DatabaseURL})
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		created := make([]bool, 2)
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, inst := range []*apptest.Instance{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				created[i], errs[i] = inst.App.Bootstrap(context.Background())
			}()
		}
		close(start)
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: %v, %v", round, errs[0], errs[1])
		}
		n := 0
		for _, c := range created {
			if c {
				n++
			}
		}
		if want := map[bool]int{true: 1, false: 0}[round == 0]; n != want {
			t.Errorf("round %d: %d instances created the admin, want %d", round, n, want)
		}
	}
	var admins int
	if err := a.Pool.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE lower(email) = 'boss@example.com' AND role = 'admin' AND active`).Scan(&admins); err != nil || admins != 1 {
		t.Fatalf("%d bootstrap admins (%v)", admins, err)
	}
	s, _ := mustSignIn(t, b.URL, "boss@example.com", "boss-password-1")
	if s.User.Role != "admin" {
		t.Errorf("role %q", s.User.Role)
	}
	// A changed OMNICHAT_ADMIN_PASSWORD does not reset an existing admin's password.
	env["OMNICHAT_ADMIN_PASSWORD"] = "a-new-password-2"
	c := apptest.Start(t, apptest.Options{NoWorkers: true, Env: env, DatabaseURL: a.DatabaseURL})
	if created, err := c.App.Bootstrap(context.Background()); created || err != nil {
		t.Fatalf("bootstrap with the admin present: %t %v", created, err)
	}
	wantError(t, "the new bootstrap password", signIn(t, c.URL, "boss@example.com", "a-new-password-2", nil), 401, "unauthorized")
	mustSignIn(t, c.URL, "boss@example.com", "boss-password-1")
}

// A burst of concurrent guesses, spread over two instances, gets no more than the limit
// through to a password check: the rest are refused before it.
func TestSignInRateLimitHoldsUnderABurst(t *testing.T) {
	a := apptest.Start(t, apptest.Options{NoWorkers: true})
	b := apptest.Start(t, apptest.Options{NoWorkers: true, DatabaseURL: a.DatabaseURL})
	createUser(t, a, "op@example.com", "operator")
	const burst = 16
	statuses := make([]int, burst)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range burst {
		inst := map[bool]*apptest.Instance{true: a, false: b}[i%2 == 0]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i] = signIn(t, inst.URL, "op@example.com", apptest.Path("guess-%d-password", i), nil).Status
		}()
	}
	close(start)
	wg.Wait()
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	if counts[401] > auth.MaxPerEmail || counts[401]+counts[429] != burst {
		t.Errorf("statuses %v: at most %d wrong passwords may be checked", counts, auth.MaxPerEmail)
	}
	var n int
	if err := a.Pool.QueryRow(context.Background(), `SELECT count(*) FROM login_failures WHERE key = 'email:op@example.com'`).Scan(&n); err != nil || n != counts[401] {
		t.Errorf("%d failures recorded (%v), want %d", n, err, counts[401])
	}
	t.Logf("burst of %d: %v", burst, counts)
	// A right password after the burst is refused too (the limit is reached or nearly).
	if counts[401] == auth.MaxPerEmail {
		wantError(t, "after the burst", signIn(t, a.URL, "op@example.com", password, nil), 429, "rate_limited")
	}
}

// Behind a configured reverse proxy the client is the nearest X-Forwarded-For address
// that is not a proxy: each client has its own address limit, and a client cannot pick
// its address by sending its own X-Forwarded-For through the proxy.
func TestSignInLimitsBehindATrustedProxy(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true, Env: map[string]string{"OMNICHAT_TRUSTED_PROXIES": "127.0.0.1"}})
	createUser(t, inst, "op@example.com", "operator")
	for i := 0; i < auth.MaxPerAddress; i++ {
		// The proxy appends the real peer; the client's own value comes first.
		hdr := map[string]string{"X-Forwarded-For": apptest.Path("10.9.8.%d, 203.0.113.5", i)}
		wantError(t, "failure", signIn(t, inst.URL, apptest.Path("guess%d@example.com", i), "wrong-password", hdr), 401, "unauthorized")
	}
	wantError(t, "the limited client", signIn(t, inst.URL, "op@example.com", password, map[string]string{"X-Forwarded-For": "203.0.113.5"}), 429, "rate_limited")
	if r := signIn(t, inst.URL, "op@example.com", password, map[string]string{"X-Forwarded-For": "198.51.100.7"}); r.Status != 200 {
		t.Errorf("another client behind the same proxy: %d %s", r.Status, r.Body)
	}
	var n int
	if err := inst.Pool.QueryRow(context.Background(), `SELECT count(*) FROM login_failures WHERE key = 'ip:203.0.113.5'`).Scan(&n); err != nil || n != auth.MaxPerAddress {
		t.Errorf("%d failures for 203.0.113.5 (%v)", n, err)
	}
	if !strings.Contains(inst.Log.String(), "ip=198.51.100.7") {
		t.Errorf("the access log does not show the client's address")
	}
}
