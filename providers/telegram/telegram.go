// Package telegram is omnichat's Telegram Bot API provider.
//
// Outbound calls go through github.com/go-telegram/bot (the library named by the product)
// with our own HTTP client: every answer passes through one transport function (apiDoer)
// that turns Telegram's error answers into *APIError values and keeps the bot token out of
// error texts. Incoming webhooks are decoded into small local structs instead of the
// library's models.Update: those models fail the whole update on any value they do not
// know (a new chat member status, a new message origin type), and an update we cannot
// decode would be answered 400 and redelivered by Telegram forever. The library's webhook
// handler is not used: it answers 200 before anything is stored, even on a bad secret.
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-telegram/bot"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/netguard"
)

// Kind is the channel kind this provider serves.
const Kind = "telegram"

// DefaultAPIURL is the public Bot API server; the api_url setting replaces it.
const DefaultAPIURL = "https://api.telegram.org"

// DefaultTimeout bounds every Bot API call (connect, upload, answer).
const DefaultTimeout = 30 * time.Second

// Settings keys. They are part of omnichat's public contract (channels are created with
// them through the REST API), so they never change.
const (
	SettingToken       = "token"
	SettingProxyURL    = "proxy_url"
	SettingAPIURL      = "api_url"
	SettingAllowGroups = "allow_groups"
	SettingBotID       = "bot_id"
	SettingBotName     = "bot_name"
)

// allowedUpdates are the update types EventFilter handles; setWebhook subscribes to exactly
// these so Telegram does not deliver (and count failures for) anything else.
var allowedUpdates = []string{"message", "edited_message", "callback_query", "my_chat_member"}

// maxAnswerBytes caps how much of a Bot API answer is read; real answers are a few kB.
const maxAnswerBytes = 4 << 20

var _ providers.Provider = (*Provider)(nil)
var _ providers.FileResolver = (*Provider)(nil)
var _ providers.ButtonAnswerer = (*Provider)(nil)

// Provider is the Telegram provider. One value serves every Telegram channel; it is safe
// for concurrent use.
type Provider struct {
	timeout time.Duration

	mu sync.Mutex
	// transports holds one HTTP transport per proxy setting ("" = direct), so channels
	// keep their connection pools between calls.
	transports map[string]*http.Transport
	guard      *netguard.Guard
}

// Option configures a Provider.
type Option func(*Provider)

// WithTimeout sets the timeout of every Bot API call (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(p *Provider) {
		if d > 0 {
			p.timeout = d
		}
	}
}

// WithGuard sends every call, and the connection to the proxy_url proxy, through g, which
// refuses private, loopback and link-local addresses (the core passes the one guard built
// from its configuration). Without it the provider connects anywhere, as tests against
// local fakes need.
func WithGuard(g netguard.Guard) Option {
	return func(p *Provider) { p.guard = &g }
}

