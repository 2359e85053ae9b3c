// Package widget is omnichat's own channel: a chat on a company's web site. A site embeds
// /widget.js with one <script> tag; the script opens a chat page (served by omnichat) in
// an iframe. The visitor talks to omnichat's visitor API, which hands the visitor's posts
// to this provider's EventFilter like any platform's webhook, and SendMessage publishes
// operators' replies to the visitor's live stream.
//
// A visitor is identified by a random id and an HMAC of it under the channel's secret
// (the visitor token, kept in the browser's localStorage): nothing to guess, nothing to
// store on the server before the first message.
package widget

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/omnichat/omnichat/providers"
)

// Kind is the channel kind.
const Kind = "widget"

// Setting names (part of the public contract).
const (
	SettingTitle          = "title"
	SettingGreeting       = "greeting"
	SettingColor          = "color"
	SettingPosition       = "position"
	SettingAllowedOrigins = "allowed_origins"
	SettingPrechatName    = "prechat_name"
	SettingPrechatPhone   = "prechat_phone"
	SettingPrechatEmail   = "prechat_email"
	SettingAPIURL         = "api_url"
	SettingLanguage       = "language"
)

// DefaultTitle is the chat's title when none is set; the chat page shows it in the
// visitor's language.
const DefaultTitle = "Chat with us"

// TokenHeader carries the visitor token on the visitor's posts.
const TokenHeader = "X-Widget-Token"

// Limits on what a visitor may post.
const (
	MaxText        = 4000 // characters
	MaxFiles       = 5
	MaxUploadBytes = 10 << 20
)

// Notice tells a visitor's stream that something changed; the widget refetches.
type Notice struct {
	Kind      string // "message" or "deleted"
	MessageID int64  // our message id
}

// Publisher delivers notices to a visitor's live stream (omnichat's push hub).
type Publisher interface {
	Publish(ctx context.Context, ch providers.Channel, visitor string, n Notice) error
}

// Provider is the widget channel kind.
type Provider struct {
	mu  sync.RWMutex
	pub Publisher
}

// New returns the provider. SetPublisher connects it to the visitor streams.
func New() *Provider { return &Provider{} }

// SetPublisher connects the visitor streams (done when the HTTP routes are built).
func (p *Provider) SetPublisher(pub Publisher) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pub = pub
}

func (p *Provider) publisher() Publisher {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.pub
}

// Kind implements providers.Provider.
func (p *Provider) Kind() string { return Kind }

