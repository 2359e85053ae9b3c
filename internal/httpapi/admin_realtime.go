package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
)

// realtimeKey is the settings row of the realtime transport.
const realtimeKey = "realtime"

// realtimeAD binds the sealed Dev KEY to this setting.
var realtimeAD = []byte("setting:realtime")

// Realtime is how operators' browsers get live events: the built-in SSE stream, or
// comet-server.ru (Dev ID and Dev KEY; the key is sealed like channel secrets).
type Realtime struct {
	Mode      string `json:"mode"` // "builtin" or "comet"
	DevID     int64  `json:"dev_id"`
	Host      string `json:"host"` // CometQL host:port; empty = app.comet-server.ru:3306
	SealedKey []byte `json:"dev_key_sealed,omitempty"`
	// Node is the browsers' WebSocket host[:port]; empty = app.comet-server.ru (inbox).
	Node string `json:"node,omitempty"`
}

type realtimeView struct {
	Mode      string `json:"mode"`
	DevID     int64  `json:"dev_id"`
	Host      string `json:"host"`
	Node      string `json:"node"`
	DevKeySet bool   `json:"dev_key_set"`
}

type realtimeBody struct {
	Mode   string `json:"mode"`
	DevID  int64  `json:"dev_id"`
	Host   string `json:"host"`
	Node   string `json:"node"`
	DevKey string `json:"dev_key"` // empty keeps the stored key
}

// RealtimeSettings returns the saved transport with the Dev KEY opened (for the transport;
// never for a browser).
func (s *Server) RealtimeSettings(ctx context.Context) (Realtime, string, error) {
	var r Realtime
	if err := store.GetSetting(ctx, s.Store.Pool, realtimeKey, &r); err != nil && !errors.Is(err, store.ErrNotFound) {
		return r, "", err
	}
	if r.Mode == "" {
		r.Mode = "builtin"
	}
	if len(r.SealedKey) == 0 {
		return r, "", nil
	}
	key, err := s.Channels.Box.Open(r.SealedKey, realtimeAD)
	if err != nil {
		return r, "", apperr.New(apperr.Conflict, "the saved Dev KEY cannot be decrypted with the current OMNICHAT_SECRET_KEY: enter it again")
	}
	if !s.Channels.Box.Current(r.SealedKey) {
		// Key rotation: opened with an old key, so seal it again with the current one.
		if sealed, err := s.Channels.Box.Seal(key, realtimeAD); err == nil {
			r.SealedKey = sealed
			if err := store.PutSetting(ctx, s.Store.Pool, realtimeKey, r); err != nil {
				s.Log.Warn("re-seal the comet Dev KEY", "err", err)
			}
		}
	}
	return r, string(key), nil
}

func (s *Server) getRealtime(c echo.Context) error {
	r, key, err := s.RealtimeSettings(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, realtimeView{Mode: r.Mode, DevID: r.DevID, Host: r.Host, Node: r.Node, DevKeySet: key != ""})
}

func (b *realtimeBody) validate() error {
	b.Host, b.DevKey, b.Node = strings.TrimSpace(b.Host), strings.TrimSpace(b.DevKey), strings.TrimSpace(b.Node)
	// The node goes into the inbox page's CSP (connect-src): a bare host[:port].
	if b.Node != "" && (strings.ContainsAny(b.Node, "/ '\"\\;,") || len(b.Node) > 200) {
		return &apperr.Error{Code: apperr.Invalid, Message: "the WebSocket node is host or host:port, e.g. app.comet-server.ru", Fields: []string{"node"}}
	}
	if b.Mode != "builtin" && b.Mode != "comet" {
		return &apperr.Error{Code: apperr.Invalid, Message: "mode must be builtin or comet", Fields: []string{"mode"}}
	}
	if b.DevID < 0 || b.DevID > 999999999 {
		return &apperr.Error{Code: apperr.Invalid, Message: "Dev ID is a number from 0 to 999999999", Fields: []string{"dev_id"}}
	}
	if b.Host != "" {
		if _, port, err := net.SplitHostPort(b.Host); err != nil || port == "" {
			return &apperr.Error{Code: apperr.Invalid, Message: "the CometQL server is host:port, e.g. app.comet-server.ru:3306", Fields: []string{"host"}}
		}
	}
	if len(b.DevKey) > 200 {
		return &apperr.Error{Code: apperr.Invalid, Message: "Dev KEY is too long", Fields: []string{"dev_key"}}
	}
	return nil
}

func (s *Server) putRealtime(c echo.Context) error {
	var b realtimeBody
	if err := bind(c, &b); err != nil {
		return err
	}
	if err := b.validate(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	old, oldKey, err := s.RealtimeSettings(ctx)
	if err != nil && b.DevKey == "" {
		return err
	}
	r := Realtime{Mode: b.Mode, DevID: b.DevID, Host: b.Host, Node: b.Node, SealedKey: old.SealedKey}
	if b.DevKey != "" {
		if r.SealedKey, err = s.Channels.Box.Seal([]byte(b.DevKey), realtimeAD); err != nil {
			return err
		}
	}
	if r.Mode == "comet" && b.DevKey == "" && oldKey == "" {
		return &apperr.Error{Code: apperr.Invalid, Message: "enter the Dev KEY from your comet-server.ru account", Fields: []string{"dev_key"}}
	}
	err = s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.PutSetting(ctx, tx, realtimeKey, r); err != nil {
			return err
		}
		return store.Audit(ctx, tx, identity(c).User.ID, "settings.realtime", "settings", 0,
			map[string]any{"mode": r.Mode, "dev_id": r.DevID, "host": r.Host, "node": r.Node, "dev_key_changed": b.DevKey != ""})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, realtimeView{Mode: r.Mode, DevID: r.DevID, Host: r.Host, Node: r.Node, DevKeySet: len(r.SealedKey) > 0})
}

// testRealtime signs in to comet with the given (or saved) credentials and reports the
// server's answer in plain words.
func (s *Server) testRealtime(c echo.Context) error {
	var b realtimeBody
	if err := bind(c, &b); err != nil {
		return err
	}
	b.Mode = "comet"
	if err := b.validate(); err != nil {
		return err
	}
	key := b.DevKey
	if key == "" {
		var err error
		if _, key, err = s.RealtimeSettings(c.Request().Context()); err != nil {
			return err
		}
		if key == "" {
			return &apperr.Error{Code: apperr.Invalid, Message: "enter the Dev KEY to test", Fields: []string{"dev_key"}}
		}
	}
	if err := push.PingComet(c.Request().Context(), push.CometConfig{DevID: b.DevID, DevKey: key, Addr: b.Host}); err != nil {
		var ae *push.CometError
		if errors.As(err, &ae) {
			return &apperr.Error{Code: apperr.Invalid, Message: err.Error(), Fields: []string{"dev_id", "dev_key"}}
		}
		return apperr.New(apperr.Invalid, "%v", err)
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true})
}
