package httpapi

import (
	"errors"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/store"
)

// publicFile serves an outgoing file to a platform that fetches files by URL (Viber), by
// the expiring sealed link the channel service made (channel.Service.FileURL). No session:
// the token is the authorization, and a wrong or expired one looks like a missing file.
func (s *Server) publicFile(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if !s.Channels.FileTokenValid(id, c.Param("token")) {
		return apperr.New(apperr.NotFound, "file not found")
	}
	f, err := store.FileByID(c.Request().Context(), s.Store.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "file not found")
	}
	if err != nil {
		return err
	}
	return s.serveFile(c, f)
}
