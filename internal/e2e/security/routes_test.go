package security

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/omnichat/omnichat/internal/apptest"
)

// Every route the server has is one of three kinds. Public routes need no session;
// operator routes need any signed-in user; everything else is for admins only. A route
// nobody listed here is treated as admin-only: a new route for operators must be named in
// operatorRoutes (deny by default).
var publicPrefixes = []string{
	"/healthz", "/readyz", "/webhooks/", "/static/", "/favicon", "/login", "/widget", "/api/v1/widget",
	"/invite", "/robots.txt", "/public/",
}

var publicRoutes = map[string]bool{
	"POST /api/v1/session": true,
	"GET /":                true, // redirects to the inbox or the sign-in page
}

// operatorRoutes are open to every signed-in user (exact "METHOD path" as registered).
var operatorRoutes = map[string]bool{
	"DELETE /api/v1/session":      true,
	"GET /api/v1/me":              true,
	"PUT /api/v1/operators/:id":   true, // own name, locale and status; checked in the handler
	"GET /api/v1/sessions":        true,
	"DELETE /api/v1/sessions/:id": true,
	"GET /api/v1/tokens":          true,
	"POST /api/v1/tokens":         true,
	"DELETE /api/v1/tokens/:id":   true,
	"GET /api/v1/stream":          true,
	"GET /api/v1/providers":       true,
	"GET /api/v1/operators":       true,
	"GET /api/v1/departments":     true,
	"GET /api/v1/clients":         true,
	"POST /api/v1/clients":        true,
	"GET /api/v1/clients/:id":     true,
	"PUT /api/v1/clients/:id":     true,
	"POST /api/v1/logout":         true,
}

// operatorPrefixes: the inbox and its API (dialogs, messages, files, presence).
var operatorPrefixes = []string{
	"/api/v1/dialogs", "/api/v1/files", "/api/v1/presence", "/api/v1/templates", "/api/v1/quick",
	"/inbox", "/account", "/profile", "/logout", "/api/v1/search",
}

type routeKind int

const (
	kindPublic routeKind = iota
	kindOperator
	kindAdmin
)

func classify(method, path string) routeKind {
	key := method + " " + path
	if publicRoutes[key] {
		return kindPublic
	}
	for _, p := range publicPrefixes {
		if strings.HasPrefix(path, p) {
			return kindPublic
		}
	}
	if operatorRoutes[key] {
		return kindOperator
	}
	for _, p := range operatorPrefixes {
		if strings.HasPrefix(path, p) {
			return kindOperator
		}
	}
	return kindAdmin
}

var paramRe = regexp.MustCompile(`:[a-z_]+`)

// concrete turns a route pattern into a path that reaches the handler.
func concrete(path string) string {
	p := paramRe.ReplaceAllStringFunc(path, func(s string) string {
		switch s {
		case ":action":
			return "close"
		case ":name":
			return "qr"
		case ":kind":
			return "telegram"
		}
		return "1"
	})
	return strings.ReplaceAll(p, "*", "x")
}

type route struct{ method, path string }

func allRoutes(t *testing.T, inst *apptest.Instance) []route {
	seen := map[route]bool{}
	var out []route
	for _, r := range inst.App.HTTP.Echo().Routes() {
		switch r.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue // HEAD/OPTIONS/CONNECT/TRACE variants of e.Any and echo's internal routes
		}
		k := route{r.Method, r.Path}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path+out[i].method < out[j].path+out[j].method })
	if len(out) < 30 {
		t.Fatalf("only %d routes found: the walk is broken", len(out))
	}
	return out
}

