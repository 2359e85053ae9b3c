package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
)

// inboxAPIRoutes are the small API additions the inbox needs (registered from pageRoutes;
// echo prefers these static segments over /dialogs/:id and /dialogs/:id/:action).
func (s *Server) inboxAPIRoutes() {
	op := s.echo.Group("/api/v1", s.authenticate)
	op.GET("/dialogs/counts", s.dialogCounts)
	op.POST("/dialogs/:id/read", s.markRead)
	op.POST("/presence", s.presencePing)
}

// cometPresence is the presence "instance" of browsers live through comet-server.ru: they
// hold no stream here, so they say every few seconds that they are there; a row not
// refreshed within store.PresenceTTL expires like a dead instance's.
const cometPresence = "comet"

// presencePing is POST /api/v1/presence: the inbox is open (used with comet, where our SSE
// stream, which normally marks an operator present, is not used).
func (s *Server) presencePing(c echo.Context) error {
	ctx := c.Request().Context()
	uid := identity(c).User.ID
	known, err := store.HasPresence(ctx, s.Store.Pool, uid, cometPresence)
	if err != nil {
		return err
	}
	if err := store.SetPresence(ctx, s.Store.Pool, uid, cometPresence, 1); err != nil {
		return err
	}
	if !known && s.Hub != nil && s.Hub.OnPresence != nil {
		s.Hub.OnPresence(uid, true) // queued dialogs may now go to this operator
	}
	return c.NoContent(http.StatusNoContent)
}

// dialogCounts is GET /api/v1/dialogs/counts: the numbers on the inbox tabs.
func (s *Server) dialogCounts(c echo.Context) error {
	id := identity(c)
	var viewer *int64
	if !id.Admin() {
		viewer = &id.User.ID
	}
	n, err := store.CountInbox(c.Request().Context(), s.Store.Pool, id.User.ID, viewer)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}

// markRead is POST /api/v1/dialogs/:id/read: the operator has seen the visitor's messages.
func (s *Server) markRead(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := s.Dialogs.Dialog(ctx, actor(c), id)
	if err != nil {
		return err
	}
	changed, err := store.MarkDialogRead(ctx, s.Store.Pool, d.ID)
	if err != nil {
		return err
	}
	if changed {
		if err := push.Notify(ctx, s.Store.Pool, push.ForDialog("dialog.updated", d, 0)); err != nil {
			s.Log.Warn("notify read", "err", err)
		}
	}
	return c.NoContent(http.StatusNoContent)
}
