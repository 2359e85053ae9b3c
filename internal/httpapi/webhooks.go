package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/providers"
)

// webhook is /webhooks/{channel_id}[/…]: handshake, verification, events stored in one
// transaction, and only then the answer. Nothing slow happens before the answer.
func (s *Server) webhook(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("channel_id"), 10, 64)
	if err != nil || id <= 0 {
		return apperr.New(apperr.NotFound, "no such channel")
	}
	ctx := c.Request().Context()
	live, err := s.Channels.Lookup(ctx, id)
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) && ae.Code == apperr.NotFound {
			return apperr.New(apperr.NotFound, "no such channel")
		}
		return err
	}
	if !live.Enabled {
		return echo.NewHTTPError(http.StatusGone, "channel disabled")
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, s.Config.WebhookMaxBody+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "could not read the body")
	}
	if int64(len(body)) > s.Config.WebhookMaxBody {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "webhook body too large")
	}
	req := &providers.Request{Method: c.Request().Method, Path: strings.TrimPrefix(c.Request().URL.Path, "/webhooks/"+c.Param("channel_id")),
		Header: c.Request().Header, Query: c.Request().URL.Query(), Body: body, RemoteAddr: c.RealIP()}
	p, ch := live.Provider, live.Channel

	resp, handled, err := p.CallbackServerConfirmation(ctx, ch, req)
	if err != nil {
		return s.webhookError(c, ch, err)
	}
	if handled {
		return writeResponse(c, resp)
	}
	evs, err := p.EventFilter(ctx, ch, req)
	if err != nil {
		return s.webhookError(c, ch, err)
	}
	if len(evs) == 0 {
		s.Log.Info("webhook: no events (update type not handled)", "channel", ch.ID, "kind", ch.Kind)
	} else {
		_, answers := p.(providers.ButtonAnswerer)
		// The platform gets its answer only after the commit; a client that hung up does
		// not abort a transaction that is about to make its retry a duplicate.
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		// Group commit: concurrent webhooks share one transaction (dialog/batch.go).
		if _, err := s.Dialogs.IngestGrouped(ictx, dialog.Chan{ID: ch.ID, Kind: ch.Kind, DepartmentID: live.DepartmentID, AnswersButtons: answers}, evs); err != nil {
			if errors.Is(err, providers.ErrMalformed) {
				return s.webhookError(c, ch, err)
			}
			return err // 500: the platform retries, and the retry is idempotent
		}
	}
	if a, ok := p.(providers.Acknowledger); ok {
		r := a.Ack(ch, req, evs)
		return writeResponse(c, &r)
	}
	return c.JSONBlob(http.StatusOK, []byte(`{}`))
}

func (s *Server) webhookError(c echo.Context, ch providers.Channel, err error) error {
	switch {
	case errors.Is(err, providers.ErrUnauthorized):
		s.Log.Warn("webhook: rejected unsigned or forged request", "channel", ch.ID, "kind", ch.Kind, "ip", c.RealIP())
		return echo.NewHTTPError(http.StatusUnauthorized, "signature missing or invalid")
	case errors.Is(err, providers.ErrMalformed):
		s.Log.Warn("webhook: malformed request", "channel", ch.ID, "kind", ch.Kind, "err", err)
		return echo.NewHTTPError(http.StatusBadRequest, "malformed webhook body")
	}
	return err
}

func writeResponse(c echo.Context, r *providers.Response) error {
	if r == nil {
		return c.NoContent(http.StatusOK)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			c.Response().Header().Add(k, v)
		}
	}
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	ct := r.ContentType
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	return c.Blob(status, ct, r.Body)
}
