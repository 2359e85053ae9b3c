// Package viber is the provider for Viber bots (the Viber REST Bot API).
//
// The platform, in short (docs: developers.viber.com/docs/api/rest-bot-api):
//
//	POST {api}/get_account_info   {}                              → {status, id, name, uri, …}
//	POST {api}/set_webhook        {url, event_types, send_name, send_photo} (url "" removes it)
//	POST {api}/send_message       {receiver, sender{name}, type, text|media…, keyboard?, tracking_data?}
//	                                                              → {status, message_token}
//	POST {api}/get_user_details   {id}                            → {status, user{id, name, avatar, language, …}}
//
// Every call carries the bot's auth token in the X-Viber-Auth-Token header and is answered
// with HTTP 200 even on errors: the JSON field "status" (0 = ok) says what happened.
// Callbacks are POSTed to our webhook and signed with
// "X-Viber-Content-Signature: <hex HMAC-SHA256(auth token, raw body)>".
//
// github.com/mileusna/viber is used for its message, keyboard and user types only: its
// client has no context, a hard-coded URL, ignores HTTP statuses and panics on a malformed
// URL, and its webhook handler answers 200 to forged requests. The transport (client.go)
// and the webhook parsing (events.go) are ours.
package viber

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/netguard"
)

// Kind is the channel kind stored with each Viber channel.
const Kind = "viber"

// DefaultAPIURL is Viber's REST Bot API base URL; the api_url setting replaces it.
const DefaultAPIURL = "https://chatapi.viber.com/pa"

// DefaultTimeout bounds every outbound call.
const DefaultTimeout = 30 * time.Second

// MaxUploadBytes is Viber's limit for file messages (pictures: 1 MB, videos: 26 MB; bigger
// images and videos are sent as files).
const MaxUploadBytes = 50 << 20

// Setting names: the public contract of this channel kind.
const (
	SettingToken       = "token"
	SettingAPIURL      = "api_url"
	SettingBotID       = "bot_id"
	SettingBotName     = "bot_name"
	SettingSenderName  = "sender_name"
	SettingWelcomeText = "welcome_text"
)

// Provider implements providers.Provider for Viber. One value serves every Viber channel;
// the only state it keeps is a cache of get_user_details answers, because Viber allows that
// call only twice per user in 12 hours.
type Provider struct {
	client *http.Client
	guard  *netguard.Guard
	now    func() time.Time

	mu    sync.Mutex
	users map[userKey]cachedUser
}

var (
	_ providers.Provider     = (*Provider)(nil)
	_ providers.Acknowledger = (*Provider)(nil)
)

// Option configures a Provider.
type Option func(*Provider)

// WithHTTPClient replaces the HTTP client. It should have a Timeout: the provider relies on
// it as the upper bound of every call.
func WithHTTPClient(c *http.Client) Option {
	return func(p *Provider) { p.client = c }
}

// WithTimeout sets the timeout of the default HTTP client.
func WithTimeout(d time.Duration) Option {
	return func(p *Provider) { p.client = &http.Client{Timeout: d} }
}

// WithClock replaces time.Now (the user-details cache uses it); for tests.
func WithClock(now func() time.Time) Option {
	return func(p *Provider) { p.now = now }
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
		client: &http.Client{Timeout: DefaultTimeout},
		now:    time.Now,
		users:  make(map[userKey]cachedUser),
	}
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

