package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/omnichat/omnichat/internal/store"
)

// routes is every route, grouped by who may call it.
func (s *Server) routes() {
	e := s.echo
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok", "version": s.Version})
	})
	e.GET("/readyz", s.ready)

	// Platforms: verified by each provider, never by a session.
	e.Any("/webhooks/:channel_id", s.webhook)
	e.Any("/webhooks/:channel_id/*", s.webhook)
	s.widgetRoutes() // the web-site widget's visitor API and pages (widget.go)
	// Platforms that fetch outgoing files by URL (Viber): a sealed, expiring link.
	e.GET("/public/files/:id/:token", s.publicFile)
	e.GET("/public/files/:id/:token/:name", s.publicFile)

	api := e.Group("/api/v1", middleware.BodyLimit("1M"))
	api.POST("/session", s.login)

	// Signed-in operators and admins.
	op := e.Group("/api/v1", s.authenticate)
	op.DELETE("/session", s.logout)
	op.GET("/me", s.me)
	op.PUT("/operators/:id", s.updateOperator, middleware.BodyLimit("64K")) // own status, name, locale; admins: anything
	op.GET("/sessions", s.listSessions)
	op.DELETE("/sessions/:id", s.revokeSession)
	op.GET("/tokens", s.listSessions)
	op.POST("/tokens", s.createToken, middleware.BodyLimit("4K"))
	op.DELETE("/tokens/:id", s.revokeSession)
	op.GET("/stream", s.stream)
	op.GET("/providers", s.listProviders)
	op.GET("/operators", s.listOperators)
	op.GET("/departments", s.listDepartments)
	op.GET("/dialogs", s.listDialogs)
	op.GET("/dialogs/:id", s.getDialog)
	op.GET("/dialogs/:id/messages", s.listMessages)
	op.POST("/dialogs/:id/messages", s.sendMessage) // body capped per provider in the handler
	op.DELETE("/dialogs/:id/messages/:mid", s.deleteMessage)
	op.POST("/dialogs/:id/messages/:mid/retry", s.retryMessage)
	op.POST("/dialogs/:id/:action", s.dialogAction, middleware.BodyLimit("64K"))
	op.GET("/files/:id", s.file)
	op.GET("/clients", s.searchClients)
	op.POST("/clients", s.saveClient, middleware.BodyLimit("256K"))
	op.GET("/clients/:id", s.getClient)
	op.PUT("/clients/:id", s.saveClient, middleware.BodyLimit("256K"))

	// Admins only.
	adm := e.Group("/api/v1", s.authenticate, adminOnly, middleware.BodyLimit("1M"))
	adm.GET("/channels", s.listChannels)
	adm.POST("/channels", s.createChannel)
	adm.POST("/channels/check", s.checkChannel)
	adm.GET("/channels/:id", s.getChannel)
	adm.PUT("/channels/:id", s.updateChannel)
	adm.DELETE("/channels/:id", s.deleteChannel)
	adm.POST("/channels/:id/actions/:name", s.channelAction)
	adm.POST("/operators", s.createOperator)
	adm.POST("/operators/:id/invite", s.createInvite) // admin_invites.go
	adm.GET("/realtime", s.getRealtime)               // admin_realtime.go
	adm.PUT("/realtime", s.putRealtime)
	adm.POST("/realtime/test", s.testRealtime)
	adm.POST("/departments", s.saveDepartment)
	adm.PUT("/departments/:id", s.saveDepartment)
	adm.DELETE("/departments/:id", s.deleteDepartment)
	adm.GET("/settings", s.getSettings)
	adm.PUT("/settings", s.putSettings)
	adm.GET("/audit", s.listAudit)
	adm.POST("/clients/:id/merge", s.mergeClient)

	// Pages (pages.go): sign-in, the inbox, the admin pages.
	s.pageRoutes()
}

func (s *Server) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Pool.Ping(ctx); err != nil {
		if store.IsUnavailable(err) {
			return fmt.Errorf("readyz: %w", err) // 503 unavailable, through the outage log
		}
		return echo.NewHTTPError(http.StatusServiceUnavailable, "database unavailable")
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
