// Package providers defines the contract between omnichat's core and one messaging
// platform ("channel kind"): the Provider interface with the ten methods the product
// names, the normalized types that cross it, typed errors, and an explicit registry.
//
// A provider package imports nothing of omnichat's internal packages, so it compiles,
// tests and fuzzes on its own. See docs/providers.md and providers/example.
package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"time"
)

// Provider is one messaging platform. Implementations must be safe for concurrent use:
// one value serves every channel of its kind; per-channel state lives in Channel.
type Provider interface {
	// Kind is the stable identifier stored with each channel ("telegram", "vk", …).
	Kind() string

	// SettingsForm describes the fields an admin fills in (and those Check fills).
	SettingsForm() Form

	// Check verifies the settings against the platform and returns them completed with the
	// fields marked Filled (bot id, bot name, group name…). Bad credentials return an error
	// whose text an admin can read (no secrets in it).
	Check(ctx context.Context, s Settings) (Settings, error)

	// CallbackServerConfirmation answers a platform's handshake on the webhook URL (VK's
	// confirmation code, Facebook's hub.challenge, Viber's "webhook" event). handled=false
	// means the request is not a handshake and goes on to EventFilter.
	CallbackServerConfirmation(ctx context.Context, ch Channel, r *Request) (resp *Response, handled bool, err error)

	// SetWebhook registers url (the channel's webhook URL) with the platform when the
	// channel is saved. It may return settings to merge into the channel's (for example VK's
	// callback server id); nil when there is nothing to store.
	SetWebhook(ctx context.Context, ch Channel, url string) (Settings, error)

	// DeleteWebhook unregisters the webhook when the channel is removed.
	DeleteWebhook(ctx context.Context, ch Channel) error

	// SendMessage sends text (with optional buttons) and returns the platform's message id.
	SendMessage(ctx context.Context, ch Channel, to Recipient, m OutMessage) (Sent, error)

	// SendFile uploads and sends one file and returns the platform's message id.
	SendFile(ctx context.Context, ch Channel, to Recipient, f OutFile) (Sent, error)

	// DeleteMessage deletes one of our messages; ErrUnsupported where the platform cannot,
	// Permanent when it is too old.
	DeleteMessage(ctx context.Context, ch Channel, to Recipient, externalID string) error

	// GetUserInfo loads the visitor's names and avatar. UserInfo.AvatarURL may carry a
	// credential (Telegram file URLs hold the bot token): download it, never store or log it.
	GetUserInfo(ctx context.Context, ch Channel, externalUserID string) (UserInfo, error)

	// EventFilter verifies that the request comes from the platform (ErrUnauthorized when
	// not) and turns it into normalized events. It is a pure function of its input: no
	// network calls, no storage. Unknown updates give no events and no error; malformed
	// bodies give an error that wraps ErrMalformed.
	EventFilter(ctx context.Context, ch Channel, r *Request) ([]Event, error)
}

// Optional abilities. The core discovers them with a type assertion on these interfaces,
// never on a concrete provider type.

// FileResolver is implemented by providers whose incoming attachments carry a platform
// reference (Attachment.Ref) that needs a platform call to become a download URL. The URL
// may carry a credential: the core downloads it and never stores or logs it.
type FileResolver interface {
	ResolveFile(ctx context.Context, ch Channel, ref string) (Download, error)
}

// Download is where to fetch a file from.
type Download struct {
	URL    string
	Header http.Header
}

// ButtonAnswerer is implemented by platforms that expect a button press to be acknowledged
// (Telegram's answerCallbackQuery, VK's messages.sendMessageEventAnswer). The core calls it
// from a job after the EventButton is stored, with that event (ExternalID, UserID, ChatID,
// Payload as EventFilter returned them).
type ButtonAnswerer interface {
	AnswerButton(ctx context.Context, ch Channel, ev Event) error
}

// Acknowledger is implemented by providers whose platform expects a particular answer to a
// webhook once its events are stored (VK wants the plain text "ok"). Without it the core
// answers 200 with an empty JSON object.
type Acknowledger interface {
	Ack(ch Channel, r *Request, events []Event) Response
}

