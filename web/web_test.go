package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestCataloguesHaveTheSameKeys(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if m := e.MissingKeys(); len(m) > 0 {
		t.Fatalf("untranslated keys: %v", m)
	}
}

// pageData is enough data for each of our pages (admin pages are rendered by their tests).
var pageData = map[string]any{
	"login": map[string]any{"Email": "a@b.c", "Next": "/inbox", "Error": ""},
	"error": map[string]any{"Status": 404, "Message": "not found"},
	"inbox": map[string]any{"DialogID": int64(0), "Channels": []map[string]any{{"ID": 1, "Name": "Shop", "Kind": "telegram"}}, "Comet": ""},
}

var untranslated = regexp.MustCompile(`>[^<]*\b(nav|me|login|status|error|inbox|conv|composer|side|common)\.[a-z_]+\b`)

func TestRenderPagesInBothLanguages(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range Languages {
		for name, data := range pageData {
			var b strings.Builder
			p := &Page{L: e.Locale(lang), User: &PageUser{ID: 1, Name: "Ann", Role: "admin", Status: "online"}, CSRF: "tok", Data: data}
			if err := e.Render(&b, name, p); err != nil {
				t.Fatalf("%s/%s: %v", lang, name, err)
			}
			out := b.String()
			if !strings.Contains(out, `<html lang="`+lang+`">`) {
				t.Errorf("%s/%s: no lang attribute", lang, name)
			}
			if strings.Contains(out, " style=") || strings.Contains(out, "<script>") || strings.Contains(out, " onclick=") {
				t.Errorf("%s/%s: inline style or script breaks the CSP", lang, name)
			}
			visible := regexp.MustCompile(`(?s)<script type="application/json" id="i18n">.*?</script>`).ReplaceAllString(out, "")
			if m := untranslated.FindString(visible); m != "" {
				t.Errorf("%s/%s: untranslated key in %q", lang, name, m)
			}
		}
	}
}

func TestLoginPageTranslated(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := e.Render(&b, "login", &Page{L: e.Locale("ru"), CSRF: "x", Data: struct{ Email, Next, Error string }{"a@b", "/inbox", ""}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Пароль") || !strings.Contains(b.String(), `value="a@b"`) {
		t.Fatalf("login page: %s", b.String())
	}
}

func TestMatchLang(t *testing.T) {
	for _, c := range []struct{ user, accept, want string }{
		{"ru", "en-US", "ru"},
		{"", "ru-RU,ru;q=0.9,en;q=0.8", "ru"},
		{"", "de-DE,en;q=0.5,ru;q=0.7", "ru"},
		{"", "de", DefaultLang},
		{"xx", "", DefaultLang},
	} {
		if got := MatchLang(c.user, c.accept); got != c.want {
			t.Errorf("MatchLang(%q, %q) = %q, want %q", c.user, c.accept, got, c.want)
		}
	}
}

func TestStaticHashedAndCached(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	u := e.Asset("css/app.css")
	if !strings.HasPrefix(u, "/static/"+e.Version()+"/") {
		t.Fatalf("asset url %s", u)
	}
	rec := httptest.NewRecorder()
	e.StaticHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u, nil))
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") || !strings.Contains(rec.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("got %d %v", rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	e.StaticHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/static/old/js/app.js", nil))
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("old version: %d %v", rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	e.StaticHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/static/"+e.Version()+"/", nil))
	if rec.Code != 404 {
		t.Fatalf("directory listing: %d", rec.Code)
	}
}
