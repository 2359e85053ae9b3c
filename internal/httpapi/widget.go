package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/blob"
	"github.com/omnichat/omnichat/internal/channel"
	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/widget"
	webwidget "github.com/omnichat/omnichat/web/widget"
)

// The web-site widget's visitor-facing routes. Visitors are not users: they carry a
// visitor token (see providers/widget) and reach only their own conversation. Their
// messages go through the channel's provider exactly like a platform's webhook.
//
//	GET  /widget.js                         the script a site embeds
//	GET  /widget/frame/{channel}            the chat page (in an iframe)
//	GET  /widget/static/{name}              the chat page's script and style
//	GET  /widget/demo[?channel=ID]          a demo site with the widget
//	GET  /widget/api/{channel}/config       public look and pre-chat fields (CORS: allowed origins)
//	POST /widget/api/{channel}/session      start or resume: {token} → {token, started}
//	GET  /widget/api/{channel}/messages     the visitor's history
//	POST /widget/api/{channel}/messages     a visitor's message (EventFilter + Ingest)
//	POST /widget/api/{channel}/uploads      a visitor's file, before the message naming it
//	GET  /widget/api/{channel}/uploads/{r}  the upload, once, for omnichat's own download job (signed)
//	GET  /widget/api/{channel}/files/{id}   a file of the conversation
//	GET  /widget/api/{channel}/stream       live notices (SSE; token in ?t=, EventSource sends no headers)

// Visitor limits: generous for a person typing, tight for a script.
const (
	widgetMsgsPerMinute     = 20
	widgetUploadsPerMinute  = 5
	widgetSessionsPerMinute = 30
	widgetMaxPostBody       = 64 << 10
)

func (s *Server) widgetRoutes() {
	e := s.echo
	lim := newRateLimiter()
	e.GET("/widget.js", func(c echo.Context) error { return s.widgetAsset(c, "widget.js") })
	e.GET("/widget/static/:name", func(c echo.Context) error { return s.widgetAsset(c, c.Param("name")) })
	e.GET("/widget/frame/:channel_id", s.widgetFrame)
	e.GET("/widget/demo", s.widgetDemo)
	g := e.Group("/widget/api/:channel_id")
	g.GET("/config", s.widgetConfig)
	g.OPTIONS("/config", s.widgetConfig)
	g.POST("/session", func(c echo.Context) error { return s.widgetSession(c, lim) })
	g.GET("/messages", s.widgetHistory)
	g.POST("/messages", func(c echo.Context) error { return s.widgetPost(c, lim) })
	g.POST("/uploads", func(c echo.Context) error { return s.widgetUpload(c, lim) })
	g.GET("/uploads/:ref", s.widgetUploadRead)
	g.GET("/files/:id", s.widgetFile)
	streams := &streamCounter{n: map[int64]int{}}
	g.GET("/stream", func(c echo.Context) error { return s.widgetStream(c, streams) })
}

func (s *Server) widgetAsset(c echo.Context, name string) error {
	b, ct, ok := webwidget.Asset(name)
	if !ok {
		return apperr.New(apperr.NotFound, "not found")
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age=300")
	if name == "widget.js" {
		// Loaded by other sites' pages.
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	}
	return c.Blob(http.StatusOK, ct, b)
}

// widgetChannel loads an enabled widget channel from the path.
func (s *Server) widgetChannel(c echo.Context) (channel.Live, error) {
	id, err := strconv.ParseInt(c.Param("channel_id"), 10, 64)
	if err != nil || id <= 0 {
		return channel.Live{}, apperr.New(apperr.NotFound, "no such widget")
	}
	live, err := s.Channels.Lookup(c.Request().Context(), id)
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) && ae.Code == apperr.NotFound {
			return live, apperr.New(apperr.NotFound, "no such widget")
		}
		return live, err
	}
	if live.Channel.Kind != widget.Kind || !live.Enabled {
		return live, apperr.New(apperr.NotFound, "no such widget")
	}
	return live, nil
}

