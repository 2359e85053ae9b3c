// Package httpapi is omnichat's HTTP surface: webhooks, the REST API, the SSE stream and
// the pages. Handlers are thin: they decode, call a service, and encode.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/auth"
	"github.com/omnichat/omnichat/internal/blob"
	"github.com/omnichat/omnichat/internal/channel"
	"github.com/omnichat/omnichat/internal/config"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
)

// Deps are what the handlers use.
type Deps struct {
	Config    config.Config
	Log       *slog.Logger
	Store     *store.Store
	Auth      *auth.Service
	Dialogs   *dialog.Service
	Channels  *channel.Service
	Hub       *push.Hub
	Providers *providers.Registry
	Blob      blob.Store
	Version   string
	// Extra lets other parts (pages, the widget) add routes.
	Extra []func(e *echo.Echo)
}

// Server holds the handlers.
type Server struct {
	Deps
	echo *echo.Echo
	// pageError renders HTML error pages once the pages are registered (pages.go).
	pageError func(c echo.Context, status int, msg string)
	comet     *cometSettings
	inFlight  addressCounts // requests in progress per client address (limits.go)
	outage    *outage       // database outages: one WARN each (outage.go)
}

// New builds the echo instance with every route.
func New(d Deps) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{Deps: d, echo: e}
	s.comet = &cometSettings{s: s}
	s.outage = newOutage(d.Log, func(ctx context.Context) error { return d.Store.Pool.Ping(ctx) })
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = ipExtractor(d.Config.TrustedProxies)
	e.Use(requestID, s.accessLog, s.recoverer, securityHeaders, s.requestLimits, cleanInput)
	s.routes()
	for _, f := range d.Extra {
		f(e)
	}
	s.unmatchedRoutes()
	return s
}

// ipExtractor decides who the caller is (sign-in limits, logs): the connection's peer, or
// behind configured reverse proxies the nearest X-Forwarded-For address that is not one of
// them. Nothing else is trusted, so a client cannot pick its own address.
func ipExtractor(proxies []*net.IPNet) echo.IPExtractor {
	if len(proxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range proxies {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// unmatchedRoutes answers requests no route takes: 405 with Allow when the path exists
// under other methods, else 404. Echo gives a group with middleware a catch-all that runs
// the group's middleware on every unknown path below it (so an unknown page rendered the
// sign-in form with 200, an operator got 403 for an unknown API route, and every 405 became
// a 404); registering these last replaces those catch-alls with a plain answer.
func (s *Server) unmatchedRoutes() {
	e := s.echo
	known := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method != echo.RouteNotFound {
			known[r.Method+" "+r.Path] = true
		}
	}
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}
	unmatched := func(c echo.Context) error {
		req := c.Request()
		var allow []string
		for _, m := range methods {
			if m == req.Method {
				continue
			}
			probe := e.NewContext(req, nil)
			e.Router().Find(m, echo.GetPath(req), probe)
			if known[m+" "+probe.Path()] {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			return echo.ErrNotFound
		}
		c.Response().Header().Set(echo.HeaderAllow, strings.Join(allow, ", "))
		return echo.ErrMethodNotAllowed
	}
	e.RouteNotFound("/*", unmatched)
	e.RouteNotFound("/api/v1/*", unmatched)
}

// Close drops the comet-server.ru connection; call it after the HTTP server and the comet
// forwarder stopped.
func (s *Server) Close() {
	s.comet.close()
	s.outage.close()
}

// Handler returns the http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Echo exposes the router (for pages and providers that add routes).
func (s *Server) Echo() *echo.Echo { return s.echo }

// HTTPServer returns an http.Server with timeouts for addr. There is no WriteTimeout: SSE
// streams stay open; each handler bounds its own work. There is no ReadTimeout either: it
// would also cancel event streams and long handlers; request bodies get their own deadline
// per request (requestLimits in limits.go).
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
}

type ctxKey int

const reqIDKey ctxKey = iota

func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if id == "" || len(id) > 64 {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), reqIDKey, id)))
		return next(c)
	}
}

func reqID(c echo.Context) string {
	id, _ := c.Request().Context().Value(reqIDKey).(string)
	return id
}

// accessLog logs one line per request. Paths are logged without the query (tokens).
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		lvl := slog.LevelInfo
		path := c.Request().URL.Path
		if strings.HasPrefix(path, "/healthz") || strings.HasPrefix(path, "/readyz") || strings.HasPrefix(path, "/static/") {
			lvl = slog.LevelDebug
		}
		if strings.HasPrefix(path, "/webhooks/") {
			path = "/webhooks/" + c.Param("channel_id") // the rest may be a path token
		}
		if strings.Contains(c.Path(), ":token") {
			path = c.Path() // a capability in the path (invite links, file links): log the route, not the token
		}
		s.Log.Log(c.Request().Context(), lvl, "http", "method", c.Request().Method, "path", path, "status", status,
			"dur_ms", float64(time.Since(start).Microseconds())/1000, "bytes", c.Response().Size, "ip", c.RealIP(), "req", reqID(c))
		return nil
	}
}

