// Package channel manages configured channels: settings checked by their provider,
// secrets sealed at rest, webhooks registered on save and removed on delete, and a short
// cache of opened channels for the webhook path.
package channel

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/pgtext"
	"github.com/omnichat/omnichat/internal/seal"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
)

// secretKey holds the channel's own random secret inside the sealed JSON.
const secretKey = "_channel_secret"

// Service manages channels.
type Service struct {
	Store     *store.Store
	Providers *providers.Registry
	Box       *seal.Box
	PublicURL string
	Log       *slog.Logger
	// CacheTTL bounds how long another instance's change may take to reach the webhook path.
	CacheTTL time.Duration

	mu    sync.Mutex
	cache map[int64]cached
}

type cached struct {
	live Live
	at   time.Time
}

// Live is an opened channel: its provider and the provider's view with secrets.
type Live struct {
	Provider     providers.Provider
	Channel      providers.Channel
	Enabled      bool
	DepartmentID *int64
}

// View is a channel as admins see it: secret settings are never included, only named.
type View struct {
	store.Channel
	SecretsSet []string           `json:"secrets_set"`
	WebhookURL string             `json:"webhook_url"`
	Actions    []providers.Action `json:"actions"`
}

// Input is what an admin submits.
type Input struct {
	Kind         string             `json:"kind"`
	Name         string             `json:"name"`
	DepartmentID Department         `json:"department_id"`
	Enabled      *bool              `json:"enabled"`
	Settings     providers.Settings `json:"settings"`
}

// Department is an optional department id in an update: absent keeps the channel's,
// null clears it, a number sets it.
type Department struct {
	Set bool
	ID  *int64
}

// UnmarshalJSON is only called when the key is present.
func (d *Department) UnmarshalJSON(b []byte) error {
	d.Set = true
	return json.Unmarshal(b, &d.ID)
}

// WebhookURL is where a channel's platform posts.
func (s *Service) WebhookURL(id int64) string {
	return s.PublicURL + "/webhooks/" + strconv.FormatInt(id, 10)
}

func (s *Service) provider(kind string) (providers.Provider, error) {
	p, ok := s.Providers.Get(kind)
	if !ok {
		return nil, apperr.New(apperr.Invalid, "unknown channel kind %q (known: %s)", kind, strings.Join(s.Providers.Kinds(), ", "))
	}
	return p, nil
}

// Check verifies settings with the platform (the settings page's Check button). For an
// existing channel, secret fields left empty keep their stored values, unless an address
// changes (mergeSettings).
func (s *Service) Check(ctx context.Context, kind string, existingID int64, in providers.Settings) (providers.Settings, error) {
	p, err := s.provider(kind)
	if err != nil {
		return nil, err
	}
	settings := clean(p.SettingsForm(), in)
	if existingID != 0 {
		live, err := s.load(ctx, existingID)
		if err != nil {
			return nil, err
		}
		if live.Channel.Kind != kind {
			return nil, apperr.New(apperr.Invalid, "channel %d is a %s channel, not %s", existingID, live.Channel.Kind, kind)
		}
		m, err := mergeSettings(p.SettingsForm(), live.Channel.Settings, settings)
		if err != nil {
			return nil, err
		}
		settings = m.Settings
	}
	checked, err := s.check(ctx, p, settings)
	if err != nil {
		return nil, err
	}
	return publicSettings(p.SettingsForm(), checked), nil
}