// ownOrigin is the origin the chat page is served from.
func ownOrigin(ch providers.Channel) string {
	u, err := url.Parse(widget.Base(ch))
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// sameOrigin refuses visitor writes from other origins (the chat page is ours; a browser
// always sends Origin on POST).
func sameOrigin(c echo.Context, ch providers.Channel) error {
	o := c.Request().Header.Get("Origin")
	if o == "" || strings.EqualFold(o, ownOrigin(ch)) || strings.EqualFold(o, strings.TrimRight(ch.PublicURL, "/")) {
		return nil
	}
	return apperr.New(apperr.Forbidden, "cross-origin request refused")
}

func (s *Server) widgetFrame(c echo.Context) error {
	live, err := s.widgetChannel(c)
	if err != nil {
		return err
	}
	origins, _ := widget.Origins(live.Channel.Settings)
	ancestors := "'self'"
	for _, o := range origins {
		ancestors += " " + o
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors "+ancestors+"; base-uri 'none'; form-action 'self'")
	h.Set("Cache-Control", "no-cache")
	b, ct, _ := webwidget.Asset("frame.html")
	return c.Blob(http.StatusOK, ct, b)
}

func (s *Server) widgetDemo(c echo.Context) error {
	ctx := c.Request().Context()
	id, _ := strconv.ParseInt(c.QueryParam("channel"), 10, 64)
	if id == 0 {
		views, err := s.Channels.List(ctx)
		if err != nil {
			return err
		}
		for _, v := range views {
			if v.Kind == widget.Kind && v.Enabled {
				id = v.ID
				break
			}
		}
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	if id == 0 {
		return c.HTML(http.StatusOK, `<!doctype html><meta charset=utf-8><title>Widget demo</title><p>There is no widget channel yet: an admin adds one under Settings → Channels (kind "Web-site widget"), then reloads this page.</p>`)
	}
	page, _, _ := webwidget.Asset("demo.html")
	return c.HTML(http.StatusOK, strings.ReplaceAll(string(page), "{{CHANNEL}}", html.EscapeString(strconv.FormatInt(id, 10))))
}

// widgetConfig is public: the look and the pre-chat form. Other sites read it with CORS,
// only when they are allowed.
func (s *Server) widgetConfig(c echo.Context) error {
	live, err := s.widgetChannel(c)
	if err != nil {
		return err
	}
	ch := live.Channel
	h := c.Response().Header()
	h.Add("Vary", "Origin")
	if o := c.Request().Header.Get("Origin"); o != "" && !strings.EqualFold(o, ownOrigin(ch)) {
		if !widget.OriginAllowed(ch.Settings, o) {
			s.Log.Info("widget: origin not allowed", "channel", ch.ID, "origin", o)
			return apperr.New(apperr.Forbidden, "this site may not show the widget")
		}
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Allow-Methods", "GET")
	}
	if c.Request().Method == http.MethodOptions {
		return c.NoContent(http.StatusNoContent)
	}
	h.Set("Cache-Control", "no-cache")
	cfg := widget.PublicConfig(ch)
	return c.JSON(http.StatusOK, map[string]any{"config": cfg, "frame": widget.Base(ch) + "/widget/frame/" + strconv.FormatInt(ch.ID, 10)})
}

// widgetSession starts or resumes a visitor: a valid token is kept, anything else gets a
// new visitor. Nothing is stored until the first message.
func (s *Server) widgetSession(c echo.Context, lim *rateLimiter) error {
	live, err := s.widgetChannel(c)
	if err != nil {
		return err
	}
	ch := live.Channel
	if err := sameOrigin(c, ch); err != nil {
		return err
	}
	if !lim.allow("session:"+c.RealIP(), widgetSessionsPerMinute) {
		return apperr.New(apperr.RateLimited, "too many requests; wait a minute")
	}
	var in struct {
		Token string `json:"token"`
	}
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, 4<<10)
	if err := bind(c, &in); err != nil {
		return err
	}
	ext, ok := widget.VisitorOf(ch, in.Token)
	token := in.Token
	if !ok {
		ext, token = widget.NewVisitor(ch)
	}
	started := false
	if v, err := store.VisitorByExternal(c.Request().Context(), s.Store.Pool, ch.ID, ext); err == nil {
		started = v.ID != 0
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"token": token, "started": started, "config": widget.PublicConfig(ch)})
}

// widgetVisitor reads the visitor's token (header, or ?t= for EventSource and file links)
// and loads the visitor; found=false before the first message.
func (s *Server) widgetVisitor(c echo.Context, ch providers.Channel) (store.Visitor, string, bool, error) {
	tok := c.Request().Header.Get(widget.TokenHeader)
	if tok == "" {
		tok = c.QueryParam("t")
	}
	ext, ok := widget.VisitorOf(ch, tok)
	if !ok {
		return store.Visitor{}, "", false, apperr.New(apperr.Unauthorized, "visitor token missing or invalid")
	}
	v, err := store.VisitorByExternal(c.Request().Context(), s.Store.Pool, ch.ID, ext)
	if errors.Is(err, store.ErrNotFound) {
		return v, ext, false, nil
	}
	return v, ext, err == nil, err
}

// visitorMessage is a message as the visitor sees it: no operator data beyond a name.
type visitorMessage struct {
	ID      int64           `json:"id"`
	Dir     string          `json:"dir"` // "in" (from the visitor) or "out"
	Text    string          `json:"text"`
	Author  string          `json:"author,omitempty"`
	Status  string          `json:"status"`
	Time    time.Time       `json:"time"`
	Files   []visitorFile   `json:"files,omitempty"`
	Buttons json.RawMessage `json:"buttons,omitempty"`
}

type visitorFile struct {
	ID      int64  `json:"id,omitempty"`
	Kind    string `json:"kind"`
	Name    string `json:"name,omitempty"`
	MIME    string `json:"mime,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Pending bool   `json:"pending,omitempty"`
	Error   bool   `json:"error,omitempty"`
}

func (s *Server) widgetHistory(c echo.Context) error {
	live, err := s.widgetChannel(c)
	if err != nil {
		return err
	}
	v, _, found, err := s.widgetVisitor(c, live.Channel)
	if err != nil {
		return err
	}
	out := []visitorMessage{}
	if !found {
		return c.JSON(http.StatusOK, map[string]any{"messages": out})
	}
	msgs, authors, err := store.VisitorMessages(c.Request().Context(), s.Store.Pool, v.ID, 200)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.DeletedAt != nil || m.Kind == "system" || m.Kind == "note" {
			continue
		}
		vm := visitorMessage{ID: m.ID, Dir: m.Direction, Text: m.Text, Time: m.CreatedAt, Status: "received"}
		if m.Direction == "out" {
			// Pending and failed replies are the operator's business until they are sent.
			if m.Status != "sent" && m.Status != "delivered" && m.Status != "read" {
				continue
			}
			vm.Status = m.Status
			if m.AuthorID != nil {
				vm.Author = authors[*m.AuthorID]
				if vm.Author == "" {
					vm.Author = "Operator"
				}
			}
			vm.Buttons = m.Buttons
		}
		for _, a := range m.Attachments {
			vm.Files = append(vm.Files, visitorFile{ID: a.FileID, Kind: a.Kind, Name: a.Name, MIME: a.MIME, Size: a.Size, Pending: a.Pending, Error: a.Error != ""})
		}
		out = append(out, vm)
	}
	// Delivery state the visitor can trust: stored ("received"), and "read" once an
	// operator has answered after it.
	answered := false
	for i := len(out) - 1; i >= 0; i-- {
		if out[i].Dir == "out" && out[i].Author != "" {
			answered = true
		} else if out[i].Dir == "in" && answered {
			out[i].Status = "read"
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"messages": out})
}

// widgetPost takes a visitor's message through the channel's provider like any webhook.
func (s *Server) widgetPost(c echo.Context, lim *rateLimiter) error {
	live, err := s.widgetChannel(c)
	if err != nil {
		return err
	}
	if err := sameOrigin(c, live.Channel); err != nil {
		return err
	}
	ext, ok := widget.VisitorOf(live.Channel, c.Request().Header.Get(widget.TokenHeader))
	if !ok {
		return apperr.New(apperr.Unauthorized, "visitor token missing or invalid")
	}
	if !lim.allow(fmt.Sprintf("msg:%d:%s", live.Channel.ID, ext), widgetMsgsPerMinute) || !lim.allow("msgip:"+c.RealIP(), 3*widgetMsgsPerMinute) {
		return apperr.New(apperr.RateLimited, "you are sending messages too fast; wait a little")
	}
	if c.Request().ContentLength > widgetMaxPostBody {
		return apperr.New(apperr.TooLarge, "the message is too long")
	}
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, widgetMaxPostBody)
	return s.webhook(c)
}

func (s *Server) widgetUpload(c echo.Context, lim *rateLimiter) error {
	live, err := s.widgetChannel(c)
	if err != nil {
		return err
	}
	ch := live.Channel
	if err := sameOrigin(c, ch); err != nil {
		return err
	}
	ext, ok := widget.VisitorOf(ch, c.Request().Header.Get(widget.TokenHeader))
	if !ok {
		return apperr.New(apperr.Unauthorized, "visitor token missing or invalid")
	}
	if !lim.allow(fmt.Sprintf("up:%d:%s", ch.ID, ext), widgetUploadsPerMinute) {
		return apperr.New(apperr.RateLimited, "too many files; wait a minute")
	}
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, widget.MaxUploadBytes+64<<10)
	fh, err := c.FormFile("file")
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.New(apperr.TooLarge, "the file is larger than %d MB", widget.MaxUploadBytes>>20)
		}
		return invalid("attach the file in the multipart field \"file\"")
	}
	cleanMultipart(c.Request())
	if fh.Size > widget.MaxUploadBytes {
		return apperr.New(apperr.TooLarge, "the file is larger than %d MB", widget.MaxUploadBytes>>20)
	}
	src, err := fh.Open()
	if err != nil {
		return err
	}
	defer src.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(src, head)
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	key, size, err := s.Dialogs.StoreUpload(c.Request().Context(), ch.ID, c.RealIP(), fh.Size, src, widget.MaxUploadBytes)
	if errors.Is(err, blob.ErrTooLarge) {
		return apperr.New(apperr.TooLarge, "the file is larger than %d MB", widget.MaxUploadBytes>>20)
	}
	if err != nil {
		return err
	}
	name := fh.Filename
	if len(name) > 200 {
		name = name[:200]
	}
	return c.JSON(http.StatusCreated, widget.PostFile{Ref: key, Name: name, MIME: http.DetectContentType(head[:n]), Size: size})
}

// widgetUploadRead serves an upload to omnichat's own download job (FileResolver's URL).
func (s *Server) widgetUploadRead(c echo.Context) error {
	live, err := s.widgetChannel(c)
	if err != nil {
		return err
	}
	ref := c.Param("ref")
	if subtle.ConstantTimeCompare([]byte(c.QueryParam("sig")), []byte(widget.UploadSig(live.Channel, ref))) != 1 {
		return apperr.New(apperr.NotFound, "not found")
	}
	r, err := s.Blob.Open(c.Request().Context(), ref)
	if err != nil {
		return apperr.New(apperr.NotFound, "not found")
	}
	defer r.Close()
	c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if err := c.Stream(http.StatusOK, "application/octet-stream", r); err != nil {
		return err
	}
	// The download job has its own copy now: the upload is read once, then removed.
	ctx := context.WithoutCancel(c.Request().Context())
	if err := s.Blob.Delete(ctx, ref); err != nil {
		s.Log.Warn("widget: remove a read upload", "channel", live.Channel.ID, "err", err)
	} else if err := store.DeleteWidgetUpload(ctx, s.Store.Pool, ref); err != nil {
		s.Log.Warn("widget: forget a read upload", "channel", live.Channel.ID, "err", err)
	}
	return nil
}

func (s *Server) widgetFile(c echo.Context) error {
	live, err := s.widgetChannel(c)
	if err != nil {
		return err
	}
	v, _, found, err := s.widgetVisitor(c, live.Channel)
	if err != nil {
		return err
	}
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if !found {
		return apperr.New(apperr.NotFound, "file not found")
	}
	ok, err := store.VisitorHasFile(ctx, s.Store.Pool, v.ID, id)
	if err != nil {
		return err
	}
	if !ok {
		return apperr.New(apperr.NotFound, "file not found")
	}
	f, err := store.FileByID(ctx, s.Store.Pool, id)
	if err != nil {
		return apperr.New(apperr.NotFound, "file not found")
	}
	return s.serveFile(c, f)
}

// widgetStream is the visitor's live stream: only "message" notices with a message id;
// the widget refetches its history.
func (s *Server) widgetStream(c echo.Context, streams *streamCounter) error {
	live, err := s.widgetChannel(c)
	if err != nil {
		return err
	}
	v, _, found, err := s.widgetVisitor(c, live.Channel)
	if err != nil {
		return err
	}
	if !found {
		return apperr.New(apperr.NotFound, "no conversation yet")
	}
	if !streams.acquire(v.ID) {
		return apperr.New(apperr.RateLimited, "too many open chat windows; close some")
	}
	defer streams.release(v.ID)
	sub, done := s.Hub.SubscribeVisitor(v.ID)
	defer done()
	// Visitors learn only which message to fetch.
	return writeSSE(c, sub, false, func(m push.Msg) string {
		return fmt.Sprintf("event: message\ndata: {\"m\":%d}\n\n", m.Event.MessageID)
	})
}

// widgetMaxStreams bounds one visitor's open streams on an instance (tabs of one browser).
const widgetMaxStreams = 8

// streamCounter counts open visitor streams.
type streamCounter struct {
	mu sync.Mutex
	n  map[int64]int
}

func (sc *streamCounter) acquire(visitorID int64) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.n[visitorID] >= widgetMaxStreams {
		return false
	}
	sc.n[visitorID]++
	return true
}

func (sc *streamCounter) release(visitorID int64) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.n[visitorID]--; sc.n[visitorID] <= 0 {
		delete(sc.n, visitorID)
	}
}

// rateLimiter counts requests per key in fixed one-minute windows (per instance: a
// visitor's requests normally reach one instance, and the limit is a brake, not a quota).
type rateLimiter struct {
	mu     sync.Mutex
	window time.Time
	counts map[string]int
}

func newRateLimiter() *rateLimiter { return &rateLimiter{counts: map[string]int{}} }

func (l *rateLimiter) allow(key string, perMinute int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now().Truncate(time.Minute)
	if !now.Equal(l.window) {
		l.window, l.counts = now, map[string]int{}
	}
	l.counts[key]++
	return l.counts[key] <= perMinute
}
