package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/auth"
	"github.com/omnichat/omnichat/internal/dialog"
)

// CookieName is the session cookie.
const CookieName = "omnichat_session"

// CSRFHeader carries the CSRF token for cookie-authenticated writes.
const CSRFHeader = "X-CSRF-Token"

const identityKey = "identity"

// authenticate accepts a Bearer token or the session cookie. Writes with the cookie need
// the session's CSRF token (header or form field), so a foreign site cannot act as the user.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := s.identify(c)
		if err != nil {
			return err
		}
		if id.Cookie && !safeMethod(c.Request().Method) {
			tok := c.Request().Header.Get(CSRFHeader)
			if tok == "" {
				tok = formCSRF(c)
			}
			if !auth.CSRFMatches(id.Session, tok) {
				return apperr.New(apperr.Forbidden, "missing or wrong CSRF token: reload the page")
			}
		}
		c.Set(identityKey, id)
		return next(c)
	}
}

func (s *Server) identify(c echo.Context) (auth.Identity, error) {
	var tok string
	cookie := false
	if h := c.Request().Header.Get(echo.HeaderAuthorization); h != "" {
		scheme, t, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return auth.Identity{}, apperr.New(apperr.Unauthorized, "use Authorization: Bearer <token>")
		}
		tok = strings.TrimSpace(t)
	} else if ck, err := c.Cookie(CookieName); err == nil {
		tok, cookie = ck.Value, true
	}
	if tok == "" {
		return auth.Identity{}, apperr.New(apperr.Unauthorized, "sign in first: POST /api/v1/session")
	}
	sess, u, err := s.Auth.Authenticate(c.Request().Context(), tok)
	if err != nil {
		return auth.Identity{}, err
	}
	return auth.Identity{User: u, Session: sess, Cookie: cookie}, nil
}

// formCSRF is the csrf_token field of a form body. Never the query string: a token in a URL
// leaks into logs, browser history and Referer headers.
func formCSRF(c echo.Context) string {
	return c.Request().PostFormValue("csrf_token")
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// adminOnly guards admin routes.
func adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !identity(c).Admin() {
			return apperr.New(apperr.Forbidden, "only admins may do this")
		}
		return next(c)
	}
}

func identity(c echo.Context) auth.Identity {
	id, _ := c.Get(identityKey).(auth.Identity)
	return id
}

func actor(c echo.Context) dialog.Actor {
	id := identity(c)
	return dialog.Actor{ID: id.User.ID, Role: id.User.Role, Name: id.User.Name, Admin: id.Admin()}
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      any       `json:"user"`
}

func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" {
		return &apperr.Error{Code: apperr.Invalid, Message: "email and password are required", Fields: []string{"email", "password"}}
	}
	tok, sess, u, err := s.Auth.Login(c.Request().Context(), req.Email, req.Password, c.RealIP(), c.Request().UserAgent())
	if err != nil {
		return err
	}
	s.setSessionCookie(c, tok, sess.ExpiresAt)
	return c.JSON(http.StatusOK, loginResponse{Token: tok, CSRFToken: sess.CSRFToken, ExpiresAt: sess.ExpiresAt, User: u})
}

func (s *Server) setSessionCookie(c echo.Context, tok string, exp time.Time) {
	c.SetCookie(&http.Cookie{Name: CookieName, Value: tok, Path: "/", Expires: exp, HttpOnly: true,
		Secure: s.Config.CookieSecure, SameSite: http.SameSiteLaxMode})
}

func (s *Server) logout(c echo.Context) error {
	id := identity(c)
	if err := s.deleteSession(c, id.Session.ID); err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.Config.CookieSecure, SameSite: http.SameSiteLaxMode})
	return c.NoContent(http.StatusNoContent)
}