func (s *Service) check(ctx context.Context, p providers.Provider, settings providers.Settings) (providers.Settings, error) {
	if err := p.SettingsForm().Validate(settings); err != nil {
		var se *providers.SettingsError
		if errors.As(err, &se) {
			return nil, &apperr.Error{Code: apperr.Invalid, Message: "required settings are missing: " + strings.Join(se.Fields, ", "), Fields: se.Fields}
		}
		return nil, apperr.New(apperr.Invalid, "%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	checked, err := p.Check(ctx, settings)
	if err != nil {
		var se *providers.SettingsError
		if errors.As(err, &se) {
			// The provider's own words for the admin ("Telegram rejected the bot token: …"),
			// without the "settings [token]:" prefix of SettingsError.Error.
			msg := se.Msg
			if msg == "" {
				msg = err.Error()
			}
			return nil, &apperr.Error{Code: apperr.Invalid, Message: msg, Fields: se.Fields}
		}
		// Provider errors carry no secrets (the conformance suite checks that).
		return nil, apperr.New(apperr.Invalid, "check failed: %v", err)
	}
	for k, v := range checked { // the platform's words (bot name…): storable text (pgtext)
		checked[k] = pgtext.Clean(v)
	}
	return settings.Merge(checked), nil
}

// merged is an admin's input applied to a channel's stored settings.
type merged struct {
	Settings providers.Settings // the stored settings with the input applied
	Given    providers.Settings // the input, without the secrets left empty
	Changed  bool               // some setting differs from the stored one
	// Account: a credential or an address differs, so this may be another bot or account
	// (the old one's webhook must not keep pointing at us).
	Account bool
	// Address: an address setting differs.
	Address bool
	// NewSecret: an address changed on a channel with stored secrets: its own webhook
	// secret is replaced too.
	NewSecret bool
}

// mergeSettings is the one place an admin's settings meet a channel's stored ones (Check
// with channel_id and Update). Secret fields left empty keep their stored values, except
// when an address setting changes (a url field, or any setting whose value is a URL the
// provider calls, like Telegram's proxy_url): then every stored secret must be entered
// again, since the provider would otherwise send the stored token to the new address and
// whoever runs it could read it out. in must be clean()ed.
func mergeSettings(f providers.Form, stored, in providers.Settings) (merged, error) {
	m := merged{Given: providers.Settings{}}
	for k, v := range in {
		if v == "" && f.Secret(k) {
			continue
		}
		m.Given[k] = v
		if stored[k] == v {
			continue
		}
		m.Changed = true
		address := isAddress(f, k, stored[k], v)
		m.Address = m.Address || address
		m.Account = m.Account || address || f.Secret(k)
	}
	if m.Address {
		var missing []string
		for _, fl := range f.Fields {
			if fl.Type == providers.FieldSecret && !fl.Internal && !fl.Filled && stored[fl.Name] != "" {
				m.NewSecret = true
				if m.Given[fl.Name] == "" {
					missing = append(missing, fl.Name)
				}
			}
		}
		if len(missing) > 0 {
			return m, &apperr.Error{Code: apperr.Invalid, Fields: missing,
				Message: "an address setting changed: enter " + strings.Join(missing, ", ") +
					" again (stored secrets are never sent to a new address)"}
		}
	}
	m.Settings = stored.Merge(m.Given)
	return m, nil
}

// isAddress reports whether setting k names a place the provider connects to: a url field,
// or a value that is a URL (a proxy kept in a secret field). A text that merely contains a
// link (a welcome message) is not one.
func isAddress(f providers.Form, k, old, v string) bool {
	for _, fl := range f.Fields {
		if fl.Name == k && fl.Type == providers.FieldURL {
			return true
		}
	}
	return isURL(old) || isURL(v)
}

func isURL(v string) bool {
	if strings.ContainsAny(v, " \t\r\n") {
		return false
	}
	u, err := url.Parse(v)
	return err == nil && u.Scheme != "" && u.Host != ""
}

// clean keeps only the form's editable fields.
func clean(f providers.Form, in providers.Settings) providers.Settings {
	out := providers.Settings{}
	for _, fl := range f.Fields {
		if v, ok := in[fl.Name]; ok && !fl.Internal && !fl.Filled {
			out[fl.Name] = strings.TrimSpace(v)
		}
	}
	return out
}

func publicSettings(f providers.Form, s providers.Settings) providers.Settings {
	out := providers.Settings{}
	for _, fl := range f.Fields {
		if fl.Type != providers.FieldSecret {
			if v, ok := s[fl.Name]; ok {
				out[fl.Name] = v
			}
		}
	}
	return out
}

// Create checks, stores and registers a new channel.
func (s *Service) Create(ctx context.Context, actorID int64, in Input) (View, error) {
	p, err := s.provider(in.Kind)
	if err != nil {
		return View{}, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 200 {
		return View{}, &apperr.Error{Code: apperr.Invalid, Message: "name is required (at most 200 characters)", Fields: []string{"name"}}
	}
	settings, err := s.check(ctx, p, clean(p.SettingsForm(), in.Settings))
	if err != nil {
		return View{}, err
	}
	secret, err := randomSecret()
	if err != nil {
		return View{}, err
	}
	// Inserted first with empty settings: the sealed secrets are bound to the row's id.
	c := store.Channel{Kind: in.Kind, Name: name, DepartmentID: in.DepartmentID.ID, Enabled: in.Enabled == nil || *in.Enabled,
		Settings: map[string]string{}, Secrets: []byte{}}
	err = s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.CreateChannel(ctx, tx, &c); err != nil {
			return err
		}
		if err := s.seal(p.SettingsForm(), &c, settings, secret); err != nil {
			return err
		}
		if err := store.UpdateChannel(ctx, tx, &c); err != nil {
			return err
		}
		return store.Audit(ctx, tx, actorID, "channel.create", "channel", c.ID, map[string]any{"kind": c.Kind, "name": c.Name, "settings": c.Settings})
	})
	if err != nil {
		return View{}, mapStoreErr(err)
	}
	if c.Enabled {
		s.registerWebhook(ctx, c.ID)
	}
	return s.Get(ctx, c.ID)
}

// Update changes a channel. Secret settings sent empty keep their values.
func (s *Service) Update(ctx context.Context, actorID, id int64, in Input) (View, error) {
	live, err := s.load(ctx, id)
	if err != nil {
		return View{}, err
	}
	p := live.Provider
	c, err := store.ChannelByID(ctx, s.Store.Pool, id)
	if err != nil {
		return View{}, mapStoreErr(err)
	}
	if in.Name != "" {
		c.Name = strings.TrimSpace(in.Name)
	}
	if in.DepartmentID.Set {
		c.DepartmentID = in.DepartmentID.ID
	}
	wasEnabled := c.Enabled
	if in.Enabled != nil {
		c.Enabled = *in.Enabled
	}
	m, err := mergeSettings(p.SettingsForm(), live.Channel.Settings, clean(p.SettingsForm(), in.Settings))
	if err != nil {
		return View{}, err
	}
	changed, settings := m.Given, live.Channel.Settings
	settingsChanged, accountChanged := m.Changed, m.Account
	if settingsChanged {
		if settings, err = s.check(ctx, p, m.Settings); err != nil {
			return View{}, err
		}
	}
	secret := live.Channel.Secret
	if m.NewSecret {
		// The webhook secret goes to the platform with the webhook: a new address gets a
		// new one, so whoever runs that address cannot forge webhooks of the old account.
		if secret, err = randomSecret(); err != nil {
			return View{}, err
		}
	}
	err = s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := s.seal(p.SettingsForm(), &c, settings, secret); err != nil {
			return err
		}
		if err := store.UpdateChannel(ctx, tx, &c); err != nil {
			return err
		}
		changedNames := make([]string, 0, len(changed))
		for k := range changed {
			changedNames = append(changedNames, k)
		}
		return store.Audit(ctx, tx, actorID, "channel.update", "channel", c.ID, map[string]any{"name": c.Name, "enabled": c.Enabled, "changed_settings": changedNames})
	})
	if err != nil {
		return View{}, mapStoreErr(err)
	}
	s.forget(id)
	if wasEnabled && accountChanged {
		s.deleteOldWebhook(ctx, live)
	}
	switch {
	case c.Enabled && (settingsChanged || !wasEnabled):
		s.registerWebhook(ctx, id)
	case !c.Enabled && wasEnabled:
		s.unregisterWebhook(ctx, id)
	}
	return s.Get(ctx, id)
}

