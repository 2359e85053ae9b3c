package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/auth"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/web"
)

// InviteTTL is how long a one-time invite link works.
const InviteTTL = 7 * 24 * time.Hour

// createInvite (POST /api/v1/operators/:id/invite, admins) makes a one-time link with which
// the operator chooses their own password. The link is shown once, to the admin; only its
// hash is stored, and a new invite replaces the user's unused ones.
func (s *Server) createInvite(c echo.Context) error {
	uid, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := store.UserByID(ctx, s.Store.Pool, uid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
		return apperr.New(apperr.NotFound, "no active operator %d", uid)
	}
	if err != nil {
		return err
	}
	tok, hash, err := auth.NewToken()
	if err != nil {
		return err
	}
	exp := time.Now().Add(InviteTTL)
	err = s.Store.Tx(ctx, func(tx pgx.Tx) error {
		id, err := store.CreateInvite(ctx, tx, uid, identity(c).User.ID, hash, exp)
		if err != nil {
			return err
		}
		return store.Audit(ctx, tx, identity(c).User.ID, "user.invite", "user", uid, map[string]any{"invite": id})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"url": s.Config.PublicURL + "/invite/" + tok, "expires_at": exp.UTC()})
}

type inviteView struct {
	Email string
	Error string
}

// invitePage shows the set-password form of a valid invite. The token in the path is the
// capability; it is never logged (the access log records the route, not the token).
func (p *pages) invitePage(c echo.Context) error {
	_, u, err := store.InviteUser(c.Request().Context(), p.s.Store.Pool, auth.HashToken(c.Param("token")), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "this invite link was used already or has expired: ask your admin for a new one")
	}
	if err != nil {
		return err
	}
	return p.renderInvite(c, http.StatusOK, u, inviteView{Email: u.Email})
}

func (p *pages) renderInvite(c echo.Context, status int, u store.User, v inviteView) error {
	pg := &web.Page{L: p.web.Locale(p.lang(c, &u)), Data: v, Class: "bare"}
	pg.Title = pg.L.T("admin.invite.title")
	return p.render(c, status, "admin_invite", pg)
}

// inviteSubmit sets the password, spends the invite and signs the operator in.
func (p *pages) inviteSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	id, u, err := store.InviteUser(ctx, p.s.Store.Pool, auth.HashToken(c.Param("token")), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "this invite link was used already or has expired: ask your admin for a new one")
	}
	if err != nil {
		return err
	}
	L := p.web.Locale(p.lang(c, &u))
	pw, again := c.FormValue("password"), c.FormValue("password2")
	if pw != again {
		return p.renderInvite(c, http.StatusUnprocessableEntity, u, inviteView{Email: u.Email, Error: L.T("admin.invite.mismatch")})
	}
	if err := auth.ValidatePassword(pw); err != nil {
		return p.renderInvite(c, http.StatusUnprocessableEntity, u, inviteView{Email: u.Email, Error: err.Error()})
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	err = p.s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.UseInvite(ctx, tx, id); err != nil {
			return err
		}
		if err := store.UpdateUser(ctx, tx, u.ID, store.UserUpdate{PasswordHash: &hash}); err != nil {
			return err
		}
		return store.Audit(ctx, tx, u.ID, "user.invite_accepted", "user", u.ID, nil)
	})
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "this invite link was used already: ask your admin for a new one")
	}
	if err != nil {
		return err
	}
	tok, sess, err := p.s.Auth.NewSession(ctx, u.ID, "session", "", c.RealIP(), c.Request().UserAgent())
	if err != nil {
		return err
	}
	p.s.setSessionCookie(c, tok, sess.ExpiresAt)
	return c.Redirect(http.StatusSeeOther, "/inbox")
}
