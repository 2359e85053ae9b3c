// Package chatapi is the WhatsApp channel through the ChatAPI gateway (chat-api.com): a
// WhatsApp account on a phone, linked to a ChatAPI "instance" by scanning a QR code, which
// ChatAPI drives for us over a small JSON HTTP API.
//
// The platform, in short (every call carries ?token=<token>, so every URL is a secret):
//
//	GET  {api}status              → {"accountStatus": "authenticated"|"got qr code"|"loading"|"init"|…, "qrCode"?, "statusData"?}
//	GET  {api}qr_code             → the QR code to scan, as a PNG image (valid for about a minute)
//	POST {api}webhook             {"webhookUrl"}                  → {"set": true, "webhookUrl"}
//	POST {api}settings            {"ackNotificationsOn", …}       → the settings with "update"
//	POST {api}sendMessage         {"chatId"|"phone", "body", "quotedMsgId"?}
//	POST {api}sendFile            {"chatId"|"phone", "body" (URL or data URI), "filename", "caption"?}
//	                              → {"sent", "message", "id", "queueNumber"}
//	GET  {api}dialog?chatId=…     → {"id", "name", "image", "metadata"}
//
// {api} is the instance URL, https://euNN.chat-api.com/instanceNNNNNN/ (or
// https://api.chat-api.com/instanceNNNNNN/). A bad token is HTTP 401 with
// {"error":"Wrong token. Please provide token as a GET parameter."}; a refused send is 200
// with {"sent": false, "message": "…"}.
//
// Webhooks are POSTed as {"messages":[…], "instanceId"} and {"ack":[…], "instanceId"}; they are
// not signed, so the URL we register carries the channel's Secret as its last path segment
// and EventFilter compares it in constant time. See WebhookURL and NewWebhookRequest.
//
// WhatsApp has no bot buttons: buttons are rendered as a numbered list under the text, and
// the visitor answers with an ordinary message. No avatars (ChatAPI's links expire and the
// product does not show them); the visitor's phone number comes from the chat id and links
// them to a client record.
package chatapi

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/netguard"
)

// Kind is the channel kind stored with each channel of this provider.
const Kind = "chatapi"

// DefaultAPIHost is where instances live when the api_url setting is empty: the instance URL
// is DefaultAPIHost + "/instance" + channel_id + "/".
const DefaultAPIHost = "https://api.chat-api.com"

// DefaultTimeout bounds every outbound call.
const DefaultTimeout = 30 * time.Second

// MaxUploadBytes caps operators' files. Files travel inside the JSON body as a data URI
// (base64, a third larger), and WhatsApp itself limits photos and videos to 16 MB.
const MaxUploadBytes = 16 << 20

// Setting names: part of the public contract (the issue names them).
const (
	SettingAPIURL        = "api_url"
	SettingToken         = "token"
	SettingChannelID     = "channel_id"
	SettingAccountStatus = "account_status"
)

// Account statuses GET status reports.
const (
	StatusAuthenticated = "authenticated"
	StatusGotQRCode     = "got qr code"
	StatusLoading       = "loading"
	StatusInit          = "init"
	StatusNotPaid       = "not_paid"
)

// Provider implements providers.Provider for WhatsApp through ChatAPI. One value serves
// every channel; it holds only the HTTP client.
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

// WithHTTPClient replaces the HTTP client. It should have a Timeout. Redirects are never
// followed whatever the client says: the token is in the query string and must not travel
// to a host the admin did not configure.
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

// Kind implements providers.Provider.
func (p *Provider) Kind() string { return Kind }

