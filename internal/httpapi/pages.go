package httpapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/auth"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/web"
)

// preCSRFCookie protects the sign-in form (there is no session yet to hold a token):
// a random cookie whose value the form must echo.
const preCSRFCookie = "omnichat_pre"

// pages serves the server-rendered operator pages on top of the REST API.
type pages struct {
	s     *Server
	web   *web.Engine
	comet *cometSettings
}

// pageRoutes registers the pages. Every page checks the session itself (and redirects to the
// sign-in page); state changes go through the API with the CSRF header, or through forms
// with the csrf_token field.
func (s *Server) pageRoutes() {
	s.inboxAPIRoutes()
	eng, err := web.New()
	if err != nil {
		// The templates are embedded: a parse error is a programming error caught by tests.
		s.Log.Error("pages disabled: templates do not parse", "err", err)
		return
	}
	p := &pages{s: s, web: eng, comet: s.comet}
	s.pageError = p.renderError
	e := s.echo
	e.GET("/static/*", echo.WrapHandler(eng.StaticHandler()))
	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/inbox") })
	e.GET("/login", p.loginPage)
	e.POST("/login", p.loginSubmit, bodyLimitForm)
	e.POST("/logout", p.logout, bodyLimitForm)

	op := e.Group("", p.auth)
	op.GET("/inbox", p.inbox)
	op.GET("/inbox/:id", p.inbox)

	adm := e.Group("/admin", p.auth, p.adminOnly)
	p.adminPageRoutes(adm)
}

func bodyLimitForm(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, 16<<10)
		cleanForm(c.Request()) // NUL and bad bytes (clean.go)
		return next(c)
	}
}

// auth lets signed-in users through and sends everyone else to the sign-in page.
func (p *pages) auth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, err := c.Cookie(CookieName); err != nil {
			return p.toLogin(c)
		}
		id, err := p.s.identify(c)
		if err != nil {
			var ae *apperr.Error
			if errors.As(err, &ae) && ae.Code == apperr.Unauthorized {
				return p.toLogin(c)
			}
			return err
		}
		if !safeMethod(c.Request().Method) && !auth.CSRFMatches(id.Session, formCSRF(c)) {
			return apperr.New(apperr.Forbidden, "missing or wrong CSRF token: reload the page")
		}
		c.Set(identityKey, id)
		return next(c)
	}
}

func (p *pages) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !identity(c).Admin() {
			return apperr.New(apperr.NotFound, "page not found")
		}
		return next(c)
	}
}