// SettingsForm implements providers.Provider.
func (p *Provider) SettingsForm() providers.Form {
	return providers.Form{
		Title: providers.Text{En: "Viber", Ru: "Viber"},
		Instructions: providers.Text{
			En: "1. Get a Viber bot. Since February 2024 new bots are created on commercial terms: apply at " +
				"partners.viber.com or through an official Viber partner. Bots created earlier keep working.\n" +
				"2. Copy the bot's auth token (app key), which looks like 4875a8xxxx-d949xxxxx-463xxx. Bot admins " +
				"find it in the Viber app under More → Settings → Bots → Edit info → Your app key, or in the Viber " +
				"admin panel.\n" +
				"3. In omnichat press Add channel, choose Viber and paste the token.\n" +
				"4. Press Check: omnichat asks Viber for the bot and fills in Bot ID and Bot name.\n" +
				"5. Press Save: omnichat registers its webhook with Viber automatically. Viber only accepts a public " +
				"HTTPS address with a certificate from a trusted authority (Let's Encrypt works; self-signed does " +
				"not). A bot has one webhook: connecting the same bot elsewhere disconnects it here.\n" +
				"Removing the channel removes the webhook. Visitors must write to the bot first: Viber does not " +
				"allow bots to start conversations.",
			Ru: "1. Получите бота Viber. С февраля 2024 года новые боты создаются на коммерческих условиях: заявка " +
				"подаётся на partners.viber.com или через официального партнёра Viber. Боты, созданные раньше, " +
				"продолжают работать.\n" +
				"2. Скопируйте токен бота (app key) вида 4875a8xxxx-d949xxxxx-463xxx. Администратор бота найдёт его " +
				"в приложении Viber: Ещё → Настройки → Боты → Редактировать → Ваш ключ приложения, или в " +
				"админ-панели Viber.\n" +
				"3. В omnichat нажмите «Добавить канал», выберите Viber и вставьте токен.\n" +
				"4. Нажмите «Проверить»: omnichat запросит данные бота у Viber и заполнит поля «ID бота» и «Имя бота».\n" +
				"5. Нажмите «Сохранить»: omnichat сам зарегистрирует webhook в Viber. Viber принимает только " +
				"публичный HTTPS-адрес с сертификатом доверенного центра (подойдёт Let's Encrypt, самоподписанный — " +
				"нет). У бота один webhook: если подключить того же бота в другой системе, здесь он отключится.\n" +
				"При удалении канала webhook снимается. Посетитель должен написать первым: Viber не разрешает " +
				"ботам начинать диалог.",
		},
		Fields: []providers.Field{
			{
				Name: SettingToken, Type: providers.FieldSecret, Required: true,
				Label: providers.Text{En: "Auth token", Ru: "Токен (ключ приложения)"},
				Help: providers.Text{
					En: "The bot's app key: Viber → More → Settings → Bots → Edit info → Your app key.",
					Ru: "Ключ приложения бота: Viber → Ещё → Настройки → Боты → Редактировать → Ваш ключ приложения.",
				},
			},
			{
				Name: SettingBotID, Type: providers.FieldText, Filled: true,
				Label: providers.Text{En: "Bot ID", Ru: "ID бота"},
				Help:  providers.Text{En: "Filled by Check (pa:…).", Ru: "Заполняется проверкой (pa:…)."},
			},
			{
				Name: SettingBotName, Type: providers.FieldText, Filled: true,
				Label: providers.Text{En: "Bot name", Ru: "Имя бота"},
				Help:  providers.Text{En: "Filled by Check.", Ru: "Заполняется проверкой."},
			},
			{
				Name: SettingSenderName, Type: providers.FieldText,
				Label: providers.Text{En: "Sender name", Ru: "Имя отправителя"},
				Help: providers.Text{
					En: "Optional. The name visitors see above our messages (up to 28 characters). Empty: the bot name.",
					Ru: "Необязательно. Имя, которое посетитель видит над нашими сообщениями (до 28 символов). " +
						"Пусто — имя бота.",
				},
			},
			{
				Name: SettingWelcomeText, Type: providers.FieldTextarea,
				Label: providers.Text{En: "Welcome message", Ru: "Приветственное сообщение"},
				Help: providers.Text{
					En: "Optional. Shown to a visitor who opens the chat with the bot, before they write anything " +
						"(Viber's conversation_started). Empty: no welcome message.",
					Ru: "Необязательно. Показывается посетителю, открывшему чат с ботом, ещё до его первого сообщения " +
						"(событие Viber conversation_started). Пусто — без приветствия.",
				},
			},
			{
				Name: SettingAPIURL, Type: providers.FieldURL, Default: DefaultAPIURL,
				Label: providers.Text{En: "API URL", Ru: "API URL"},
				Help: providers.Text{
					En: "Optional. Replaces " + DefaultAPIURL + " (a proxy or a test server).",
					Ru: "Необязательно. Заменяет " + DefaultAPIURL + " (прокси или тестовый сервер).",
				},
			},
		},
		MaxUploadBytes: MaxUploadBytes,
	}
}

// maxSenderName is Viber's limit for sender.name.
const maxSenderName = 28

// config is a channel's settings decoded.
type config struct {
	token       string
	baseURL     string // without a trailing slash
	botID       string
	botName     string
	senderName  string // never empty: Viber requires sender.name on every message
	welcomeText string
}

// decodeSettings validates and decodes settings. Errors name the setting, never its value.
func decodeSettings(s providers.Settings) (config, error) {
	c := config{
		token:       strings.TrimSpace(s[SettingToken]),
		baseURL:     strings.TrimSpace(s[SettingAPIURL]),
		botID:       s[SettingBotID],
		botName:     s[SettingBotName],
		welcomeText: strings.TrimSpace(s[SettingWelcomeText]),
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
	c.senderName = senderName(s[SettingSenderName], c.botName)
	return c, nil
}

// senderName picks the name shown above our messages: the setting, else the bot's name,
// else a neutral word, cut to Viber's 28 characters.
func senderName(setting, botName string) string {
	name := strings.TrimSpace(setting)
	if name == "" {
		name = strings.TrimSpace(botName)
	}
	if name == "" {
		name = "Support"
	}
	if utf8.RuneCountInString(name) > maxSenderName {
		name = string([]rune(name)[:maxSenderName])
	}
	return name
}

// channelConfig decodes a saved channel's settings for an API call. Broken settings cannot
// be fixed by retrying, so the error is Permanent.
func channelConfig(ch providers.Channel) (config, error) {
	c, err := decodeSettings(ch.Settings)
	if err != nil {
		return config{}, providers.Permanent("the channel's Viber settings are incomplete", err)
	}
	return c, nil
}

// errorf is fmt.Errorf with the package's prefix.
func errorf(format string, args ...any) error {
	return fmt.Errorf("viber: "+format, args...)
}
