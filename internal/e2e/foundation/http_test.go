package foundation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/httpapi"
)

// Every error the HTTP layer produces has the one shape, a request id, and a code that
// matches the status.
func TestErrorShape(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	createUser(t, inst, "op@example.com", "operator")
	op, _ := mustSignIn(t, inst.URL, "op@example.com", password)
	createUser(t, inst, "admin@example.com", "admin")
	adm, _ := mustSignIn(t, inst.URL, "admin@example.com", password)

	cases := []struct {
		what   string
		r      req
		status int
		code   string
	}{
		{"unknown page", req{Method: "GET", Path: "/no/such/page"}, 404, "not_found"},
		{"unknown API route, signed out", req{Method: "GET", Path: "/api/v1/no-such-thing"}, 404, "not_found"},
		{"unknown API route, operator", req{Method: "GET", Path: "/api/v1/no-such-thing", Header: bearer(op.Token)}, 404, "not_found"},
		{"unknown API route, admin", req{Method: "GET", Path: "/api/v1/no-such-thing", Header: bearer(adm.Token)}, 404, "not_found"},
		{"wrong method on a public route", req{Method: "POST", Path: "/healthz"}, 405, "method_not_allowed"},
		{"wrong method on an API route", req{Method: "PATCH", Path: "/api/v1/me", Header: bearer(op.Token)}, 405, "method_not_allowed"},
		{"no credentials", req{Method: "GET", Path: "/api/v1/me"}, 401, "unauthorized"},
		{"unknown token", req{Method: "GET", Path: "/api/v1/me", Header: bearer("not-a-real-token")}, 401, "unauthorized"},
		{"not a bearer scheme", req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{"Authorization": "Basic YTpi"}}, 401, "unauthorized"},
		{"operator on an admin route", req{Method: "GET", Path: "/api/v1/channels", Header: bearer(op.Token)}, 403, "forbidden"},
		{"malformed JSON", req{Method: "POST", Path: "/api/v1/session", Body: []byte(`{"email":`)}, 400, "bad_request"},
		{"JSON of the wrong type", req{Method: "POST", Path: "/api/v1/session", Body: []byte(`["a"]`)}, 400, "bad_request"},
		{"not JSON", req{Method: "POST", Path: "/api/v1/session", Body: []byte(`email=a`), Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type"},
		{"missing fields", req{Method: "POST", Path: "/api/v1/session", Body: []byte(`{}`)}, 422, "invalid"},
		{"body too large", req{Method: "POST", Path: "/api/v1/session", Body: append([]byte(`{"email":"`), bytes.Repeat([]byte("a"), 2<<20)...)}, 413, "too_large"},
		{"body too large for a token name", req{Method: "POST", Path: "/api/v1/tokens", Body: jsonBody(map[string]string{"name": strings.Repeat("n", 8<<10)}), Header: bearer(op.Token)}, 413, "too_large"},
		{"missing record", req{Method: "GET", Path: "/api/v1/dialogs/987654", Header: bearer(op.Token)}, 404, "not_found"},
	}
	for _, tc := range cases {
		r := do(t, inst.URL, tc.r)
		wantError(t, tc.what, r, tc.status, tc.code)
	}

	// A 405 names the methods that exist; HEAD gets its status without a body.
	if r := do(t, inst.URL, req{Method: "PATCH", Path: "/api/v1/me", Header: bearer(op.Token)}); r.Header.Get("Allow") != "GET" {
		t.Errorf("405 Allow: %q", r.Header.Get("Allow"))
	}
	if r := do(t, inst.URL, req{Method: "POST", Path: "/api/v1/session/x"}); r.Status != 404 {
		t.Errorf("POST below a known path: HTTP %d", r.Status)
	}
	if r := do(t, inst.URL, req{Method: "HEAD", Path: "/api/v1/no-such-thing"}); r.Status != 404 || len(r.Body) != 0 {
		t.Errorf("HEAD: HTTP %d, body %q", r.Status, r.Body)
	}
	r := do(t, inst.URL, req{Method: "GET", Path: "/no/such/page", Header: map[string]string{"Accept": "text/html"}})
	if r.Status != 404 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Errorf("page 404: HTTP %d, %s", r.Status, r.Header.Get("Content-Type"))
	}
	// The API answers JSON even to a browser.
	wantError(t, "API 401 to a browser", do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{"Accept": "text/html"}}), 401, "unauthorized")
}

