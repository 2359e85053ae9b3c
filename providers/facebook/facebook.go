// Package facebook is the Facebook Messenger provider: a Facebook Page answers visitors
// through a Meta app, over the Graph API (github.com/huandu/facebook/v2) and the Messenger
// webhook, whose verify handshake and X-Hub-Signature-256 check are implemented here because
// the library has neither.
//
// Settings (the public contract): page_id, app_id, app_secret (secret), page_token (secret),
// api_url; page_name is filled by Check; verify_token is generated (it is the channel's
// Secret) and shown to the admin by the "webhook" action together with the callback URL.
package facebook

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/netguard"
)

// Kind is the channel kind this provider serves.
const Kind = "facebook"

// Setting names. They are the public contract of the channel kind: the core, the admin UI
// and stored channels use them.
const (
	SettingPageID       = "page_id"
	SettingAppID        = "app_id"
	SettingAppSecret    = "app_secret"
	SettingPageToken    = "page_token"
	SettingAPIURL       = "api_url"
	SettingPageName     = "page_name"
	SettingVerifyToken  = "verify_token"
	SettingGraphVersion = "graph_version"
	SettingHumanAgent   = "human_agent"
)

// DefaultAPIURL is the Graph API base URL used when api_url is empty.
const DefaultAPIURL = "https://graph.facebook.com"

// DefaultGraphVersion is the Graph API version pinned when graph_version is empty. Unversioned
// calls get the app's oldest available version, which changes under our feet.
const DefaultGraphVersion = "v23.0"

// DefaultTimeout bounds every Graph API call when no client is given.
const DefaultTimeout = 30 * time.Second

// Provider is the Facebook Messenger provider. One value serves every facebook channel; it
// keeps no per-channel state.
type Provider struct {
	client *http.Client
	guard  *netguard.Guard
}

var (
	_ providers.Provider = (*Provider)(nil)
	_ providers.Actioner = (*Provider)(nil)
)

// Option configures a Provider.
type Option func(*Provider)

// WithHTTPClient makes the provider use c for every Graph API call. c should have a Timeout;
// every call also carries the caller's context.
func WithHTTPClient(c *http.Client) Option {
	return func(p *Provider) { p.client = c }
}

// WithTimeout sets the timeout of the provider's default HTTP client.
func WithTimeout(d time.Duration) Option {
	return func(p *Provider) { p.client = &http.Client{Timeout: d} }
}

// WithGuard sends every call through g, which refuses private, loopback and link-local
// addresses (the core passes the one guard built from its configuration). Without it the
// provider connects anywhere, as tests against local fakes need.
func WithGuard(g netguard.Guard) Option {
	return func(p *Provider) { p.guard = &g }
}

// New returns the provider. It makes no network call.
func New(opts ...Option) *Provider {
	p := &Provider{client: &http.Client{Timeout: DefaultTimeout}}
	for _, o := range opts {
		o(p)
	}
	if p.guard != nil {
		p.client = p.guard.Protect(p.client)
	}
	return p
}

// Kind returns "facebook".
func (p *Provider) Kind() string { return Kind }

// config is a channel's settings, decoded and checked.
type config struct {
	PageID       string
	AppID        string
	AppSecret    string
	PageToken    string
	APIURL       string // without a trailing slash
	GraphVersion string
	PageName     string
	VerifyToken  string
	HumanAgent   bool
}

var (
	// Graph object ids (pages, apps, page-scoped user ids) are decimal numbers. Checking
	// that keeps settings and visitor ids from steering a request to another Graph path.
	reGraphID      = regexp.MustCompile(`^[0-9]{1,32}$`)
	reGraphVersion = regexp.MustCompile(`^v[0-9]{1,2}\.[0-9]{1,2}$`)
)

// decodeConfig turns settings into a config and checks them.
func decodeConfig(s providers.Settings) (config, error) {
	c := config{
		PageID:       strings.TrimSpace(s[SettingPageID]),
		AppID:        strings.TrimSpace(s[SettingAppID]),
		AppSecret:    strings.TrimSpace(s[SettingAppSecret]),
		PageToken:    strings.TrimSpace(s[SettingPageToken]),
		APIURL:       strings.TrimRight(strings.TrimSpace(s[SettingAPIURL]), "/"),
		GraphVersion: strings.TrimSpace(s[SettingGraphVersion]),
		PageName:     s[SettingPageName],
		VerifyToken:  s[SettingVerifyToken],
	}
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	if c.GraphVersion == "" {
		c.GraphVersion = DefaultGraphVersion
	}
	if v := strings.TrimSpace(s[SettingHumanAgent]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, &providers.SettingsError{Fields: []string{SettingHumanAgent}, Msg: "must be true or false"}
		}
		c.HumanAgent = b
	}

	var missing []string
	for _, f := range []struct{ name, value string }{
		{SettingPageID, c.PageID}, {SettingAppID, c.AppID},
		{SettingAppSecret, c.AppSecret}, {SettingPageToken, c.PageToken},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return c, &providers.SettingsError{Fields: missing, Msg: "required"}
	}
	if !reGraphID.MatchString(c.PageID) {
		return c, &providers.SettingsError{Fields: []string{SettingPageID}, Msg: "a page id is a number, e.g. 104620298745123"}
	}
	if !reGraphID.MatchString(c.AppID) {
		return c, &providers.SettingsError{Fields: []string{SettingAppID}, Msg: "an app id is a number, e.g. 1517776481860111"}
	}
	if !reGraphVersion.MatchString(c.GraphVersion) {
		return c, &providers.SettingsError{Fields: []string{SettingGraphVersion}, Msg: "a Graph API version looks like v23.0"}
	}
	u, err := url.Parse(c.APIURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return c, &providers.SettingsError{Fields: []string{SettingAPIURL}, Msg: "must be an http(s) URL such as https://graph.facebook.com"}
	}
	return c, nil
}

// verifyToken is the token Meta must present in the webhook handshake: the one stored by
// SetWebhook, or the channel's generated secret.
func verifyToken(ch providers.Channel) string {
	if t := ch.Settings[SettingVerifyToken]; t != "" {
		return t
	}
	return ch.Secret
}

// secrets lists the values no error text may carry.
func (c config) secrets() []string {
	return []string{c.AppID + "|" + c.AppSecret, c.PageToken, c.AppSecret}
}

func (c config) String() string {
	// A config never prints its credentials, whatever formats it.
	return fmt.Sprintf("facebook page %s app %s via %s", c.PageID, c.AppID, c.APIURL)
}
