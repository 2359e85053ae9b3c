package web

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Languages the UI speaks. The first is the fallback for a browser that asks for neither.
var Languages = []string{"en", "ru"}

// DefaultLang is used when neither the user nor the browser picks a known language.
const DefaultLang = "en"

// catalogues maps language → message key → text.
type catalogues map[string]map[string]string

// loadCatalogues reads i18n/<lang>.json and i18n/<area>.<lang>.json (each area — inbox,
// admin, … — keeps its own file so engineers don't edit one big file) and merges them.
// Every language must have the same keys: a missing translation is a build-time error in
// the tests, not a surprise in production.
func loadCatalogues(files fs.FS) (catalogues, error) {
	names, err := fs.Glob(files, "i18n/*.json")
	if err != nil {
		return nil, fmt.Errorf("web: i18n: %w", err)
	}
	cat := catalogues{}
	for _, l := range Languages {
		cat[l] = map[string]string{}
	}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".json")
		lang := base
		if i := strings.LastIndexByte(base, '.'); i >= 0 {
			lang = base[i+1:]
		}
		m, ok := cat[lang]
		if !ok {
			return nil, fmt.Errorf("web: %s: unknown language %q", n, lang)
		}
		b, err := fs.ReadFile(files, n)
		if err != nil {
			return nil, err
		}
		var kv map[string]string
		if err := json.Unmarshal(b, &kv); err != nil {
			return nil, fmt.Errorf("web: %s: %w", n, err)
		}
		for k, v := range kv {
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("web: %s: key %q is defined twice", n, k)
			}
			m[k] = v
		}
	}
	return cat, nil
}

// Locale translates into one language.
type Locale struct {
	Lang string
	msgs map[string]string
	fb   map[string]string
}

// Locale returns the translator for lang (DefaultLang when unknown).
func (e *Engine) Locale(lang string) *Locale {
	m, ok := e.cat[lang]
	if !ok {
		lang, m = DefaultLang, e.cat[DefaultLang]
	}
	return &Locale{Lang: lang, msgs: m, fb: e.cat[DefaultLang]}
}

// MissingKeys lists keys some language lacks (for tests).
func (e *Engine) MissingKeys() []string {
	var out []string
	for l, m := range e.cat {
		for ol, om := range e.cat {
			if ol == l {
				continue
			}
			for k := range om {
				if _, ok := m[k]; !ok {
					out = append(out, l+": "+k)
				}
			}
		}
	}
	return out
}

// T returns the message for key; args fill {0}, {1}, … in order. An unknown key shows as
// itself, which is visible in the page and caught by the catalogue test.
func (l *Locale) T(key string, args ...any) string {
	s, ok := l.msgs[key]
	if !ok {
		if s, ok = l.fb[key]; !ok {
			s = key
		}
	}
	for i, a := range args {
		s = strings.ReplaceAll(s, "{"+strconv.Itoa(i)+"}", fmt.Sprint(a))
	}
	return s
}

// Messages is the whole catalogue for the page's scripts (embedded as JSON in the page).
func (l *Locale) Messages() map[string]string { return l.msgs }

// MatchLang picks the UI language: the user's own choice when set, else the first known
// language in the browser's Accept-Language, else DefaultLang.
func MatchLang(userLocale, acceptLanguage string) string {
	if known(userLocale) {
		return userLocale
	}
	best, bestQ := "", -1.0
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		lang, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if known(lang) && q > bestQ {
			best, bestQ = lang, q
		}
	}
	if best != "" {
		return best
	}
	return DefaultLang
}

func known(lang string) bool {
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}
