// Package example is the provider for "Example Messenger", a made-up platform with a small,
// realistic API. It is the template to copy when adding a channel kind: every method of
// providers.Provider and every optional interface is implemented here and commented with the
// reason behind each choice. docs/providers.md walks through it step by step.
//
// The core's end-to-end tests and `omnichat loadtest` use this provider too, so its wire
// format is cheap to generate: see Sign, SignatureHeader and the New*Update builders.
//
// The platform, in short (all JSON over HTTP, token in "Authorization: Bearer <token>"):
//
//	GET    /me                   → {"id","name","username"}
//	POST   /webhook              {url, secret}      GET /webhook → status; DELETE /webhook
//	POST   /messages             {chat_id, text, buttons?, reply_to?} → {"id"}
//	POST   /files                multipart (chat_id, caption?, file) → {"id"}
//	DELETE /messages/{id}        (our own messages, younger than 24 hours)
//	GET    /users/{id}           → {"id","first_name","last_name","username","language","avatar_url"}
//	GET    /files/{file_id}      → {"url",…} (the URL needs the same bearer token)
//	POST   /buttons/{id}/answer  {text?} (stops the button's spinner in the visitor's app)
//
// Errors come as an HTTP status with {"error":{"code","message","retry_after"?}}: 401 bad
// token, 403 the visitor blocked the bot, 429 rate limited (retry_after seconds), 5xx
// transient. Webhooks are POSTed to our URL and signed with
// "X-Example-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>", where secret is the one
// we registered with POST /webhook (the channel's Secret).
package example

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/netguard"
)

// Kind is the channel kind stored with each channel of this provider. It never changes once
// channels exist: the database refers to it.
const Kind = "example"

// DefaultAPIURL is the platform's base URL when the api_url setting is empty. The ".invalid"
// top-level domain never resolves, so a misconfigured test can never reach a real server.
const DefaultAPIURL = "https://api.example-messenger.invalid"

// DefaultTimeout bounds every outbound call (connect, headers and body together).
const DefaultTimeout = 30 * time.Second

// MaxUploadBytes is the platform's file size limit. SettingsForm reports it so the core
// rejects bigger operator uploads before they reach a send job that can only fail.
const MaxUploadBytes = 20 << 20

// Setting names. They are part of the public contract (the admin API and stored channels
// use them), so they are constants and never renamed.
const (
	SettingToken   = "token"
	SettingAPIURL  = "api_url"
	SettingBotID   = "bot_id"
	SettingBotName = "bot_name"
)

// Provider implements providers.Provider for Example Messenger. One value serves every
// channel of this kind concurrently: it holds only the HTTP client, never per-channel state.
// Everything that differs per channel (token, base URL, secret) comes in providers.Channel.
type Provider struct {
	client *http.Client
	guard  *netguard.Guard
}

// The compiler checks that Provider really implements the contract and each optional
// interface it means to implement. Without these lines a typo in a method signature would
// silently turn an optional interface off (the core discovers them by type assertion).
var (
	_ providers.Provider       = (*Provider)(nil)
	_ providers.FileResolver   = (*Provider)(nil)
	_ providers.ButtonAnswerer = (*Provider)(nil)
	_ providers.Acknowledger   = (*Provider)(nil)
	_ providers.Actioner       = (*Provider)(nil)
)

// Option configures a Provider.
type Option func(*Provider)

// WithHTTPClient replaces the HTTP client (a proxy, a custom transport in tests). The client
// should have a Timeout: the provider relies on it as the upper bound of every call.
func WithHTTPClient(c *http.Client) Option {
	return func(p *Provider) { p.client = c }
}

// WithTimeout sets the timeout of the default HTTP client.
func WithTimeout(d time.Duration) Option {
	return func(p *Provider) { p.client = &http.Client{Timeout: d} }
}

// WithGuard sends every call through g, which refuses private, loopback and link-local
// addresses (the core passes the one guard built from its configuration). Without it the
// provider connects anywhere, as tests against local fakes need.
func WithGuard(g netguard.Guard) Option {
	return func(p *Provider) { p.guard = &g }
}

// New returns the provider. It makes no network call: providers are built at start-up, when
// the platform may be unreachable, and a constructor that dials would stop omnichat from
// starting (go-telegram/bot's New calls getMe; we do not copy that).
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

// Kind implements providers.Provider.
func (p *Provider) Kind() string { return Kind }