// TestEveryAdminRouteRefusesOperatorsAndAnonymous walks every registered route: an
// anonymous caller gets 401 (or, for a page, the sign-in page) on everything that is not
// public; an operator gets 403 on everything that is not an operator route; an admin is let
// through (not 401/403) on every admin GET.
func TestEveryAdminRouteRefusesOperatorsAndAnonymous(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	op := inst.CreateUser(t, "op@example.com", "operator")
	// Pages take only the session cookie (a bearer token is sent to the sign-in page).
	opBrowser := signInBrowser(t, inst, "op@example.com", "test-password-1")
	adminBrowser := signInBrowser(t, inst, "admin@example.com", "test-password-1")

	var nAdmin, nAnon int
	for _, r := range allRoutes(t, inst) {
		kind := classify(r.method, r.path)
		if kind == kindPublic {
			continue
		}
		url := inst.URL + concrete(r.path)
		var body []byte
		if r.method != http.MethodGet && r.method != http.MethodDelete {
			body = []byte(`{}`)
		}
		page := isPage(r.path)
		hdr := map[string]string{}
		if page {
			hdr["Accept"] = "text/html"
		}

		// Anonymous.
		resp, out := raw(t, r.method, url, "", body, hdr)
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
		case page && (resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther) &&
			strings.HasPrefix(resp.Header.Get("Location"), "/login"):
		default:
			t.Errorf("anonymous %s %s: HTTP %d %.200s, want 401", r.method, r.path, resp.StatusCode, out)
		}
		nAnon++

		if kind != kindAdmin {
			continue
		}
		nAdmin++
		// Operator (bearer token for the API: CSRF does not apply, so only the role decides;
		// the cookie with its CSRF token for pages).
		if page {
			resp, out = opBrowser.do(t, r.method, concrete(r.path), nil, true, hdr)
		} else {
			resp, out = raw(t, r.method, url, op.Token, body, hdr)
		}
		// Pages may answer 404 instead (they do not even admit the page exists).
		if resp.StatusCode != http.StatusForbidden && !(page && resp.StatusCode == http.StatusNotFound) {
			t.Errorf("operator %s %s: HTTP %d %.200s, want 403 (if operators may use it, list it in operatorRoutes)", r.method, r.path, resp.StatusCode, out)
		} else if !page && errorCode(out) != "forbidden" {
			t.Errorf("operator %s %s: error code %q, want forbidden", r.method, r.path, errorCode(out))
		}
		// The admin passes the role check (reads only: writes would change things).
		if r.method == http.MethodGet {
			if page {
				resp, out = adminBrowser.do(t, r.method, concrete(r.path), nil, false, hdr)
			} else {
				resp, out = raw(t, r.method, url, admin.Token, nil, hdr)
			}
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				t.Errorf("admin %s %s: HTTP %d %.200s", r.method, r.path, resp.StatusCode, out)
			}
		}
	}
	t.Logf("checked %d signed-in routes anonymously and %d admin routes as an operator", nAnon, nAdmin)
	if nAdmin < 15 {
		t.Fatalf("only %d admin routes: the classification is broken", nAdmin)
	}
}

// TestCookieWritesNeedCSRFToken: with the session cookie, every write route answers 403
// without the CSRF token, before any handler runs.
func TestCookieWritesNeedCSRFToken(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	inst.Admin(t)
	b := signInBrowser(t, inst, "admin@example.com", "test-password-1")
	n := 0
	for _, r := range allRoutes(t, inst) {
		if r.method == http.MethodGet || classify(r.method, r.path) == kindPublic {
			continue
		}
		resp, out := b.do(t, r.method, concrete(r.path), map[string]any{}, false, nil)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(out), "CSRF") {
			t.Errorf("cookie %s %s without CSRF token: HTTP %d %.200s, want 403 naming CSRF", r.method, r.path, resp.StatusCode, out)
		}
		n++
	}
	if n < 15 {
		t.Fatalf("only %d write routes checked", n)
	}
	// With the token the same session works, and a wrong token is refused.
	resp, out := b.do(t, "POST", "/api/v1/departments", map[string]any{"name": "Sales"}, true, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("with CSRF token: HTTP %d %s", resp.StatusCode, out)
	}
	resp, _ = b.do(t, "POST", "/api/v1/departments", map[string]any{"name": "Sales 2"}, false, map[string]string{"X-CSRF-Token": "wrong"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong CSRF token: HTTP %d, want 403", resp.StatusCode)
	}
	t.Logf("%d cookie write routes refused without the CSRF token", n)
}