// Delete removes a channel's webhook and marks it deleted; its dialogs stay in the archive.
func (s *Service) Delete(ctx context.Context, actorID, id int64) error {
	if _, err := s.load(ctx, id); err != nil {
		return err
	}
	s.unregisterWebhook(ctx, id)
	err := s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.DeleteChannel(ctx, tx, id); err != nil {
			return err
		}
		return store.Audit(ctx, tx, actorID, "channel.delete", "channel", id, nil)
	})
	s.forget(id)
	return mapStoreErr(err)
}

func (s *Service) registerWebhook(ctx context.Context, id int64) {
	live, err := s.load(ctx, id)
	if err != nil {
		s.Log.Error("set webhook: load channel", "channel", id, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	extra, err := live.Provider.SetWebhook(ctx, live.Channel, live.Channel.WebhookURL)
	state, msg := "set", ""
	if err != nil {
		state, msg = "error", pgtext.Clean(err.Error())
		s.Log.Warn("set webhook failed", "channel", id, "kind", live.Channel.Kind, "err", err)
	}
	if len(extra) > 0 {
		if err := s.storeExtra(ctx, id, live, extra); err != nil {
			state, msg = "error", "storing the platform's answer failed"
			s.Log.Error("set webhook: store settings", "channel", id, "err", err)
		}
	}
	if err := store.SetWebhookState(ctx, s.Store.Pool, id, state, msg); err != nil {
		s.Log.Error("set webhook state", "channel", id, "err", err)
	}
	s.forget(id)
}

func (s *Service) storeExtra(ctx context.Context, id int64, live Live, extra providers.Settings) error {
	return s.Store.Tx(ctx, func(tx pgx.Tx) error {
		c, err := store.ChannelByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.seal(live.Provider.SettingsForm(), &c, live.Channel.Settings.Merge(extra), live.Channel.Secret); err != nil {
			return err
		}
		return store.UpdateChannel(ctx, tx, &c)
	})
}

func (s *Service) unregisterWebhook(ctx context.Context, id int64) {
	live, err := s.load(ctx, id)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := live.Provider.DeleteWebhook(ctx, live.Channel); err != nil {
		s.Log.Warn("delete webhook failed", "channel", id, "kind", live.Channel.Kind, "err", err)
	}
	if err := store.SetWebhookState(ctx, s.Store.Pool, id, "none", ""); err != nil {
		s.Log.Error("set webhook state", "channel", id, "err", err)
	}
}

// deleteOldWebhook removes the webhook registered with a channel's previous settings.
func (s *Service) deleteOldWebhook(ctx context.Context, old Live) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := old.Provider.DeleteWebhook(ctx, old.Channel); err != nil && !errors.Is(err, providers.ErrUnsupported) {
		s.Log.Warn("delete the previous account's webhook failed", "channel", old.Channel.ID, "kind", old.Channel.Kind, "err", err)
	}
}

// Get returns a channel for admins.
func (s *Service) Get(ctx context.Context, id int64) (View, error) {
	c, err := store.ChannelByID(ctx, s.Store.Pool, id)
	if err != nil {
		return View{}, mapStoreErr(err)
	}
	return s.view(ctx, c)
}

// List returns every channel for admins.
func (s *Service) List(ctx context.Context) ([]View, error) {
	cs, err := store.ListChannels(ctx, s.Store.Pool)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(cs))
	for _, c := range cs {
		v, err := s.view(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Service) view(ctx context.Context, c store.Channel) (View, error) {
	v := View{Channel: c, WebhookURL: s.WebhookURL(c.ID), SecretsSet: []string{}, Actions: []providers.Action{}}
	v.Secrets = nil
	p, ok := s.Providers.Get(c.Kind)
	if !ok {
		return v, nil
	}
	live, err := s.open(p, c)
	if err != nil {
		return v, nil // shown with its settings; the admin re-enters secrets
	}
	for _, f := range p.SettingsForm().Fields {
		if f.Type == providers.FieldSecret && live.Channel.Settings[f.Name] != "" {
			v.SecretsSet = append(v.SecretsSet, f.Name)
		}
	}
	if a, ok := p.(providers.Actioner); ok {
		v.Actions = a.Actions(live.Channel)
	}
	return v, nil
}

// RunAction runs a provider action (QR code, embed code…) for a channel.
func (s *Service) RunAction(ctx context.Context, id int64, name string) (providers.ActionResult, error) {
	live, err := s.load(ctx, id)
	if err != nil {
		return providers.ActionResult{}, err
	}
	a, ok := live.Provider.(providers.Actioner)
	if !ok {
		return providers.ActionResult{}, apperr.New(apperr.NotFound, "%s channels have no actions", live.Channel.Kind)
	}
	known := false
	for _, act := range a.Actions(live.Channel) {
		known = known || act.Name == name
	}
	if !known {
		return providers.ActionResult{}, apperr.New(apperr.NotFound, "no action %q", name)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := a.RunAction(ctx, live.Channel, name)
	if err != nil {
		return res, apperr.New(apperr.Conflict, "%v", err)
	}
	return res, nil
}

// Live opens a channel for a provider call (dialog.Channels).
func (s *Service) Live(ctx context.Context, id int64) (providers.Provider, providers.Channel, error) {
	l, err := s.load(ctx, id)
	return l.Provider, l.Channel, err
}

// Lookup opens a channel for the webhook path, from a short cache.
func (s *Service) Lookup(ctx context.Context, id int64) (Live, error) { return s.load(ctx, id) }

func (s *Service) load(ctx context.Context, id int64) (Live, error) {
	s.mu.Lock()
	if c, ok := s.cache[id]; ok && time.Since(c.at) < s.CacheTTL {
		s.mu.Unlock()
		return c.live, nil
	}
	s.mu.Unlock()
	c, err := store.ChannelByID(ctx, s.Store.Pool, id)
	if err != nil {
		return Live{}, mapStoreErr(err)
	}
	p, ok := s.Providers.Get(c.Kind)
	if !ok {
		return Live{}, apperr.New(apperr.NotFound, "channel %d has kind %q, which this build does not know", id, c.Kind)
	}
	live, err := s.open(p, c)
	if err != nil {
		return Live{}, err
	}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[int64]cached{}
	}
	s.cache[id] = cached{live: live, at: time.Now()}
	s.mu.Unlock()
	return live, nil
}

func (s *Service) forget(id int64) {
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
}

func (s *Service) open(p providers.Provider, c store.Channel) (Live, error) {
	settings := providers.Settings{}
	for k, v := range c.Settings {
		settings[k] = v
	}
	var secrets map[string]string
	if len(c.Secrets) > 0 {
		pt, err := s.Box.Open(c.Secrets, ad(c.ID))
		if err != nil {
			return Live{}, fmt.Errorf("channel %d secrets: %w", c.ID, err)
		}
		if err := json.Unmarshal(pt, &secrets); err != nil {
			return Live{}, fmt.Errorf("channel %d secrets: %w", c.ID, err)
		}
	}
	secret := secrets[secretKey]
	delete(secrets, secretKey)
	for k, v := range secrets {
		settings[k] = v
	}
	return Live{Provider: p, Enabled: c.Enabled, DepartmentID: c.DepartmentID, Channel: providers.Channel{
		ID: c.ID, Kind: c.Kind, Name: c.Name, Settings: settings, Secret: secret,
		WebhookURL: s.WebhookURL(c.ID), PublicURL: s.PublicURL,
	}}, nil
}

// seal splits settings into the plain column and the sealed secrets.
func (s *Service) seal(f providers.Form, c *store.Channel, settings providers.Settings, secret string) error {
	plain := map[string]string{}
	secrets := map[string]string{secretKey: secret}
	for k, v := range settings {
		if f.Secret(k) {
			secrets[k] = v
		} else {
			plain[k] = v
		}
	}
	pt, err := json.Marshal(secrets)
	if err != nil {
		return err
	}
	sealed, err := s.Box.Seal(pt, ad(c.ID))
	if err != nil {
		return err
	}
	c.Settings, c.Secrets = plain, sealed
	return nil
}

// ad binds sealed secrets to their channel: copying them to another row fails to open.
func ad(id int64) []byte { return []byte("channel:" + strconv.FormatInt(id, 10)) }

// Reseal re-encrypts every channel's secrets with the current key (key rotation).
func (s *Service) Reseal(ctx context.Context) (int, error) {
	cs, err := store.ListChannels(ctx, s.Store.Pool)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cs {
		if len(c.Secrets) == 0 || s.Box.Current(c.Secrets) {
			continue
		}
		p, ok := s.Providers.Get(c.Kind)
		if !ok {
			continue
		}
		live, err := s.open(p, c)
		if err != nil {
			return n, err
		}
		if err := s.seal(p.SettingsForm(), &c, live.Channel.Settings, live.Channel.Secret); err != nil {
			return n, err
		}
		if err := store.UpdateChannel(ctx, s.Store.Pool, &c); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("channel secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func mapStoreErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "channel not found")
	}
	if err != nil && store.IsForeignKey(err) {
		return apperr.New(apperr.Invalid, "the department does not exist")
	}
	return err
}
