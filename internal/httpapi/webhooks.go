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
	req, err := webhookRequest(c.Request(), c.Param("channel_id"), s.Config.WebhookMaxBody, c.RealIP())
	if err != nil {
		return err
	}
	p, ch := live.Provider, live.Channel

	resp, handled, err := p.CallbackServerConfirmation(ctx, ch, req)
	if err != nil {
		if handled && resp != nil && errors.Is(err, providers.ErrUnauthorized) {
			// The provider chose the platform's own refusal (Meta expects 403 for a wrong
			// verify token): log it like any rejection, answer what the provider built.
			s.Log.Warn("webhook: rejected handshake", "channel", ch.ID, "kind", ch.Kind, "ip", c.RealIP())
			return writeResponse(c, resp)
		}
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
			return err // 503 (database unavailable) or 500: the platform retries, and the retry is idempotent
		}
	}
	if a, ok := p.(providers.Acknowledger); ok {
		r := a.Ack(ch, req, evs)
		return writeResponse(c, &r)
	}
	return c.JSONBlob(http.StatusOK, []byte(`{}`))
}

// webhookRequest reads a platform's request for the provider: the raw body (at most max
// bytes: 413 beyond), and the path below /webhooks/{channel_id}. Fuzzed in fuzz_test.go.
func webhookRequest(r *http.Request, channelParam string, max int64, remoteAddr string) (*providers.Request, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "could not read the body")
	}
	if int64(len(body)) > max {
		return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge, "webhook body too large")
	}
	return &providers.Request{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/webhooks/"+channelParam),
		Header: r.Header, Query: r.URL.Query(), Body: body, RemoteAddr: remoteAddr}, nil
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