func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.Log.Error("panic in handler", "panic", r, "path", c.Request().URL.Path, "req", reqID(c))
				err = errors.New("panic")
			}
		}()
		return next(c)
	}
}

func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if h.Get("Content-Security-Policy") == "" {
			h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		}
		return next(c)
	}
}

// errorBody is the one error shape (SPEC §6).
type errorBody struct {
	Error struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Fields  []string `json:"fields,omitempty"`
	} `json:"error"`
}

var codeStatus = map[string]int{
	apperr.NotFound:     http.StatusNotFound,
	apperr.Forbidden:    http.StatusForbidden,
	apperr.Conflict:     http.StatusConflict,
	apperr.Invalid:      http.StatusUnprocessableEntity,
	apperr.Unsupported:  http.StatusConflict,
	apperr.Unauthorized: http.StatusUnauthorized,
	apperr.RateLimited:  http.StatusTooManyRequests,
	apperr.TooLarge:     http.StatusRequestEntityTooLarge,
}

var statusCode = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusTooManyRequests:       "rate_limited",
	http.StatusServiceUnavailable:    "unavailable",
	http.StatusGone:                  "gone",
}

// errorHandler renders every error in one place: domain errors with their message,
// echo's with theirs, a database outage as 503 "unavailable" with Retry-After (one WARN
// per outage), anything else as a 500 whose cause is logged, never sent.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		// Too late to answer with an error (a stream, a file half sent): log it, or it
		// would vanish.
		if !errors.Is(err, context.Canceled) {
			s.Log.Error("error after the response started", "err", err, "method", c.Request().Method, "path", c.Request().URL.Path, "req", reqID(c))
		}
		return
	}
	var body errorBody
	status := http.StatusInternalServerError
	var ae *apperr.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		status = codeStatus[ae.Code]
		if status == 0 {
			status = http.StatusBadRequest
		}
		body.Error.Code, body.Error.Message, body.Error.Fields = ae.Code, ae.Message, ae.Fields
		if ae.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.RetryAfter.Seconds()))))
		}
	case errors.As(err, &he):
		status = he.Code
		body.Error.Code = statusCode[status]
		if body.Error.Code == "" {
			body.Error.Code = "error"
		}
		if msg, ok := he.Message.(string); ok {
			body.Error.Message = msg
		} else {
			body.Error.Message = strings.ToLower(http.StatusText(status))
		}
		if status >= 500 {
			s.Log.Error("http error", "err", err, "req", reqID(c))
		}
	case errors.Is(err, context.Canceled):
		status = 499
		body.Error.Code, body.Error.Message = "canceled", "request canceled"
	case store.IsUnavailable(err):
		// The database is down or restarting: not a bug, and every caller (a platform's
		// webhook retry included) should simply come back. Logged once per outage.
		s.outage.failed(err)
		status = http.StatusServiceUnavailable
		c.Response().Header().Set("Retry-After", retryAfter)
		body.Error.Code, body.Error.Message = "unavailable", "the database is unavailable; try again in a few seconds"
	default:
		s.Log.Error("internal error", "err", err, "method", c.Request().Method, "path", c.Request().URL.Path, "req", reqID(c))
		body.Error.Code, body.Error.Message = "internal", "internal error (request "+reqID(c)+")"
	}
	if wantsHTML(c) && status != 499 {
		s.renderErrorPage(c, status, body.Error.Message)
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, body)
}

// renderErrorPage is replaced by the pages package when it is wired.
func (s *Server) renderErrorPage(c echo.Context, status int, msg string) {
	if s.pageError != nil {
		s.pageError(c, status, msg)
		return
	}
	_ = c.HTML(status, "<!doctype html><meta charset=utf-8><title>"+strconv.Itoa(status)+"</title><p>"+htmlEscape(msg)+"</p>")
}

func wantsHTML(c echo.Context) bool {
	p := c.Request().URL.Path
	return !strings.HasPrefix(p, "/api/") && !strings.HasPrefix(p, "/webhooks/") && strings.Contains(c.Request().Header.Get("Accept"), "text/html")
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(s)
}

func invalid(format string, args ...any) error { return apperr.New(apperr.Invalid, format, args...) }

func idParam(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.New(apperr.NotFound, "not found")
	}
	return id, nil
}

// bind decodes a JSON body strictly enough to give a clear error, and cleans its strings.
func bind(c echo.Context, v any) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct != "" && !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "send JSON (Content-Type: application/json)")
	}
	if err := (&echo.DefaultBinder{}).BindBody(c, v); err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
			return he
		}
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON body")
	}
	cleanStrings(v) // NUL and bad bytes (clean.go)
	return nil
}