// An unexpected error is logged with its cause and the request id; the client sees only
// "internal error (request <id>)". A panic is the same.
func TestInternalErrorIsLoggedNeverSent(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	logs := &apptest.LogBuffer{}
	// The instance's own parts, plus two routes that fail the ways a bug would.
	d := inst.App.HTTP.Deps
	d.Log = slog.New(slog.NewTextHandler(logs, nil))
	d.Extra = append(d.Extra[:len(d.Extra):len(d.Extra)], func(e *echo.Echo) {
		e.GET("/boom", func(echo.Context) error {
			return fmt.Errorf("query users: %w", errors.New("password authentication failed for user \"omni\" SECRET-DETAIL"))
		})
		e.GET("/panic", func(echo.Context) error { panic("SECRET-PANIC") })
		e.GET("/late", func(c echo.Context) error {
			_ = c.String(200, "partial")
			return errors.New("LATE-FAILURE after the headers")
		})
	})
	srv := httpapi.New(d)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	for _, path := range []string{"/boom", "/panic"} {
		r := do(t, ts.URL, req{Method: "GET", Path: path})
		e := wantError(t, path, r, 500, "internal")
		id := r.Header.Get("X-Request-Id")
		if e.Error.Message != "internal error (request "+id+")" {
			t.Errorf("%s: message %q, want it to name request %s", path, e.Error.Message, id)
		}
		if bytes.Contains(r.Body, []byte("SECRET")) {
			t.Errorf("%s: the cause reached the client: %s", path, r.Body)
		}
		if !strings.Contains(logs.String(), "req="+id) {
			t.Errorf("%s: request id %s not in the log:\n%s", path, id, logs)
		}
	}
	// An error after the response started cannot be answered, but is logged.
	if r := do(t, ts.URL, req{Method: "GET", Path: "/late"}); r.Status != 200 || string(r.Body) != "partial" {
		t.Errorf("/late: %d %q", r.Status, r.Body)
	}
	if !strings.Contains(logs.String(), "SECRET-DETAIL") || !strings.Contains(logs.String(), "SECRET-PANIC") || !strings.Contains(logs.String(), "LATE-FAILURE") {
		t.Errorf("the causes were not logged:\n%s", logs)
	}
	// A caller's own request id is kept (a proxy's id follows the request through).
	r := do(t, ts.URL, req{Method: "GET", Path: "/boom", Header: map[string]string{"X-Request-Id": "from-the-proxy-42"}})
	if r.Header.Get("X-Request-Id") != "from-the-proxy-42" || !bytes.Contains(r.Body, []byte("(request from-the-proxy-42)")) {
		t.Errorf("incoming request id not kept: %v %s", r.Header.Get("X-Request-Id"), r.Body)
	}
}

// One structured line per request, with the request id and without the query (tokens).
func TestAccessLog(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me?access_token=SECRET-TOKEN"})
	id := r.Header.Get("X-Request-Id")
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) {
		t.Fatalf("request id %q", id)
	}
	line := ""
	apptest.Eventually(t, 5*time.Second, "the access log line", func() bool {
		for _, l := range strings.Split(inst.Log.String(), "\n") {
			if strings.Contains(l, "req="+id) && strings.Contains(l, "msg=http") {
				line = l
				return true
			}
		}
		return false
	})
	for _, want := range []string{"level=INFO", "method=GET", "path=/api/v1/me ", "status=401", "dur_ms=", "ip=127.0.0.1"} {
		if !strings.Contains(line, want) {
			t.Errorf("access log line %q lacks %q", line, want)
		}
	}
	if strings.Contains(inst.Log.String(), "SECRET-TOKEN") {
		t.Errorf("the query string reached the log")
	}
	// Two requests, two different ids.
	if r2 := do(t, inst.URL, req{Method: "GET", Path: "/healthz"}); r2.Header.Get("X-Request-Id") == id || r2.Status != 200 {
		t.Errorf("healthz: %d, id %q", r2.Status, r2.Header.Get("X-Request-Id"))
	}
}

// /readyz pings the database: with the database gone it answers 503 in the error shape
// while /healthz (the process is alive) still answers 200, API calls answer 503
// "unavailable" with Retry-After (one WARN in the log, not an ERROR per request), and /readyz
// recovers when the database is back.
func TestReadyzWhenTheDatabaseIsDown(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	createUser(t, inst, "op@example.com", "operator")
	op, _ := mustSignIn(t, inst.URL, "op@example.com", password)
	if r := do(t, inst.URL, req{Method: "GET", Path: "/readyz"}); r.Status != 200 || !bytes.Contains(r.Body, []byte(`"ready"`)) {
		t.Fatalf("readyz while up: %d %s", r.Status, r.Body)
	}

	// Take the database away: refuse new connections and end the open ones.
	cfg, err := pgx.ParseConfig(inst.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	dbName := cfg.Database
	cfg.Database = "postgres"
	ctx := context.Background()
	ctl, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close(ctx) })
	allow := func(on bool) {
		t.Helper()
		if _, err := ctl.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %t`, pgx.Identifier{dbName}.Sanitize(), on)); err != nil {
			t.Fatal(err)
		}
	}
	allow(false)
	t.Cleanup(func() { allow(true) })
	if _, err := ctl.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, dbName); err != nil {
		t.Fatal(err)
	}

	wantError(t, "readyz while down", do(t, inst.URL, req{Method: "GET", Path: "/readyz"}), 503, "unavailable")
	if r := do(t, inst.URL, req{Method: "GET", Path: "/healthz"}); r.Status != 200 {
		t.Errorf("healthz while the database is down: %d", r.Status)
	}
	r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(op.Token)})
	wantError(t, "API call while down", r, 503, "unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if logs := inst.Log.String(); strings.Count(logs, "database unavailable: answering 503") != 1 || strings.Contains(logs, `msg="internal error"`) {
		t.Errorf("want one WARN for the outage and no internal error in the log:\n%s", logs)
	}

	allow(true)
	apptest.Eventually(t, 10*time.Second, "/readyz back to 200", func() bool {
		return do(t, inst.URL, req{Method: "GET", Path: "/readyz"}).Status == 200
	})
	if r := do(t, inst.URL, req{Method: "GET", Path: "/api/v1/me", Header: bearer(op.Token)}); r.Status != 200 {
		t.Errorf("API call after the database came back: %d %s", r.Status, r.Body)
	}
}