// Actioner exposes extra operations in the settings UI (ChatAPI's QR authorization,
// Facebook's callback URL and verify token, the widget's embed code) through one general
// mechanism instead of per-kind code in the core.
type Actioner interface {
	Actions(ch Channel) []Action
	RunAction(ctx context.Context, ch Channel, name string) (ActionResult, error)
}

// Action is one button in a channel's settings page.
type Action struct {
	Name  string `json:"name"`
	Label Text   `json:"label"`
}

// ActionResult is what an action shows: text, an image (a QR code), or a snippet to copy.
type ActionResult struct {
	Text      string `json:"text,omitempty"`
	Code      string `json:"code,omitempty"`       // a snippet to copy (embed code, URL)
	Image     []byte `json:"image,omitempty"`      // e.g. a PNG QR code
	ImageType string `json:"image_type,omitempty"` // e.g. "image/png"
}

// Text is a UI string in the two languages the product ships.
type Text struct {
	En string `json:"en"`
	Ru string `json:"ru"`
}

// FieldType is how a settings field is edited.
type FieldType string

const (
	FieldText     FieldType = "text"
	FieldSecret   FieldType = "secret" // write-only: never sent back to a browser, encrypted at rest
	FieldURL      FieldType = "url"
	FieldNumber   FieldType = "number"
	FieldBool     FieldType = "bool"
	FieldSelect   FieldType = "select"
	FieldTextarea FieldType = "textarea"
)

// Field is one setting.
type Field struct {
	Name     string    `json:"name"`
	Type     FieldType `json:"type"`
	Label    Text      `json:"label"`
	Help     Text      `json:"help"`
	Required bool      `json:"required,omitempty"`
	// Filled marks read-only fields that Check fills (bot id, bot name…).
	Filled bool `json:"filled,omitempty"`
	// Internal fields are kept by the provider (callback server id…) and not shown for editing.
	Internal bool     `json:"internal,omitempty"`
	Default  string   `json:"default,omitempty"`
	Options  []Option `json:"options,omitempty"`
}

// Option is one choice of a select field.
type Option struct {
	Value string `json:"value"`
	Label Text   `json:"label"`
}

// Form is a provider's settings form with instructions for the admin.
type Form struct {
	Title        Text    `json:"title"`
	Instructions Text    `json:"instructions"`
	Fields       []Field `json:"fields"`
	// MaxUploadBytes caps operators' uploads for this platform (0 = the core's default).
	MaxUploadBytes int64 `json:"max_upload_bytes,omitempty"`
}

// Secret reports whether the field with this name is a secret.
func (f Form) Secret(name string) bool {
	for _, fl := range f.Fields {
		if fl.Name == name {
			return fl.Type == FieldSecret
		}
	}
	return false
}

// Validate checks that required, non-filled fields are present.
func (f Form) Validate(s Settings) error {
	var missing []string
	for _, fl := range f.Fields {
		if fl.Required && !fl.Filled && !fl.Internal && s[fl.Name] == "" {
			missing = append(missing, fl.Name)
		}
	}
	if len(missing) > 0 {
		return &SettingsError{Fields: missing, Msg: "required"}
	}
	return nil
}

// SettingsError names settings that are wrong; the admin UI highlights them.
type SettingsError struct {
	Fields []string
	Msg    string
}

func (e *SettingsError) Error() string { return fmt.Sprintf("settings %v: %s", e.Fields, e.Msg) }

// Settings are a channel's settings as strings (numbers and bools too). Each provider
// decodes them into its own struct.
type Settings map[string]string

