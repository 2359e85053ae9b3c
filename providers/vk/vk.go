// Package vk is the provider for VK (VKontakte) community messages: visitors write to a
// community (group), omnichat receives their messages through the Callback API and answers
// through the messages.* API methods with the community's token.
//
// The platform, in short (API version 5.199, pinned in every call):
//
//	POST {api}/method/<name>      form-encoded parameters, token in "Authorization: Bearer";
//	                              HTTP 200 with {"response": …} or {"error": {error_code, error_msg}}
//	Callback API → our webhook    JSON {type, group_id, event_id, v, object, secret}; the
//	                              "secret" field (the callback server's secret key) authenticates
//	                              it; we must answer the plain text "ok", or VK resends the event.
//	confirmation handshake        {"type":"confirmation","group_id":…} → the confirmation code
//
// The package talks to the API with a small client of its own (client.go) rather than
// github.com/SevereCloud/vksdk/v2/api: that package needs modules omnichat's go.sum does not
// list, and its transport has the defects described in shared/providers.md (no context
// unless passed in params, no timeout, an in-process rate limiter that sleeps, immediate
// retries of error 6, HTTP status ignored, uploads without context).
package vk

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/netguard"
)

// Kind is the channel kind stored with each VK channel.
const Kind = "vk"

// APIVersion is the VK API version of every call and of the callback server's events. VK
// changes payload shapes between versions (message_new wraps the message in
// {"message","client_info"} since 5.103, groups.getById returns {"groups":[…]} since 5.138),
// so it is pinned, never left to a library or account default.
const APIVersion = "5.199"

// DefaultAPIURL is VK's API base URL; the api_url setting replaces it.
const DefaultAPIURL = "https://api.vk.com"

// DefaultTimeout bounds every API call (connect, headers and body together).
const DefaultTimeout = 30 * time.Second

// DefaultUploadTimeout bounds one file upload to VK's upload server: documents may be up to
// 200 MB, which needs more than an API call's 30 seconds on an ordinary uplink.
const DefaultUploadTimeout = 5 * time.Minute

// MaxUploadBytes is VK's document size limit (photos: 50 MB; bigger images go as documents).
const MaxUploadBytes = 200 << 20

// Setting names: part of the public contract (the admin API and stored channels use them).
const (
	SettingAppID      = "app_id"
	SettingAppSecret  = "app_secret"
	SettingGroupToken = "group_token"
	SettingGroupID    = "group_id"
	SettingAppToken   = "app_token"
	SettingAPIURL     = "api_url"
	// Filled by Check.
	SettingGroupName        = "group_name"
	SettingConfirmationCode = "confirmation_code"
	// Kept by the provider: the id of the callback server SetWebhook added.
	SettingCallbackServerID = "callback_server_id"
)

// Provider implements providers.Provider for VK. One value serves every VK channel
// concurrently: it holds only HTTP clients; everything per channel comes in providers.Channel.
type Provider struct {
	client       *http.Client // API calls
	uploadClient *http.Client // file uploads to VK's upload servers
	guard        *netguard.Guard
}

var (
	_ providers.Provider       = (*Provider)(nil)
	_ providers.ButtonAnswerer = (*Provider)(nil)
	_ providers.Acknowledger   = (*Provider)(nil)
	_ providers.Actioner       = (*Provider)(nil)
)

// Option configures a Provider.
type Option func(*Provider)

// WithHTTPClient replaces the client of API calls (a proxy, a custom transport). A client
// without a Timeout gets DefaultTimeout: every call must be bounded.
func WithHTTPClient(c *http.Client) Option {
	return func(p *Provider) { p.client = withTimeout(c, DefaultTimeout) }
}

// WithTimeout sets the timeout of API calls.
func WithTimeout(d time.Duration) Option {
	return func(p *Provider) { p.client = &http.Client{Timeout: d} }
}

// WithUploadTimeout sets the timeout of one file upload.
func WithUploadTimeout(d time.Duration) Option {
	return func(p *Provider) { p.uploadClient = &http.Client{Timeout: d} }
}