// SettingsForm implements providers.Provider. The form is data, not HTML: the settings UI
// renders it, the API validates against it, and the core knows from it which fields are
// secrets (write-only, encrypted at rest, never sent back to a browser).
func (p *Provider) SettingsForm() providers.Form {
	return providers.Form{
		Title: providers.Text{En: "Example Messenger", Ru: "Example Messenger"},
		Instructions: providers.Text{
			En: "1. In the Example Messenger app open Settings → Bots → Create bot and copy the bot token.\n" +
				"2. Paste the token below and press Check: omnichat fills in the bot id and name.\n" +
				"3. Press Save: omnichat registers its webhook with Example Messenger automatically.\n" +
				"Leave API URL empty unless you use a proxy or a test server.",
			Ru: "1. В приложении Example Messenger откройте Настройки → Боты → Создать бота и скопируйте токен бота.\n" +
				"2. Вставьте токен ниже и нажмите «Проверить»: omnichat заполнит ID и имя бота.\n" +
				"3. Нажмите «Сохранить»: omnichat сам зарегистрирует webhook в Example Messenger.\n" +
				"Поле API URL оставьте пустым, если не используете прокси или тестовый сервер.",
		},
		Fields: []providers.Field{
			{
				Name: SettingToken, Type: providers.FieldSecret, Required: true,
				Label: providers.Text{En: "Bot token", Ru: "Токен бота"},
				Help:  providers.Text{En: "Settings → Bots → your bot → Token.", Ru: "Настройки → Боты → ваш бот → Токен."},
			},
			{
				// Every provider has an optional api_url: proxies, self-hosted API servers, and the
				// fake platform in tests all work by pointing it elsewhere.
				Name: SettingAPIURL, Type: providers.FieldURL, Default: DefaultAPIURL,
				Label: providers.Text{En: "API URL", Ru: "API URL"},
				Help: providers.Text{
					En: "Optional. Replaces " + DefaultAPIURL + " (a proxy or a test server).",
					Ru: "Необязательно. Заменяет " + DefaultAPIURL + " (прокси или тестовый сервер).",
				},
			},
			{
				// Filled fields are read-only in the UI; Check sets them from the platform.
				Name: SettingBotID, Type: providers.FieldText, Filled: true,
				Label: providers.Text{En: "Bot ID", Ru: "ID бота"},
			},
			{
				Name: SettingBotName, Type: providers.FieldText, Filled: true,
				Label: providers.Text{En: "Bot name", Ru: "Имя бота"},
			},
		},
		MaxUploadBytes: MaxUploadBytes,
	}
}

// config is a channel's settings decoded into the provider's own struct: the rest of the
// package works with typed fields instead of map lookups with string keys.
type config struct {
	token   string
	baseURL string // without a trailing slash
	botID   string
	botName string
}

// decodeSettings validates and decodes settings. Its errors name the setting, never its
// value: the value may be the token.
func decodeSettings(s providers.Settings) (config, error) {
	c := config{
		token:   strings.TrimSpace(s[SettingToken]),
		baseURL: strings.TrimSpace(s[SettingAPIURL]),
		botID:   s[SettingBotID],
		botName: s[SettingBotName],
	}
	if c.token == "" {
		return config{}, &providers.SettingsError{Fields: []string{SettingToken}, Msg: "required"}
	}
	if c.baseURL == "" {
		c.baseURL = DefaultAPIURL
	}
	u, err := url.Parse(c.baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return config{}, &providers.SettingsError{Fields: []string{SettingAPIURL}, Msg: "must be an http:// or https:// URL"}
	}
	c.baseURL = strings.TrimRight(c.baseURL, "/")
	return c, nil
}

// channelConfig decodes a saved channel's settings for an API call. Broken settings cannot
// be fixed by retrying, so the error is Permanent: the message is marked failed at once and
// the operator sees why.
func channelConfig(ch providers.Channel) (config, error) {
	c, err := decodeSettings(ch.Settings)
	if err != nil {
		return config{}, providers.Permanent("the channel's settings are incomplete", err)
	}
	return c, nil
}

// errorf is fmt.Errorf with the package's prefix, so a wrapped error says which platform
// failed when it reaches a log line or an operator's screen.
func errorf(format string, args ...any) error {
	return fmt.Errorf("example messenger: "+format, args...)
}
