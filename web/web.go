package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// Engine renders the pages. Templates are parsed once, at New; a render error is returned,
// never panicked, and nothing is written until the page rendered completely.
type Engine struct {
	pages   map[string]*template.Template
	static  fs.FS
	version string // content hash of every static file: part of each asset URL
	cat     catalogues
}

// Page is what every template receives. Data is the page's own typed view model.
type Page struct {
	L     *Locale
	Title string
	// Nav names the active navigation item ("inbox", "admin", …).
	Nav string
	// User is the signed-in user (nil on the sign-in page).
	User *PageUser
	// CSRF is the session's token for forms (hidden field csrf_token) and fetch (X-CSRF-Token).
	CSRF string
	// Body classes for page-specific styling.
	Class string
	Data  any
}

// PageUser is what the layout shows about the signed-in user.
type PageUser struct {
	ID     int64
	Name   string
	Email  string
	Role   string
	Status string
	Locale string
}

// Admin reports whether the user is an admin.
func (u *PageUser) Admin() bool { return u != nil && u.Role == "admin" }

// New parses every template and catalogue in Files.
func New() (*Engine, error) { return NewFS(Files) }

// NewFS is New over another file tree (tests).
func NewFS(files fs.FS) (*Engine, error) {
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, fmt.Errorf("web: static: %w", err)
	}
	e := &Engine{static: static, pages: map[string]*template.Template{}}
	if e.version, err = hashTree(static); err != nil {
		return nil, err
	}
	if e.cat, err = loadCatalogues(files); err != nil {
		return nil, err
	}
	if err := e.parse(files); err != nil {
		return nil, err
	}
	return e, nil
}

// parse builds one template set per page: the layout and every partial (_*.html) plus the
// page itself, so each page can define its own "title", "content" and "scripts" blocks.
func (e *Engine) parse(files fs.FS) error {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return fmt.Errorf("web: templates: %w", err)
	}
	base := template.New("").Funcs(e.funcs())
	var pages []string
	for _, n := range names {
		b := path.Base(n)
		if b != "layout.html" && !strings.HasPrefix(b, "_") {
			pages = append(pages, n)
			continue
		}
		src, err := fs.ReadFile(files, n)
		if err != nil {
			return err
		}
		if _, err := base.New(b).Parse(string(src)); err != nil {
			return fmt.Errorf("web: parse %s: %w", n, err)
		}
	}
	for _, n := range pages {
		src, err := fs.ReadFile(files, n)
		if err != nil {
			return err
		}
		t, err := base.Clone()
		if err != nil {
			return err
		}
		if _, err := t.New(path.Base(n)).Parse(string(src)); err != nil {
			return fmt.Errorf("web: parse %s: %w", n, err)
		}
		e.pages[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return nil
}

func (e *Engine) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": e.Asset,
		"join":  strings.Join,
		"time":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"dict": func(kv ...any) map[string]any {
			m := make(map[string]any, len(kv)/2)
			for i := 0; i+1 < len(kv); i += 2 {
				k, _ := kv[i].(string)
				m[k] = kv[i+1]
			}
			return m
		},
	}
}

// Has reports whether a page template exists.
func (e *Engine) Has(page string) bool { _, ok := e.pages[page]; return ok }

// Render executes page (the file name without .html) through the layout into w.
func (e *Engine) Render(w io.Writer, page string, p *Page) error {
	t, ok := e.pages[page]
	if !ok {
		return fmt.Errorf("web: no page %q", page)
	}
	if p.L == nil {
		p.L = e.Locale(DefaultLang)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("web: render %s: %w", page, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// Version is the static content hash (it changes whenever any asset changes).
func (e *Engine) Version() string { return e.version }

// Asset returns the URL of a static file: /static/<hash>/<name>. One hash for the whole
// tree keeps relative ES module imports working and still busts every cache on change.
func (e *Engine) Asset(name string) string {
	return "/static/" + e.version + "/" + strings.TrimPrefix(name, "/")
}

// StaticHandler serves /static/<hash>/<name>. The current hash is cached for a year; an old
// one (a page from before a deploy) is still served, but not cached.
func (e *Engine) StaticHandler() http.Handler {
	files := http.FileServerFS(e.static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/static/")
		ver, name, ok := strings.Cut(rest, "/")
		if !ok || name == "" || strings.HasSuffix(name, "/") {
			http.NotFound(w, r)
			return
		}
		if ver == e.version {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		files.ServeHTTP(w, r2)
	})
}

func hashTree(root fs.FS) (string, error) {
	h := sha256.New()
	var names []string
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("web: hash static: %w", err)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := fs.ReadFile(root, n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