// SettingsForm implements providers.Provider.
func (p *Provider) SettingsForm() providers.Form {
	return providers.Form{
		Title:          providers.Text{En: "WhatsApp (ChatAPI)", Ru: "WhatsApp (ChatAPI)"},
		Instructions:   providers.Text{En: instructionsEn, Ru: instructionsRu},
		MaxUploadBytes: MaxUploadBytes,
		Fields: []providers.Field{
			{
				Name: SettingAPIURL, Type: providers.FieldURL,
				Label: providers.Text{En: "API URL", Ru: "API URL"},
				Help: providers.Text{
					En: "The instance URL from the ChatAPI dashboard, like https://eu86.chat-api.com/instance123456/. Leave empty for https://api.chat-api.com/instance<channel id>/. Do not paste the token into it.",
					Ru: "Адрес инстанса из личного кабинета ChatAPI, вида https://eu86.chat-api.com/instance123456/. Если оставить пустым — https://api.chat-api.com/instance<ID канала>/. Токен сюда не вставляйте.",
				},
			},
			{
				Name: SettingToken, Type: providers.FieldSecret, Required: true,
				Label: providers.Text{En: "Token", Ru: "Токен"},
				Help: providers.Text{
					En: "The instance's token from the ChatAPI dashboard. Stored encrypted and never shown again.",
					Ru: "Токен инстанса из личного кабинета ChatAPI. Хранится в зашифрованном виде и больше не показывается.",
				},
			},
			{
				Name: SettingChannelID, Type: providers.FieldText, Required: true,
				Label: providers.Text{En: "Channel ID (account number)", Ru: "ID канала (номер аккаунта)"},
				Help: providers.Text{
					En: "The instance number the dashboard shows as \"WhatsApp #123456\" (the digits after /instance in the API URL).",
					Ru: "Номер инстанса, который кабинет показывает как «WhatsApp #123456» (цифры после /instance в API URL).",
				},
			},
			{
				Name: SettingAccountStatus, Type: providers.FieldText, Filled: true,
				Label: providers.Text{En: "Account status", Ru: "Статус аккаунта"},
				Help: providers.Text{
					En: "Filled by Check: \"authenticated\" once the phone is linked; \"got qr code\" means the QR code still has to be scanned (QR authorization button).",
					Ru: "Заполняется кнопкой «Проверить»: «authenticated» — телефон привязан; «got qr code» — QR-код ещё нужно отсканировать (кнопка «QR-авторизация»).",
				},
			},
		},
	}
}

const instructionsEn = `ChatAPI connects a WhatsApp account on a phone to omnichat for a monthly fee. Every step is done by the owner of the WhatsApp number.
1. Register at https://app.chat-api.com/ and create an instance. The dashboard shows: the API URL (like https://eu86.chat-api.com/instance123456/), the token, and the account number "WhatsApp #123456".
2. In omnichat add a channel of kind WhatsApp (ChatAPI) and fill in: API URL, Token, and Channel ID = the account number (123456).
3. Press Check: omnichat asks ChatAPI for the account status and shows it.
4. Save the channel: omnichat registers its webhook with ChatAPI automatically (and turns on delivery receipts).
5. Press QR authorization and wait for the QR code. On the phone open WhatsApp → ⋮ (Settings) → Linked devices (WhatsApp Web) → Link a device, and scan the code. The code lives about a minute: press the button again for a fresh one. Account status shows "authenticated" when the phone is linked.
Good to know: the webhook is registered when the channel is saved; ChatAPI signs nothing, so the webhook address contains a secret — do not share it. Visitors' avatars are not loaded for this channel. A visitor's phone number comes with every message, and omnichat links the visitor to an existing client with that number. WhatsApp has no bot buttons: buttons are sent as a numbered list. Keep the phone online and WhatsApp installed on it: messages go out through the phone.`