// Clone returns a copy.
func (s Settings) Clone() Settings {
	c := make(Settings, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}

// Merge returns s with every key of o set (o wins).
func (s Settings) Merge(o Settings) Settings {
	c := s.Clone()
	for k, v := range o {
		c[k] = v
	}
	return c
}

// Channel is one configured channel as a provider sees it.
type Channel struct {
	ID       int64
	Kind     string
	Name     string
	Settings Settings
	// Secret is a random per-channel value generated by the core (43 characters of
	// A-Za-z0-9_-). Providers use it where the platform lets us choose a shared secret:
	// Telegram's secret_token, VK's callback secret key, Facebook's verify token, the
	// unguessable path token for platforms that sign nothing.
	Secret string
	// WebhookURL is the channel's webhook URL ({public}/webhooks/{id}).
	WebhookURL string
	// PublicURL is omnichat's public base URL (for links the platform or a browser follows).
	PublicURL string
}

// Request is one webhook request, read once with a size cap.
type Request struct {
	Method string
	// Path is what follows /webhooks/{channel_id} ("" or "/<token>").
	Path   string
	Header http.Header
	Query  url.Values
	Body   []byte
	// RemoteAddr is the client address (for per-visitor rate limits in the widget).
	RemoteAddr string
}

// Response is an answer the provider writes itself (handshakes, acknowledgements).
type Response struct {
	Status      int
	ContentType string
	Body        []byte
	Header      http.Header
}

// EventKind is the kind of a normalized event.
type EventKind string

const (
	EventMessage             EventKind = "message"
	EventEdited              EventKind = "edited"
	EventButton              EventKind = "button"
	EventDelivered           EventKind = "delivered"
	EventRead                EventKind = "read"
	EventFailed              EventKind = "failed" // the platform could not deliver our message
	EventSubscribed          EventKind = "subscribed"
	EventUnsubscribed        EventKind = "unsubscribed" // the visitor blocked the bot
	EventConversationStarted EventKind = "conversation_started"
)

// Event is one normalized platform event.
type Event struct {
	Kind EventKind
	// ExternalID identifies the message, unique within the channel (the provider prefixes
	// it where the platform's id is unique only per chat, e.g. "chat:msg"). For edits it is
	// the id of the edited message. For button presses and other events it is an id the
	// platform repeats on retries (callback id, event id) or empty.
	ExternalID string
	// UserID is the visitor's id on the platform; ChatID is the address to reply to
	// (defaults to UserID when empty).
	UserID string
	ChatID string
	// User carries what the update itself says about the sender.
	User UserInfo
	Time time.Time

	Text        string
	Attachments []Attachment
	ReplyTo     string // external id of the message this one answers
	// Payload is the button's data for EventButton (and the deep-link payload for
	// EventConversationStarted).
	Payload string

	// Refs are external ids of our messages a receipt is about; Watermark, when set, means
	// "every message sent up to this time" (Facebook).
	Refs      []string
	Watermark time.Time
	Reason    string // why delivery failed (EventFailed)
}

// AttachmentKind classifies attachments.
type AttachmentKind string

const (
	AttachImage    AttachmentKind = "image"
	AttachVideo    AttachmentKind = "video"
	AttachAudio    AttachmentKind = "audio"
	AttachVoice    AttachmentKind = "voice"
	AttachFile     AttachmentKind = "file"
	AttachSticker  AttachmentKind = "sticker"
	AttachLocation AttachmentKind = "location"
	AttachContact  AttachmentKind = "contact"
	AttachLink     AttachmentKind = "link"
)

// Attachment is one incoming attachment. Files come either as a URL the core downloads or
// as a Ref that FileResolver turns into one.
type Attachment struct {
	Kind AttachmentKind `json:"kind"`
	URL  string         `json:"url,omitempty"`
	Ref  string         `json:"ref,omitempty"`
	Name string         `json:"name,omitempty"`
	MIME string         `json:"mime,omitempty"`
	Size int64          `json:"size,omitempty"`
	// Location.
	Lat float64 `json:"lat,omitempty"`
	Lon float64 `json:"lon,omitempty"`
	// Contact: a phone number as the platform gave it, and whether it is the sender's own.
	Phone    string `json:"phone,omitempty"`
	OwnPhone bool   `json:"own_phone,omitempty"`
	Contact  string `json:"contact,omitempty"` // the contact's name
}

// Recipient is where an outbound message goes.
type Recipient struct {
	UserID string
	ChatID string
}

// Chat returns ChatID or, when empty, UserID.
func (r Recipient) Chat() string {
	if r.ChatID != "" {
		return r.ChatID
	}
	return r.UserID
}

// Button is one button under an outbound message.
type Button struct {
	Text string `json:"text"`
	Data string `json:"data,omitempty"` // sent back in EventButton.Payload
	URL  string `json:"url,omitempty"`
}

// OutMessage is an outbound text.
type OutMessage struct {
	// ID is our message id: stable across retries of the same send, so a provider whose
	// platform takes an idempotency key (VK's random_id) derives it from this.
	ID      int64
	Text    string
	Buttons [][]Button // rows of buttons
	ReplyTo string     // external id to reply to, when the platform supports it
}

// OutFile is an outbound file.
type OutFile struct {
	ID      int64
	Name    string
	MIME    string
	Size    int64
	Caption string
	// Open returns the file's content; it may be called more than once (retries).
	Open func() (io.ReadCloser, error)
	// URL is a public link to the same file, for platforms that fetch files by URL.
	URL string
}

// Sent is the platform's answer to a send.
type Sent struct {
	ExternalID string
	// Parts lists every platform message id when the platform needed several messages
	// (long texts split); ExternalID is the last of them.
	Parts []string
}

// UserInfo is what the platform tells about a visitor.
type UserInfo struct {
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Email     string `json:"email,omitempty"`
	Language  string `json:"language,omitempty"`
	// AvatarURL may carry a credential: download it, never store or log it.
	AvatarURL string `json:"-"`
	// AvatarHeader is sent with the avatar download (for platforms that authenticate it).
	AvatarHeader http.Header `json:"-"`
}

// Name joins first and last name.
func (u UserInfo) Name() string {
	switch {
	case u.FirstName != "" && u.LastName != "":
		return u.FirstName + " " + u.LastName
	case u.FirstName != "":
		return u.FirstName
	case u.LastName != "":
		return u.LastName
	default:
		return u.Username
	}
}

// Typed errors. Providers wrap platform errors in these; the core decides by them.

// ErrUnsupported: the platform cannot do this (delete a message on Viber…).
var ErrUnsupported = errors.New("not supported by this platform")

// ErrUnauthorized: the webhook request is not signed by the platform (401/403, nothing stored).
var ErrUnauthorized = errors.New("webhook signature missing or invalid")

// ErrMalformed: the webhook body cannot be parsed (400, nothing stored).
var ErrMalformed = errors.New("malformed webhook request")

// PermanentError is a failure that retrying cannot fix: the visitor blocked the bot, the
// reply window closed, the token was revoked. The message is marked failed with Reason.
type PermanentError struct {
	Reason string // readable by an operator; no secrets
	Err    error
}

func (e *PermanentError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as permanent with a readable reason.
func Permanent(reason string, err error) error { return &PermanentError{Reason: reason, Err: err} }

// RetryAfterError asks the caller to retry no earlier than After (HTTP 429).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	msg := fmt.Sprintf("rate limited, retry after %s", e.After)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter wraps err with a delay.
func RetryAfter(d time.Duration, err error) error { return &RetryAfterError{After: d, Err: err} }

// IsPermanent reports whether err (or anything it wraps) is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// PermanentReason returns the readable reason of a permanent error.
func PermanentReason(err error) string {
	var p *PermanentError
	if errors.As(err, &p) {
		return p.Reason
	}
	return ""
}

// RetryDelay returns the delay a RetryAfterError asks for.
func RetryDelay(err error) (time.Duration, bool) {
	var r *RetryAfterError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}

// Registry holds the providers this build knows, by kind. It is built once, explicitly,
// in internal/app.
type Registry struct {
	byKind map[string]Provider
}

// NewRegistry registers ps; a duplicate kind panics (a programming error at start-up).
func NewRegistry(ps ...Provider) *Registry {
	r := &Registry{byKind: make(map[string]Provider, len(ps))}
	for _, p := range ps {
		if _, dup := r.byKind[p.Kind()]; dup {
			panic("providers: duplicate kind " + p.Kind())
		}
		r.byKind[p.Kind()] = p
	}
	return r
}

// Get returns the provider of a kind.
func (r *Registry) Get(kind string) (Provider, bool) {
	p, ok := r.byKind[kind]
	return p, ok
}

// Kinds lists the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	ks := make([]string, 0, len(r.byKind))
	for k := range r.byKind {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