// WithGuard sends every call through g, which refuses private, loopback and link-local
// addresses (the core passes the one guard built from its configuration). Without it the
// provider connects anywhere, as tests against local fakes need.
func WithGuard(g netguard.Guard) Option {
	return func(p *Provider) { p.guard = &g }
}

// New returns the provider. It makes no network call.
func New(opts ...Option) *Provider {
	p := &Provider{
		client:       &http.Client{Timeout: DefaultTimeout},
		uploadClient: &http.Client{Timeout: DefaultUploadTimeout},
	}
	for _, o := range opts {
		o(p)
	}
	if p.guard != nil {
		p.client = p.guard.Protect(p.client)
		p.uploadClient = p.guard.Protect(p.uploadClient)
	}
	return p
}

func withTimeout(c *http.Client, d time.Duration) *http.Client {
	if c == nil {
		return &http.Client{Timeout: d}
	}
	if c.Timeout > 0 {
		return c
	}
	cc := *c
	cc.Timeout = d
	return &cc
}

// Kind implements providers.Provider.
func (p *Provider) Kind() string { return Kind }

// config is a channel's settings decoded into typed fields.
type config struct {
	appID            string
	appSecret        string
	groupToken       string
	groupID          int64
	appToken         string
	methodURL        string // ends with "/method/"
	groupName        string
	confirmationCode string
	callbackServerID int64
}

// manageToken is the token for callback server management. The community token does it
// when created with the "manage" right; an admin's user token (app_token, from the seed's
// authorization step) works as well, so it is used when given.
func (c config) manageToken() string {
	if c.appToken != "" {
		return c.appToken
	}
	return c.groupToken
}

// decodeSettings validates and decodes settings. Errors name the setting, never its value.
func decodeSettings(s providers.Settings) (config, error) {
	c := config{
		appID:            strings.TrimSpace(s[SettingAppID]),
		appSecret:        strings.TrimSpace(s[SettingAppSecret]),
		groupToken:       strings.TrimSpace(s[SettingGroupToken]),
		appToken:         strings.TrimSpace(s[SettingAppToken]),
		groupName:        s[SettingGroupName],
		confirmationCode: strings.TrimSpace(s[SettingConfirmationCode]),
	}
	if c.groupToken == "" {
		return config{}, &providers.SettingsError{Fields: []string{SettingGroupToken}, Msg: "required"}
	}
	id, ok := parseGroupID(s[SettingGroupID])
	if !ok {
		return config{}, &providers.SettingsError{Fields: []string{SettingGroupID},
			Msg: "must be the community's numeric id (the number in vk.com/club<id>)"}
	}
	c.groupID = id
	if c.appID != "" {
		if _, err := strconv.ParseInt(c.appID, 10, 64); err != nil {
			return config{}, &providers.SettingsError{Fields: []string{SettingAppID}, Msg: "must be a number"}
		}
	}
	if v := strings.TrimSpace(s[SettingCallbackServerID]); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return config{}, &providers.SettingsError{Fields: []string{SettingCallbackServerID}, Msg: "must be a positive number"}
		}
		c.callbackServerID = n
	}
	base := strings.TrimSpace(s[SettingAPIURL])
	if base == "" {
		base = DefaultAPIURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return config{}, &providers.SettingsError{Fields: []string{SettingAPIURL}, Msg: "must be an http:// or https:// URL"}
	}
	// Accept both "https://api.vk.com" and "https://api.vk.com/method".
	base = strings.TrimSuffix(strings.TrimRight(base, "/"), "/method")
	c.methodURL = base + "/method/"
	return c, nil
}

// parseGroupID accepts what admins paste: "123", "-123", "club123", "public123".
func parseGroupID(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	for _, prefix := range []string{"club", "public", "event", "-"} {
		v = strings.TrimPrefix(v, prefix)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// channelConfig decodes a saved channel's settings for a send. Broken settings cannot be
// fixed by retrying, so the error is Permanent.
func channelConfig(ch providers.Channel) (config, error) {
	c, err := decodeSettings(ch.Settings)
	if err != nil {
		return config{}, providers.Permanent("the VK channel's settings are incomplete", err)
	}
	return c, nil
}
