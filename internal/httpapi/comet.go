package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
)

// cometSettingKey holds the comet-server.ru account; the Dev KEY is sealed.
const cometSettingKey = "comet"

type cometStored struct {
	DevID     int64  `json:"dev_id"`
	DevKey    []byte `json:"dev_key_sealed"`
	Addr      string `json:"addr"`
	Node      string `json:"node"`
	UpdatedAt string `json:"updated_at"`
}

// cometView is what admins see: never the key.
type cometView struct {
	DevID     int64  `json:"dev_id"`
	DevKeySet bool   `json:"dev_key_set"`
	Addr      string `json:"addr"`
	Node      string `json:"node"`
	Enabled   bool   `json:"enabled"`
}

type cometBody struct {
	DevID  int64   `json:"dev_id"`
	DevKey *string `json:"dev_key"` // omitted or null keeps the stored key; "" removes it
	Addr   string  `json:"addr"`
	Node   string  `json:"node"`
}

// cometSettings loads the account (cached briefly, so a change applies within seconds on
// every instance) and keeps one publisher per account.
type cometSettings struct {
	s   *Server
	mu  sync.Mutex
	at  time.Time
	cfg *push.CometConfig
	pub *push.Comet
}

const cometCacheTTL = 3 * time.Second

// wireComet adds the comet settings API and forwards the hub's events to comet.
func (s *Server) wireComet() *cometSettings {
	cs := &cometSettings{s: s}
	adm := s.echo.Group("/api/v1/settings/comet", s.authenticate, adminOnly)
	adm.GET("", cs.get)
	adm.PUT("", cs.put)
	if s.Hub != nil && s.Hub.OnEvent == nil {
		fwd := &push.CometForwarder{Store: s.Store, Log: s.Log.With("part", "comet"), Load: cs.publisher}
		s.Hub.OnEvent = fwd.Handle
	}
	return cs
}

func (cs *cometSettings) load(ctx context.Context) (cometStored, error) {
	var st cometStored
	err := store.GetSetting(ctx, cs.s.Store.Pool, cometSettingKey, &st)
	if errors.Is(err, store.ErrNotFound) {
		return cometStored{}, nil
	}
	return st, err
}

// config returns the account, or nil when comet is off (no Dev ID or no Dev KEY).
func (cs *cometSettings) config(ctx context.Context) (*push.CometConfig, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if time.Since(cs.at) < cometCacheTTL {
		return cs.cfg, nil
	}
	st, err := cs.load(ctx)
	if err != nil {
		return nil, err
	}
	var cfg *push.CometConfig
	if st.DevID > 0 && len(st.DevKey) > 0 {
		key, err := cs.s.Channels.Box.Open(st.DevKey, []byte(cometSettingKey))
		if err != nil {
			return nil, errors.New("comet: cannot open the stored Dev KEY (secret key changed?)")
		}
		cfg = &push.CometConfig{DevID: st.DevID, DevKey: string(key), Addr: st.Addr, Node: st.Node}
	}
	if cs.pub != nil && (cfg == nil || *cfg != cs.pub.Config()) {
		cs.pub.Close()
		cs.pub = nil
	}
	if cfg != nil && cs.pub == nil {
		cs.pub = push.NewComet(*cfg)
		c := cs.pub.Config()
		cfg = &c
	} else if cs.pub != nil {
		c := cs.pub.Config()
		cfg = &c
	}
	cs.cfg, cs.at = cfg, time.Now()
	return cfg, nil
}

func (cs *cometSettings) publisher(ctx context.Context) (push.Publisher, error) {
	cfg, err := cs.config(ctx)
	if err != nil || cfg == nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.pub == nil {
		return nil, nil
	}
	return cs.pub, nil
}

// browser returns the inbox's comet connection for user uid as JSON, and the WebSocket
// origin the page's CSP must allow; "" when comet is off.
func (cs *cometSettings) browser(ctx context.Context, uid int64) (string, string, error) {
	cfg, err := cs.config(ctx)
	if err != nil || cfg == nil {
		return "", "", err
	}
	cs.mu.Lock()
	pub := cs.pub
	cs.mu.Unlock()
	if pub == nil {
		return "", "", nil
	}
	key, err := pub.Auth(uid)
	if err != nil {
		return "", "", err
	}
	b, _ := json.Marshal(map[string]any{"dev_id": cfg.DevID, "user_id": uid, "user_key": key, "node": cfg.Node})
	return string(b), cfg.Node, nil
}

func (cs *cometSettings) view(st cometStored) cometView {
	return cometView{DevID: st.DevID, DevKeySet: len(st.DevKey) > 0, Addr: st.Addr, Node: st.Node, Enabled: st.DevID > 0 && len(st.DevKey) > 0}
}

func (cs *cometSettings) get(c echo.Context) error {
	st, err := cs.load(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cs.view(st))
}

func (cs *cometSettings) put(c echo.Context) error {
	var b cometBody
	if err := bind(c, &b); err != nil {
		return err
	}
	if b.DevID < 0 || b.DevID > 999999999 {
		return invalid("dev_id must be the number comet-server.ru shows (0 turns comet off)")
	}
	for name, hp := range map[string]string{"addr": b.Addr, "node": b.Node} {
		if hp == "" {
			continue
		}
		if strings.ContainsAny(hp, "/ '\"\\;,") {
			return invalid("%s must be host or host:port", name)
		}
		if _, _, err := net.SplitHostPort(hp); err != nil && name == "addr" {
			return invalid("addr must be host:port (CometQL, usually port 3306)")
		}
	}
	ctx := c.Request().Context()
	st, err := cs.load(ctx)
	if err != nil {
		return err
	}
	st.DevID, st.Addr, st.Node = b.DevID, strings.TrimSpace(b.Addr), strings.TrimSpace(b.Node)
	if b.DevKey != nil {
		if *b.DevKey == "" {
			st.DevKey = nil
		} else {
			if len(*b.DevKey) > 200 {
				return invalid("dev_key is too long")
			}
			sealed, err := cs.s.Channels.Box.Seal([]byte(*b.DevKey), []byte(cometSettingKey))
			if err != nil {
				return err
			}
			st.DevKey = sealed
		}
	}
	st.UpdatedAt = time.Now().UTC().Format(time.RFC3339)
	if err := store.PutSetting(ctx, cs.s.Store.Pool, cometSettingKey, st); err != nil {
		return err
	}
	if err := store.Audit(ctx, cs.s.Store.Pool, identity(c).User.ID, "settings.comet", "settings", 0, map[string]any{"dev_id": st.DevID, "key_set": len(st.DevKey) > 0}); err != nil {
		return err
	}
	cs.mu.Lock()
	cs.at = time.Time{}
	cs.mu.Unlock()
	return c.JSON(http.StatusOK, cs.view(st))
}