func (p *pages) toLogin(c echo.Context) error {
	next := c.Request().URL.RequestURI()
	if c.Request().Method != http.MethodGet || next == "/" {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
}

// lang picks the UI language: the user's choice, else the browser's.
func (p *pages) lang(c echo.Context, u *store.User) string {
	pref := ""
	if u != nil {
		pref = u.Locale
	}
	return web.MatchLang(pref, c.Request().Header.Get("Accept-Language"))
}

// Page builds the common view model for the signed-in user. Other page files (the admin
// pages) call it, set Data, and hand it to render.
func (p *pages) Page(c echo.Context, title, nav string, data any) *web.Page {
	id := identity(c)
	u := id.User
	pg := &web.Page{L: p.web.Locale(p.lang(c, &u)), Nav: nav, Data: data, CSRF: id.Session.CSRFToken,
		User: &web.PageUser{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, Status: u.Status, Locale: u.Locale}}
	if pg.User.Name == "" {
		pg.User.Name = u.Email
	}
	pg.Title = pg.L.T(title)
	return pg
}

// render writes a page with status, or a plain error page when the template fails.
func (p *pages) render(c echo.Context, status int, name string, pg *web.Page) error {
	var b strings.Builder
	if err := p.web.Render(&b, name, pg); err != nil {
		return err // logged by the error handler; the user sees a 500 page
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	return c.HTML(status, b.String())
}

// renderError is the HTML error page (the API keeps its JSON errors).
func (p *pages) renderError(c echo.Context, status int, msg string) {
	pg := &web.Page{L: p.web.Locale(p.lang(c, nil)), Data: map[string]any{"Status": status, "Message": msg}}
	if id := identity(c); id.User.ID != 0 {
		pg = p.Page(c, "error.title", "", pg.Data)
	}
	pg.Title = http.StatusText(status)
	var b strings.Builder
	if err := p.web.Render(&b, "error", pg); err != nil {
		p.s.Log.Error("render error page", "err", err)
		_ = c.HTML(status, "<!doctype html><meta charset=utf-8><title>"+http.StatusText(status)+"</title><p>"+htmlEscape(msg)+"</p>")
		return
	}
	_ = c.HTML(status, b.String())
}

// Sign-in.

type loginView struct {
	Email string
	Next  string
	Error string
}

func (p *pages) loginPage(c echo.Context) error {
	// Already signed in: go straight on.
	if _, err := c.Cookie(CookieName); err == nil {
		if _, err := p.s.identify(c); err == nil {
			return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
		}
	}
	return p.renderLogin(c, http.StatusOK, loginView{Next: safeNext(c.QueryParam("next"))})
}

func (p *pages) renderLogin(c echo.Context, status int, v loginView) error {
	tok := ""
	if ck, err := c.Cookie(preCSRFCookie); err == nil && len(ck.Value) == 32 {
		tok = ck.Value
	} else {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		tok = hex.EncodeToString(b)
		c.SetCookie(&http.Cookie{Name: preCSRFCookie, Value: tok, Path: "/login", HttpOnly: true,
			Secure: p.s.Config.CookieSecure, SameSite: http.SameSiteStrictMode})
	}
	pg := &web.Page{L: p.web.Locale(p.lang(c, nil)), CSRF: tok, Data: v, Class: "bare"}
	pg.Title = pg.L.T("login.title")
	return p.render(c, status, "login", pg)
}

func (p *pages) loginSubmit(c echo.Context) error {
	v := loginView{Email: strings.TrimSpace(c.FormValue("email")), Next: safeNext(c.FormValue("next"))}
	L := p.web.Locale(p.lang(c, nil))
	ck, err := c.Cookie(preCSRFCookie)
	if err != nil || len(ck.Value) != 32 || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(formCSRF(c))) != 1 {
		v.Error = L.T("login.expired")
		return p.renderLogin(c, http.StatusForbidden, v)
	}
	pw := c.FormValue("password")
	if v.Email == "" || pw == "" {
		v.Error = L.T("login.required")
		return p.renderLogin(c, http.StatusUnprocessableEntity, v)
	}
	tok, sess, _, err := p.s.Auth.Login(c.Request().Context(), v.Email, pw, c.RealIP(), c.Request().UserAgent())
	if err != nil {
		var ae *apperr.Error
		if !errors.As(err, &ae) {
			return err
		}
		status := codeStatus[ae.Code]
		if status == 0 {
			status = http.StatusBadRequest
		}
		v.Error = L.T("login.failed")
		if ae.Code == apperr.RateLimited {
			v.Error = L.T("login.rate_limited")
		}
		return p.renderLogin(c, status, v)
	}
	p.s.setSessionCookie(c, tok, sess.ExpiresAt)
	c.SetCookie(&http.Cookie{Name: preCSRFCookie, Value: "", Path: "/login", MaxAge: -1})
	return c.Redirect(http.StatusSeeOther, v.Next)
}

// safeNext keeps redirects on this site (docs/security.md, "Redirect rule"): a path on
// this origin, else /inbox.
func safeNext(next string) string {
	if !sameOriginPath(next) {
		return "/inbox"
	}
	return next
}

// sameOriginPath reports whether next is a plain path on this site. Browsers drop TAB/CR/LF
// from URLs and read "\\" as "/", so "/\t/host" and "/\\host" mean "//host" to them; the
// check is therefore strict on every decoded layer: a single leading "/", no backslash, no
// control character or whitespace, and no scheme or host once parsed.
func sameOriginPath(next string) bool {
	if next == "" || len(next) > 2048 {
		return false
	}
	s := next
	for layer := 0; ; layer++ {
		if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.Contains(s, "\\") || !utf8.ValidString(s) {
			return false
		}
		for _, r := range s {
			if unicode.IsControl(r) || unicode.IsSpace(r) {
				return false
			}
		}
		dec, err := url.PathUnescape(s)
		if err != nil || layer == 4 && dec != s {
			return false // malformed, or encoded deeper than any real link
		}
		if dec == s {
			break
		}
		s = dec
	}
	u, err := url.Parse(next)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == "" && strings.HasPrefix(u.Path, "/")
}

func (p *pages) logout(c echo.Context) error {
	if _, err := c.Cookie(CookieName); err != nil {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	id, err := p.s.identify(c)
	if err == nil {
		if !auth.CSRFMatches(id.Session, formCSRF(c)) {
			return apperr.New(apperr.Forbidden, "missing or wrong CSRF token: reload the page")
		}
		c.Set(identityKey, id)
		if err := p.s.deleteSession(c, id.Session.ID); err != nil {
			return err
		}
	}
	c.SetCookie(&http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: p.s.Config.CookieSecure, SameSite: http.SameSiteLaxMode})
	return c.Redirect(http.StatusSeeOther, "/login")
}

// The inbox.

type inboxView struct {
	DialogID int64
	Channels []channelOption
	// Comet is the browser's comet-server.ru connection (JSON) when that transport is on.
	Comet string
}

type channelOption struct {
	ID   int64
	Name string
	Kind string
}

// inbox renders the inbox shell; the list and the conversation load through the API. A
// dialog in the URL is checked here: an operator cannot open what they may not see.
func (p *pages) inbox(c echo.Context) error {
	ctx := c.Request().Context()
	v := inboxView{}
	if c.Param("id") != "" {
		id, err := idParam(c, "id")
		if err != nil {
			return err
		}
		d, err := p.s.Dialogs.Dialog(ctx, actor(c), id)
		if err != nil {
			return err
		}
		v.DialogID = d.ID
	}
	chs, err := store.ListChannels(ctx, p.s.Store.Pool)
	if err != nil {
		return err
	}
	for _, ch := range chs {
		v.Channels = append(v.Channels, channelOption{ID: ch.ID, Name: ch.Name, Kind: ch.Kind})
	}
	// With comet-server.ru configured the page subscribes there instead of to our stream;
	// its CSP then allows that WebSocket origin and nothing else.
	cfg, node, err := p.comet.browser(ctx, identity(c).User.ID)
	if err != nil {
		p.s.Log.Warn("comet: browser config", "err", err)
	} else if cfg != "" {
		v.Comet = cfg
		c.Response().Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self' ws://"+node+" wss://"+node+"; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	}
	pg := p.Page(c, "inbox.title", "inbox", v)
	pg.Class = "inbox-page"
	return p.render(c, http.StatusOK, "inbox", pg)
}