// New returns the provider. It makes no network calls.
func New(opts ...Option) *Provider {
	p := &Provider{timeout: DefaultTimeout, transports: map[string]*http.Transport{}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Kind implements providers.Provider.
func (p *Provider) Kind() string { return Kind }

// settings is a channel's settings, decoded and validated.
type settings struct {
	token       string
	apiURL      string // without a trailing slash
	proxy       *url.URL
	allowGroups bool
}

var (
	tokenRe  = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{1,200}$`)
	secretRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
)

// decodeSettings validates s. Errors name the field and never quote a secret value.
func decodeSettings(s providers.Settings) (settings, error) {
	var out settings
	out.token = strings.TrimSpace(s[SettingToken])
	switch {
	case out.token == "":
		return out, &providers.SettingsError{Fields: []string{SettingToken}, Msg: "required"}
	case !tokenRe.MatchString(out.token):
		return out, &providers.SettingsError{Fields: []string{SettingToken},
			Msg: `does not look like a bot token from @BotFather ("123456789:AA…")`}
	}

	out.apiURL = DefaultAPIURL
	if v := strings.TrimSpace(s[SettingAPIURL]); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return out, &providers.SettingsError{Fields: []string{SettingAPIURL},
				Msg: "must be an http(s) URL such as https://api.telegram.org"}
		}
		out.apiURL = strings.TrimRight(v, "/")
	}

	if v := strings.TrimSpace(s[SettingProxyURL]); v != "" {
		// The parse error would quote the URL, which may carry a proxy password: keep it out.
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return out, &providers.SettingsError{Fields: []string{SettingProxyURL},
				Msg: "must be a URL such as socks5://user:password@host:1080"}
		}
		switch u.Scheme {
		case "http", "https", "socks5", "socks5h":
		default:
			return out, &providers.SettingsError{Fields: []string{SettingProxyURL},
				Msg: "scheme must be http, https, socks5 or socks5h"}
		}
		out.proxy = u
	}

	if v := strings.TrimSpace(s[SettingAllowGroups]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return out, &providers.SettingsError{Fields: []string{SettingAllowGroups}, Msg: "must be true or false"}
		}
		out.allowGroups = b
	}
	return out, nil
}

// botIDFromToken returns the bot's user id, which is the token's part before the colon.
func botIDFromToken(token string) int64 {
	idPart, _, _ := strings.Cut(token, ":")
	id, _ := strconv.ParseInt(idPart, 10, 64)
	return id
}

// transport returns the shared transport for a proxy setting.
func (p *Provider) transport(proxy *url.URL) *http.Transport {
	key := ""
	if proxy != nil {
		key = proxy.String()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.transports[key]; ok {
		return t
	}
	if p.guard != nil {
		// The guard checks the proxy's address too: it is what the transport dials.
		t := p.guard.Transport(proxy)
		p.transports[key] = t
		return t
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	if proxy != nil {
		t.Proxy = http.ProxyURL(proxy)
	}
	p.transports[key] = t
	return t
}

// client is one channel's connection to the Bot API.
type client struct {
	bot   *bot.Bot
	base  string
	token string
}

// client builds a library client for the channel's settings. bot.New with WithSkipGetMe
// makes no network call.
func (p *Provider) client(s settings) (*client, error) {
	doer := &apiDoer{
		hc:    &http.Client{Timeout: p.timeout, Transport: p.transport(s.proxy)},
		token: s.token,
	}
	b, err := bot.New(s.token,
		bot.WithServerURL(s.apiURL),
		bot.WithHTTPClient(p.timeout, doer),
		bot.WithSkipGetMe(),
		// The library's default handlers log with log.Printf; providers do not log.
		bot.WithErrorsHandler(func(error) {}),
		bot.WithDebugHandler(func(string, ...any) {}),
	)
	if err != nil {
		return nil, fmt.Errorf("telegram client: %w", err)
	}
	return &client{bot: b, base: s.apiURL, token: s.token}, nil
}

// channelClient decodes the channel's settings and builds its client.
func (p *Provider) channelClient(ch providers.Channel) (*client, error) {
	s, err := decodeSettings(ch.Settings)
	if err != nil {
		return nil, providers.Permanent("the channel's Telegram settings are invalid", err)
	}
	return p.client(s)
}

// fileURL is the download URL of a file. It contains the bot token: only the core's
// downloader may see it, never a log, a database row or a browser.
func (c *client) fileURL(filePath string) string {
	return c.base + "/file/bot" + c.token + "/" + strings.TrimLeft(filePath, "/")
}

// APIError is an error answer of the Bot API ({"ok":false,"error_code":…}).
type APIError struct {
	Status      int    // HTTP status of the answer
	Code        int    // Telegram's error_code (equal to Status on the real API)
	Description string // Telegram's description, e.g. "Forbidden: bot was blocked by the user"
	RetryAfter  int    // parameters.retry_after, seconds (429)
	MigrateTo   int64  // parameters.migrate_to_chat_id (a group became a supergroup)
}

func (e *APIError) Error() string {
	return fmt.Sprintf("telegram: %d %s", e.Code, e.Description)
}

// apiDoer is the one transport function every Bot API call passes through. The library
// keeps only error_code and formats the rest into strings (dropping the HTTP status), so
// this reads the answer first: an error answer becomes an *APIError, a non-JSON answer (a
// proxy's 502 page) a plain error, and the library only ever sees successful answers. The
// library wraps errors from Do with %w, so errors.As finds the *APIError afterwards.
type apiDoer struct {
	hc    *http.Client
	token string
}

type apiEnvelope struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

func (d *apiDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, d.redact(err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read Bot API answer: %w", d.redact(err))
	}
	var env apiEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		// The body is not quoted: whatever answered is not Telegram and its words may be
		// anything (an internal service's page), so only the status reaches an admin.
		//lint:ignore ST1005 "Bot API" is a name
		return nil, fmt.Errorf("Bot API answered HTTP %d with a non-JSON body", resp.StatusCode)
	}
	if !env.OK {
		code := env.ErrorCode
		if code == 0 {
			code = resp.StatusCode
		}
		return nil, &APIError{Status: resp.StatusCode, Code: code, Description: env.Description,
			RetryAfter: env.Parameters.RetryAfter, MigrateTo: env.Parameters.MigrateToChatID}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// redact removes the token from a transport error: *url.Error quotes the request URL,
// which is {api}/bot<token>/<method>.
func (d *apiDoer) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = strings.ReplaceAll(ue.URL, d.token, "<token>")
	}
	if strings.Contains(err.Error(), d.token) {
		return errors.New(strings.ReplaceAll(err.Error(), d.token, "<token>"))
	}
	return err
}

// classify maps a failed Bot API call to omnichat's error classes: 429 → RetryAfter,
// 403 → Permanent (the visitor blocked the bot), 401 → Permanent (token revoked), other
// 4xx → Permanent with Telegram's description, 5xx, non-JSON answers and network errors →
// plain errors that the job retries.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	wrapped := fmt.Errorf("telegram %s: %w", op, err)
	var ae *APIError
	if !errors.As(err, &ae) {
		return wrapped
	}
	switch {
	case ae.Code == http.StatusTooManyRequests:
		d := time.Duration(ae.RetryAfter) * time.Second
		if d <= 0 {
			d = time.Second
		}
		return providers.RetryAfter(d, wrapped)
	case ae.Code >= 500:
		return wrapped
	case ae.Code == http.StatusForbidden:
		return providers.Permanent(forbiddenReason(ae.Description), wrapped)
	case ae.Code == http.StatusUnauthorized:
		return providers.Permanent("Telegram rejected the bot token: it was revoked or changed in @BotFather", wrapped)
	case ae.MigrateTo != 0:
		return providers.Permanent(fmt.Sprintf("the group became a supergroup with chat id %d", ae.MigrateTo), wrapped)
	case ae.Code >= 400:
		return providers.Permanent("Telegram refused the request: "+ae.Description, wrapped)
	default:
		return wrapped
	}
}

// forbiddenReason turns Telegram's 403 descriptions into a reason an operator reads.
func forbiddenReason(desc string) string {
	d := strings.ToLower(desc)
	switch {
	case strings.Contains(d, "blocked"):
		return "the visitor blocked the bot"
	case strings.Contains(d, "deactivated"):
		return "the visitor's Telegram account was deleted"
	case strings.Contains(d, "kicked"), strings.Contains(d, "not a member"):
		return "the bot is no longer a member of this chat"
	case strings.Contains(d, "can't initiate"), strings.Contains(d, "can't send messages to bots"):
		return "the bot cannot write to this chat first"
	default:
		return "Telegram forbids sending to this chat: " + desc
	}
}

// apiErrorHas reports whether err is a Bot API error answer whose description contains s.
func apiErrorHas(err error, code int, s string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code && strings.Contains(ae.Description, s)
}

// CallbackServerConfirmation implements providers.Provider: Telegram has no handshake.
func (p *Provider) CallbackServerConfirmation(context.Context, providers.Channel, *providers.Request) (*providers.Response, bool, error) {
	return nil, false, nil
}