// SettingsForm implements providers.Provider.
func (p *Provider) SettingsForm() providers.Form {
	return providers.Form{
		Title: providers.Text{En: "Web-site widget", Ru: "Виджет для сайта"},
		Instructions: providers.Text{
			En: "List the sites that may show the chat (one origin a line, e.g. https://shop.example), save, then copy the embed code (the \"Embed code\" action) into every page of the site, just before </body>.",
			Ru: "Перечислите сайты, на которых можно показывать чат (по одному адресу в строке, например https://shop.example), сохраните и вставьте код виджета (действие «Код для сайта») на каждую страницу сайта перед </body>.",
		},
		MaxUploadBytes: MaxUploadBytes,
		Fields: []providers.Field{
			{Name: SettingAllowedOrigins, Type: providers.FieldTextarea, Required: true,
				Label: providers.Text{En: "Allowed sites", Ru: "Разрешённые сайты"},
				Help:  providers.Text{En: "Origins (scheme://host[:port]) that may embed the widget, one a line.", Ru: "Адреса (схема://хост[:порт]), которым можно встраивать виджет, по одному в строке."}},
			{Name: SettingTitle, Type: providers.FieldText, Default: DefaultTitle,
				Label: providers.Text{En: "Title", Ru: "Заголовок"},
				Help:  providers.Text{En: "Shown at the top of the chat.", Ru: "Показывается вверху окна чата."}},
			{Name: SettingGreeting, Type: providers.FieldTextarea,
				Label: providers.Text{En: "Greeting", Ru: "Приветствие"},
				Help:  providers.Text{En: "The first line a visitor sees, before anyone writes.", Ru: "Первая строка, которую видит посетитель, пока никто не написал."}},
			{Name: SettingColor, Type: providers.FieldText, Default: "#1f6feb",
				Label: providers.Text{En: "Colour", Ru: "Цвет"},
				Help:  providers.Text{En: "The button and header colour, as #rrggbb.", Ru: "Цвет кнопки и заголовка, в виде #rrggbb."}},
			{Name: SettingPosition, Type: providers.FieldSelect, Default: "right",
				Label:   providers.Text{En: "Position", Ru: "Расположение"},
				Help:    providers.Text{En: "The corner of the page with the chat button.", Ru: "Угол страницы с кнопкой чата."},
				Options: []providers.Option{{Value: "right", Label: providers.Text{En: "Bottom right", Ru: "Справа внизу"}}, {Value: "left", Label: providers.Text{En: "Bottom left", Ru: "Слева внизу"}}}},
			{Name: SettingLanguage, Type: providers.FieldSelect, Default: "auto",
				Label: providers.Text{En: "Chat language", Ru: "Язык чата"},
				Help:  providers.Text{En: "The language of the chat's buttons and hints. Automatic follows the visitor's browser (Russian or English).", Ru: "Язык кнопок и подсказок чата. «Автоматически» — по языку браузера посетителя (русский или английский)."},
				Options: []providers.Option{
					{Value: "auto", Label: providers.Text{En: "Automatic", Ru: "Автоматически"}},
					{Value: "ru", Label: providers.Text{En: "Russian", Ru: "Русский"}},
					{Value: "en", Label: providers.Text{En: "English", Ru: "Английский"}},
				}},
			{Name: SettingPrechatName, Type: providers.FieldBool, Default: "false",
				Label: providers.Text{En: "Ask for a name before the chat", Ru: "Спрашивать имя перед чатом"},
				Help:  providers.Text{En: "A short form before the first message.", Ru: "Короткая форма перед первым сообщением."}},
			{Name: SettingPrechatPhone, Type: providers.FieldBool, Default: "false",
				Label: providers.Text{En: "Ask for a phone number", Ru: "Спрашивать телефон"},
				Help:  providers.Text{En: "The phone links the visitor to the client base.", Ru: "По телефону посетитель связывается с базой клиентов."}},
			{Name: SettingPrechatEmail, Type: providers.FieldBool, Default: "false",
				Label: providers.Text{En: "Ask for an e-mail", Ru: "Спрашивать e-mail"},
				Help:  providers.Text{En: "Optional contact for replies.", Ru: "Необязательный адрес для ответов."}},
			{Name: SettingAPIURL, Type: providers.FieldURL,
				Label: providers.Text{En: "Widget address", Ru: "Адрес виджета"},
				Help:  providers.Text{En: "Where sites load the widget from; filled with omnichat's public URL when saved. Change it only behind a separate domain or proxy.", Ru: "Откуда сайты загружают виджет; при сохранении заполняется публичным адресом omnichat. Меняйте только при отдельном домене или прокси."}},
		},
	}
}