const instructionsRu = `ChatAPI за умеренную плату подключает к omnichat аккаунт WhatsApp на телефоне. Все действия выполняет владелец номера WhatsApp.
1. Зарегистрируйтесь на https://app.chat-api.com/ и создайте инстанс. В личном кабинете будут: API URL (вида https://eu86.chat-api.com/instance123456/), токен и номер аккаунта «WhatsApp #123456».
2. В omnichat добавьте канал типа WhatsApp (ChatAPI) и заполните: API URL, Токен и ID канала = номер аккаунта (123456).
3. Нажмите «Проверить»: omnichat запросит у ChatAPI статус аккаунта и покажет его.
4. Сохраните канал: omnichat сам зарегистрирует webhook в ChatAPI (и включит уведомления о доставке).
5. Нажмите «QR-авторизация» и дождитесь QR-кода. На телефоне откройте WhatsApp → ⋮ (Настройки) → Связанные устройства (WhatsApp Web) → Привязка устройства и отсканируйте код. Код действует около минуты: для нового кода нажмите кнопку ещё раз. Когда телефон привязан, статус аккаунта — «authenticated».
Для сведения: webhook регистрируется при сохранении канала; ChatAPI ничего не подписывает, поэтому адрес webhook содержит секрет — не передавайте его посторонним. Аватары посетителей для этого канала не загружаются. Номер телефона посетителя приходит с каждым сообщением, и omnichat привязывает посетителя к клиенту с этим номером. В WhatsApp нет кнопок ботов: кнопки отправляются нумерованным списком. Телефон должен быть в сети и с установленным WhatsApp: сообщения уходят через него.`

// config is a channel's settings decoded.
type config struct {
	baseURL    string // the instance URL, always ending in "/"
	token      string
	instanceID string // digits only
}

// instanceInPath finds the instance number in an API URL's path.
var instanceInPath = regexp.MustCompile(`/instance(\d+)(?:/|$)`)

// decodeSettings validates and decodes settings. Errors name settings, never their values.
func decodeSettings(s providers.Settings) (config, error) {
	c := config{token: strings.TrimSpace(s[SettingToken])}
	if c.token == "" {
		return config{}, &providers.SettingsError{Fields: []string{SettingToken}, Msg: "required"}
	}
	id, ok := normalizeInstanceID(s[SettingChannelID])
	if !ok {
		return config{}, &providers.SettingsError{Fields: []string{SettingChannelID}, Msg: "must be the instance number, like 123456"}
	}
	c.instanceID = id

	raw := strings.TrimSpace(s[SettingAPIURL])
	if raw == "" {
		c.baseURL = DefaultAPIHost + "/instance" + id + "/"
		return c, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return config{}, &providers.SettingsError{Fields: []string{SettingAPIURL}, Msg: "must be an http:// or https:// URL"}
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		// An admin who pastes ".../instance123/?token=…" would put the secret into a field
		// that is shown to every admin and stored in the clear.
		return config{}, &providers.SettingsError{Fields: []string{SettingAPIURL}, Msg: "must not contain a query string or credentials: put the token into the Token field"}
	}
	if m := instanceInPath.FindStringSubmatch(u.Path); m != nil && m[1] != id {
		return config{}, &providers.SettingsError{
			Fields: []string{SettingAPIURL, SettingChannelID},
			Msg:    fmt.Sprintf("the API URL is for instance %s but the channel id is %s", m[1], id),
		}
	}
	c.baseURL = strings.TrimRight(u.String(), "/") + "/"
	return c, nil
}

// normalizeInstanceID accepts what admins paste: "123456", "#123456", "WhatsApp #123456",
// "instance123456". It returns the digits.
func normalizeInstanceID(v string) (string, bool) {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "WhatsApp")
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "#")
	v = strings.TrimPrefix(v, "instance")
	if v == "" || len(v) > 20 {
		return "", false
	}
	for _, r := range v {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return v, true
}

// channelConfig decodes a saved channel's settings; broken settings are Permanent.
func channelConfig(ch providers.Channel) (config, error) {
	c, err := decodeSettings(ch.Settings)
	if err != nil {
		return config{}, providers.Permanent("the channel's settings are incomplete", err)
	}
	return c, nil
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("chatapi: "+format, args...)
}
