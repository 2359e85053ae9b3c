package httpapi

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
)

// addressCounts counts one instance's requests in progress per client address.
type addressCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (a *addressCounts) acquire(ip string, max int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n[ip] >= max {
		return false
	}
	if a.n == nil {
		a.n = map[string]int{}
	}
	a.n[ip]++
	return true
}

func (a *addressCounts) release(ip string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n[ip] <= 1 {
		delete(a.n, ip)
		return
	}
	a.n[ip]--
}

// requestLimits bounds what one client can hold (docs/security.md, "Request limits"): one
// client address (c.RealIP, so OMNICHAT_TRUSTED_PROXIES applies) has at most
// MaxRequestsPerAddress requests in progress, and a request body must arrive within
// BodyTimeout (multipart uploads: UploadTimeout). Event streams are exempt: they send no
// body and stay open for hours.
func (s *Server) requestLimits(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method == http.MethodGet && strings.HasSuffix(c.Path(), "/stream") {
			return next(c)
		}
		if max := s.Config.MaxRequestsPerAddress; max > 0 {
			ip := c.RealIP()
			if !s.inFlight.acquire(ip, max) {
				return apperr.New(apperr.RateLimited, "too many requests in progress from your address: try again in a moment")
			}
			defer s.inFlight.release(ip)
		}
		s.bodyDeadline(c)
		return next(c)
	}
}

// bodyDeadline sets the connection's read deadline for a request that has a body.
// Requests without one get none: net/http's later reads on the connection (its check for
// a client that went away) would cancel a long handler when a deadline passed.
func (s *Server) bodyDeadline(c echo.Context) {
	r := c.Request()
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	d := s.Config.BodyTimeout
	if strings.HasPrefix(r.Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) {
		d = s.Config.UploadTimeout
	}
	if d <= 0 {
		return
	}
	rc := http.NewResponseController(c.Response())
	if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return // a writer without deadlines (a test recorder): nothing to bound
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
}

// deadlineBody lifts the read deadline once the whole body is read, for the same reason
// bodyDeadline sets none on requests without a body.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