var colorRe = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Origins parses the allowed_origins setting: one origin a line (commas and spaces too).
func Origins(s providers.Settings) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(s[SettingAllowedOrigins], func(r rune) bool { return r == '\n' || r == ',' || r == ' ' || r == '\r' || r == '\t' }) {
		o, err := normalizeOrigin(f)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func normalizeOrigin(raw string) (string, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("%q is not a site origin like https://shop.example", raw)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// OriginAllowed reports whether origin may embed or call the widget of a channel.
func OriginAllowed(s providers.Settings, origin string) bool {
	o, err := normalizeOrigin(origin)
	if err != nil {
		return false
	}
	list, _ := Origins(s)
	for _, a := range list {
		if a == o {
			return true
		}
	}
	return false
}

// Check validates the settings; the widget has no platform to ask.
func (p *Provider) Check(_ context.Context, s providers.Settings) (providers.Settings, error) {
	out := s.Clone()
	list, err := Origins(s)
	if err != nil {
		return nil, &providers.SettingsError{Fields: []string{SettingAllowedOrigins}, Msg: err.Error()}
	}
	if len(list) == 0 {
		return nil, &providers.SettingsError{Fields: []string{SettingAllowedOrigins}, Msg: "name at least one site that may show the widget"}
	}
	out[SettingAllowedOrigins] = strings.Join(list, "\n")
	if c := s[SettingColor]; c != "" && !colorRe.MatchString(c) {
		return nil, &providers.SettingsError{Fields: []string{SettingColor}, Msg: "the colour must look like #1f6feb"}
	}
	if pos := s[SettingPosition]; pos != "" && pos != "left" && pos != "right" {
		return nil, &providers.SettingsError{Fields: []string{SettingPosition}, Msg: "position is left or right"}
	}
	if l := s[SettingLanguage]; l != "" && l != "auto" && l != "ru" && l != "en" {
		return nil, &providers.SettingsError{Fields: []string{SettingLanguage}, Msg: "language is auto, ru or en"}
	}
	if a := s[SettingAPIURL]; a != "" {
		if _, err := normalizeOrigin(a); err != nil {
			return nil, &providers.SettingsError{Fields: []string{SettingAPIURL}, Msg: "the widget address must be a base URL like https://chat.example"}
		}
	}
	if utf8.RuneCountInString(s[SettingTitle]) > 100 || utf8.RuneCountInString(s[SettingGreeting]) > 1000 {
		return nil, &providers.SettingsError{Fields: []string{SettingTitle, SettingGreeting}, Msg: "the title or greeting is too long"}
	}
	return out, nil
}

// CallbackServerConfirmation implements providers.Provider: the widget has no handshake.
func (p *Provider) CallbackServerConfirmation(context.Context, providers.Channel, *providers.Request) (*providers.Response, bool, error) {
	return nil, false, nil
}

// SetWebhook stores omnichat's public URL as the widget's address when none is set: the
// embed code and visitors' file uploads use it.
func (p *Provider) SetWebhook(_ context.Context, ch providers.Channel, _ string) (providers.Settings, error) {
	if ch.Settings[SettingAPIURL] != "" || ch.PublicURL == "" {
		return nil, nil
	}
	return providers.Settings{SettingAPIURL: strings.TrimRight(ch.PublicURL, "/")}, nil
}

// DeleteWebhook implements providers.Provider: nothing is registered anywhere.
func (p *Provider) DeleteWebhook(context.Context, providers.Channel) error { return nil }

// Base is the URL the widget is served from.
func Base(ch providers.Channel) string {
	if b := ch.Settings[SettingAPIURL]; b != "" {
		return strings.TrimRight(b, "/")
	}
	return strings.TrimRight(ch.PublicURL, "/")
}

// ---- Visitor tokens ----

// NewVisitor returns a fresh visitor id and its token.
func NewVisitor(ch providers.Channel) (id, token string) {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand does not fail on supported platforms
	id = base64.RawURLEncoding.EncodeToString(b)
	return id, Token(ch, id)
}

// Token is the visitor token for id: the id and its HMAC under the channel's secret.
func Token(ch providers.Channel, id string) string {
	return id + "." + mac(ch.Secret, "visitor", id)
}

// VisitorOf verifies a token and returns the visitor id, in constant time.
func VisitorOf(ch providers.Channel, token string) (string, bool) {
	id, sig, ok := strings.Cut(token, ".")
	if !ok || len(id) != 22 || ch.Secret == "" {
		return "", false
	}
	want := mac(ch.Secret, "visitor", id)
	return id, subtle.ConstantTimeCompare([]byte(sig), []byte(want)) == 1
}

// UploadSig signs an uploaded file's reference, so only omnichat's own download job can
// read it back.
func UploadSig(ch providers.Channel, ref string) string { return mac(ch.Secret, "upload", ref) }

func mac(secret, purpose, v string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(purpose + ":" + v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ---- Visitor posts ----

// Post is what the widget posts to omnichat (the body of POST /widget/api/{channel}/messages).
type Post struct {
	Type string `json:"type"` // "message" or "button"
	// ID is the widget's id for the message: a retry of the same post is stored once.
	ID    string     `json:"id"`
	Text  string     `json:"text,omitempty"`
	Data  string     `json:"data,omitempty"` // the pressed button's data
	Files []PostFile `json:"files,omitempty"`
	// The pre-chat form, sent with every message until the visitor clears it.
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
}

// PostFile is a file the visitor uploaded first (POST …/uploads).
type PostFile struct {
	Ref  string `json:"ref"`
	Name string `json:"name"`
	MIME string `json:"mime"`
	Size int64  `json:"size"`
}

var idRe = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)
var refRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// EventFilter verifies the visitor token and turns a post into an event.
func (p *Provider) EventFilter(_ context.Context, ch providers.Channel, r *providers.Request) ([]providers.Event, error) {
	visitor, ok := VisitorOf(ch, r.Header.Get(TokenHeader))
	if !ok {
		return nil, providers.ErrUnauthorized
	}
	var post Post
	if err := json.Unmarshal(r.Body, &post); err != nil {
		return nil, fmt.Errorf("widget post: %w: %v", providers.ErrMalformed, err)
	}
	if !idRe.MatchString(post.ID) {
		return nil, fmt.Errorf("widget post: %w: id must be 8-64 characters of A-Za-z0-9_-", providers.ErrMalformed)
	}
	if !utf8.ValidString(post.Text) || utf8.RuneCountInString(post.Text) > MaxText || len(post.Files) > MaxFiles ||
		len(post.Name) > 200 || len(post.Phone) > 40 || len(post.Email) > 200 || len(post.Data) > 64 {
		return nil, fmt.Errorf("widget post: %w: too long", providers.ErrMalformed)
	}
	ev := providers.Event{
		ExternalID: visitor + ":" + post.ID,
		UserID:     visitor,
		User:       providers.UserInfo{FirstName: strings.TrimSpace(post.Name), Phone: strings.TrimSpace(post.Phone), Email: strings.TrimSpace(post.Email)},
		Time:       time.Now(),
		Text:       strings.TrimSpace(post.Text),
	}
	switch post.Type {
	case "message":
		ev.Kind = providers.EventMessage
		for _, f := range post.Files {
			if !refRe.MatchString(f.Ref) {
				return nil, fmt.Errorf("widget post: %w: bad file reference", providers.ErrMalformed)
			}
			ev.Attachments = append(ev.Attachments, providers.Attachment{Kind: kindOf(f.MIME), Ref: f.Ref, Name: f.Name, MIME: f.MIME, Size: f.Size})
		}
		if ev.Text == "" && len(ev.Attachments) == 0 {
			return nil, fmt.Errorf("widget post: %w: empty message", providers.ErrMalformed)
		}
	case "button":
		if post.Data == "" {
			return nil, fmt.Errorf("widget post: %w: button without data", providers.ErrMalformed)
		}
		ev.Kind, ev.Payload = providers.EventButton, post.Data
	default:
		return nil, nil // a newer widget's post this server does not know
	}
	return []providers.Event{ev}, nil
}

func kindOf(mime string) providers.AttachmentKind {
	switch {
	case strings.HasPrefix(mime, "image/"):
		return providers.AttachImage
	case strings.HasPrefix(mime, "video/"):
		return providers.AttachVideo
	case strings.HasPrefix(mime, "audio/"):
		return providers.AttachAudio
	}
	return providers.AttachFile
}

// ResolveFile implements providers.FileResolver: a visitor's upload is read back from
// omnichat's own upload store through a signed link.
func (p *Provider) ResolveFile(_ context.Context, ch providers.Channel, ref string) (providers.Download, error) {
	if !refRe.MatchString(ref) {
		return providers.Download{}, providers.Permanent("bad upload reference", nil)
	}
	return providers.Download{URL: fmt.Sprintf("%s/widget/api/%d/uploads/%s?sig=%s", Base(ch), ch.ID, ref, UploadSig(ch, ref))}, nil
}

// ---- Sending ----

// ErrNotConnected means no visitor stream is connected (a wiring error; retried).
var ErrNotConnected = errors.New("widget: visitor streams are not connected")

func (p *Provider) publish(ctx context.Context, ch providers.Channel, to providers.Recipient, n Notice) (providers.Sent, error) {
	pub := p.publisher()
	if pub == nil {
		return providers.Sent{}, ErrNotConnected
	}
	if err := pub.Publish(ctx, ch, to.UserID, n); err != nil {
		return providers.Sent{}, fmt.Errorf("widget: publish to the visitor: %w", err)
	}
	id := "op:" + strconv.FormatInt(n.MessageID, 10)
	return providers.Sent{ExternalID: id, Parts: []string{id}}, nil
}

// SendMessage publishes an operator's reply to the visitor's stream. The message itself
// is already stored: the widget reads it through the visitor API.
func (p *Provider) SendMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, m providers.OutMessage) (providers.Sent, error) {
	return p.publish(ctx, ch, to, Notice{Kind: "message", MessageID: m.ID})
}

// SendFile publishes a file reply the same way.
func (p *Provider) SendFile(ctx context.Context, ch providers.Channel, to providers.Recipient, f providers.OutFile) (providers.Sent, error) {
	return p.publish(ctx, ch, to, Notice{Kind: "message", MessageID: f.ID})
}

// DeleteMessage tells the widget to drop the message (the core marks it deleted).
func (p *Provider) DeleteMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, externalID string) error {
	id, err := strconv.ParseInt(strings.TrimPrefix(externalID, "op:"), 10, 64)
	if err != nil {
		return providers.Permanent("not a widget message id", err)
	}
	_, err = p.publish(ctx, ch, to, Notice{Kind: "deleted", MessageID: id})
	return err
}

// GetUserInfo gives an anonymous visitor the username "visitor-XXXX" (from the id), so
// operators can tell visitors apart. Only the username: real names come from the pre-chat
// form with the messages (the core keeps those; see dialog.FetchUserInfo).
func (p *Provider) GetUserInfo(_ context.Context, _ providers.Channel, externalUserID string) (providers.UserInfo, error) {
	if externalUserID == "" {
		return providers.UserInfo{}, providers.Permanent("no visitor id", nil)
	}
	short := strings.ToLower(externalUserID)
	if len(short) > 6 {
		short = short[:6]
	}
	return providers.UserInfo{Username: "visitor-" + short}, nil
}

// ---- Settings page ----

// Actions implements providers.Actioner: the embed code.
func (p *Provider) Actions(providers.Channel) []providers.Action {
	return []providers.Action{{Name: "embed", Label: providers.Text{En: "Embed code", Ru: "Код для сайта"}}}
}

// RunAction implements providers.Actioner.
func (p *Provider) RunAction(_ context.Context, ch providers.Channel, name string) (providers.ActionResult, error) {
	if name != "embed" {
		return providers.ActionResult{}, providers.ErrUnsupported
	}
	return providers.ActionResult{
		Text: "Paste this into every page of your site, just before </body>. Try it at " + Base(ch) + "/widget/demo?channel=" + strconv.FormatInt(ch.ID, 10),
		Code: EmbedCode(ch),
	}, nil
}

// EmbedCode is the one tag a site adds.
func EmbedCode(ch providers.Channel) string {
	return fmt.Sprintf(`<script src="%s/widget.js" data-channel="%d" async></script>`, Base(ch), ch.ID)
}

// Public is what the widget shows, readable by anyone (no secrets).
type Public struct {
	Title    string   `json:"title"`
	Greeting string   `json:"greeting"`
	Color    string   `json:"color"`
	Position string   `json:"position"`
	Prechat  []string `json:"prechat"`
	// Language is "ru" or "en", or "auto": the visitor's browser decides.
	Language string `json:"language"`
}

// PublicConfig returns the widget's public configuration.
func PublicConfig(ch providers.Channel) Public {
	s := ch.Settings
	c := Public{Title: s[SettingTitle], Greeting: s[SettingGreeting], Color: s[SettingColor], Position: s[SettingPosition], Prechat: []string{}, Language: s[SettingLanguage]}
	if c.Title == "" {
		c.Title = DefaultTitle
	}
	if c.Language != "ru" && c.Language != "en" {
		c.Language = "auto"
	}
	if !colorRe.MatchString(c.Color) {
		c.Color = "#1f6feb"
	}
	if c.Position != "left" {
		c.Position = "right"
	}
	for _, f := range []struct{ setting, field string }{{SettingPrechatName, "name"}, {SettingPrechatPhone, "phone"}, {SettingPrechatEmail, "email"}} {
		if s[f.setting] == "true" {
			c.Prechat = append(c.Prechat, f.field)
		}
	}
	return c
}
