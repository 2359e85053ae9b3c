package viber

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	mviber "github.com/mileusna/viber"

	"github.com/omnichat/omnichat/providers"
)

// SignatureHeader carries Viber's signature of a callback.
const SignatureHeader = "X-Viber-Content-Signature"

// Sign returns the signature Viber puts into SignatureHeader for body: the lowercase hex
// HMAC-SHA256 of the raw body keyed with the bot's auth token.
func Sign(token string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// verify checks the signature in constant time over the raw bytes (never a re-encoding).
func verify(token string, r *providers.Request) error {
	if token == "" {
		// An empty HMAC key would let anyone forge callbacks.
		return fmt.Errorf("%w: the channel has no auth token", providers.ErrUnauthorized)
	}
	sig := strings.TrimSpace(r.Header.Get(SignatureHeader))
	if sig == "" {
		return fmt.Errorf("%w: no %s header", providers.ErrUnauthorized, SignatureHeader)
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: %s is not hex", providers.ErrUnauthorized, SignatureHeader)
	}
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write(r.Body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: %s does not match the body", providers.ErrUnauthorized, SignatureHeader)
	}
	return nil
}

// callback is one Viber callback. Only the fields we read are declared, so an unexpected
// type in a field we ignore (country, api_version…) cannot reject a whole callback.
type callback struct {
	Event        string      `json:"event"`
	Timestamp    json.Number `json:"timestamp"`     // Unix milliseconds
	MessageToken json.Number `json:"message_token"` // 64-bit: kept as text, never a float
	UserID       string      `json:"user_id"`       // unsubscribed, delivered, seen, failed
	Desc         string      `json:"desc"`          // failed
	Type         string      `json:"type"`          // conversation_started: "open"
	Context      string      `json:"context"`       // conversation_started: the deep-link parameter
	User         *sender     `json:"user"`          // subscribed, conversation_started
	Sender       *sender     `json:"sender"`        // message
	Message      *message    `json:"message"`       // message
	Silent       bool        `json:"silent"`        // message: sent by a silent keyboard button
}

type sender struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Avatar   string `json:"avatar"`
	Language string `json:"language"`
}

type message struct {
	Type         string      `json:"type"`
	Text         string      `json:"text"`
	Media        string      `json:"media"`
	FileName     string      `json:"file_name"`
	Size         json.Number `json:"size"`
	FileSize     json.Number `json:"file_size"` // Viber's docs name both; read either
	StickerID    flexID      `json:"sticker_id"`
	Contact      *contact    `json:"contact"`
	Location     *location   `json:"location"`
	TrackingData string      `json:"tracking_data"`
}

type contact struct {
	Name        string `json:"name"`
	PhoneNumber string `json:"phone_number"`
}

type location struct {
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Address string  `json:"address"`
}

// flexID is an id Viber sends as a number or as a string (sticker_id).
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexID(n.String())
	return nil
}

// parse verifies r and decodes its body. Verification comes first: nothing of an unsigned
// body is looked at.
func parse(ch providers.Channel, r *providers.Request) (callback, error) {
	if err := verify(strings.TrimSpace(ch.Settings[SettingToken]), r); err != nil {
		return callback{}, err
	}
	var cb callback
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	if err := dec.Decode(&cb); err != nil {
		return callback{}, fmt.Errorf("%w: %v", providers.ErrMalformed, err)
	}
	if dec.More() {
		return callback{}, fmt.Errorf("%w: data after the JSON object", providers.ErrMalformed)
	}
	if cb.Event == "" {
		return callback{}, fmt.Errorf("%w: no event", providers.ErrMalformed)
	}
	return cb, nil
}

// CallbackServerConfirmation implements providers.Provider. Right after set_webhook Viber
// POSTs {"event":"webhook",…} and registers the URL only if we answer 200. The callback is
// signed like any other; an unsigned one is not handled here and EventFilter rejects it.
func (p *Provider) CallbackServerConfirmation(ctx context.Context, ch providers.Channel, r *providers.Request) (*providers.Response, bool, error) {
	if r.Method != http.MethodPost {
		return nil, false, nil
	}
	cb, err := parse(ch, r)
	if err != nil || cb.Event != "webhook" {
		return nil, false, nil
	}
	return &providers.Response{Status: http.StatusOK}, true, nil
}

// EventFilter implements providers.Provider.
func (p *Provider) EventFilter(ctx context.Context, ch providers.Channel, r *providers.Request) ([]providers.Event, error) {
	cb, err := parse(ch, r)
	if err != nil {
		return nil, err
	}
	at, err := millis(cb.Timestamp)
	if err != nil {
		return nil, err
	}

	switch cb.Event {
	case "message":
		return messageEvents(cb, at)

	case "conversation_started":
		if cb.User == nil || cb.User.ID == "" {
			return nil, fmt.Errorf("%w: conversation_started without user.id", providers.ErrMalformed)
		}
		return []providers.Event{{
			Kind:       providers.EventConversationStarted,
			ExternalID: eventID(cb),
			UserID:     cb.User.ID,
			User:       userInfo(cb.User),
			Time:       at,
			Payload:    cb.Context,
		}}, nil

	case "subscribed":
		if cb.User == nil || cb.User.ID == "" {
			return nil, fmt.Errorf("%w: subscribed without user.id", providers.ErrMalformed)
		}
		return []providers.Event{{
			Kind: providers.EventSubscribed, ExternalID: eventID(cb),
			UserID: cb.User.ID, User: userInfo(cb.User), Time: at,
		}}, nil

	case "unsubscribed":
		if cb.UserID == "" {
			return nil, fmt.Errorf("%w: unsubscribed without user_id", providers.ErrMalformed)
		}
		return []providers.Event{{
			Kind: providers.EventUnsubscribed, ExternalID: eventID(cb), UserID: cb.UserID, Time: at,
		}}, nil

	case "delivered", "seen", "failed":
		// Receipts are about our message: message_token is its id as send_message returned it.
		token, err := messageToken(cb)
		if err != nil {
			return nil, err
		}
		kind := map[string]providers.EventKind{
			"delivered": providers.EventDelivered, "seen": providers.EventRead, "failed": providers.EventFailed,
		}[cb.Event]
		ev := providers.Event{Kind: kind, UserID: cb.UserID, Time: at, Refs: []string{token}}
		if kind == providers.EventFailed {
			ev.Reason = cb.Desc
			if ev.Reason == "" {
				ev.Reason = "Viber could not deliver the message"
			}
		}
		return []providers.Event{ev}, nil

	default:
		// "webhook" (the handshake, answered by CallbackServerConfirmation) and anything
		// Viber may add later: nothing to store.
		return nil, nil
	}
}

// messageEvents turns a "message" callback into one event: a visitor message, or a button
// press when the text is one of the reply buttons we sent with our last message.
func messageEvents(cb callback, at time.Time) ([]providers.Event, error) {
	if cb.Sender == nil || cb.Sender.ID == "" {
		return nil, fmt.Errorf("%w: message without sender.id", providers.ErrMalformed)
	}
	if cb.Message == nil {
		return nil, fmt.Errorf("%w: message without message", providers.ErrMalformed)
	}
	token, err := messageToken(cb)
	if err != nil {
		return nil, err
	}
	m := cb.Message
	ev := providers.Event{
		Kind:       providers.EventMessage,
		ExternalID: token, // message tokens are unique across the whole bot
		UserID:     cb.Sender.ID,
		User:       userInfo(cb.Sender),
		Time:       at,
		Text:       m.Text,
	}

	switch m.Type {
	case "text":
		kb := decodeTracking(m.TrackingData)
		if data, ok := kb.button(m.Text); ok {
			ev.Kind = providers.EventButton
			ev.Payload = data
			return []providers.Event{ev}, nil
		}
		if kb.isURL(m.Text) {
			// Pressing an open-url button also sends its URL to the bot as a (silent)
			// message: the visitor opened a link we sent, they did not write anything.
			return nil, nil
		}
	case "picture":
		ev.Attachments = append(ev.Attachments, providers.Attachment{
			Kind: providers.AttachImage, URL: m.Media, Name: m.FileName, Size: m.size(),
		})
	case "video":
		ev.Attachments = append(ev.Attachments, providers.Attachment{
			Kind: providers.AttachVideo, URL: m.Media, Name: m.FileName, Size: m.size(),
		})
	case "file":
		ev.Attachments = append(ev.Attachments, providers.Attachment{
			Kind: providers.AttachFile, URL: m.Media, Name: m.FileName, Size: m.size(),
		})
	case "sticker":
		ev.Attachments = append(ev.Attachments, providers.Attachment{
			Kind: providers.AttachSticker, URL: m.Media, Name: string(m.StickerID),
		})
	case "contact":
		if m.Contact == nil {
			return nil, fmt.Errorf("%w: contact message without contact", providers.ErrMalformed)
		}
		// Viber does not flag the sender's own number. A share-phone reply carries the
		// sender's own Viber name; an address-book entry carries the entry's name. So the
		// number counts as the sender's own (and feeds the client base) only when the names
		// match: a stranger's number is never attributed to the visitor.
		ev.Attachments = append(ev.Attachments, providers.Attachment{
			Kind: providers.AttachContact, Phone: m.Contact.PhoneNumber, Contact: m.Contact.Name,
			OwnPhone: ownContact(m.Contact.Name, cb.Sender.Name) && m.Contact.PhoneNumber != "",
		})
	case "location":
		if m.Location == nil {
			return nil, fmt.Errorf("%w: location message without location", providers.ErrMalformed)
		}
		ev.Attachments = append(ev.Attachments, providers.Attachment{
			Kind: providers.AttachLocation, Lat: m.Location.Lat, Lon: m.Location.Lon, Name: m.Location.Address,
		})
	case "url":
		// media holds the link; show it as the text too so the dialog reads naturally.
		ev.Attachments = append(ev.Attachments, providers.Attachment{Kind: providers.AttachLink, URL: m.Media})
		if ev.Text == "" {
			ev.Text = m.Media
		}
	default:
		// rich_media and types Viber may add later: keep what can be shown.
		if m.Media != "" {
			ev.Attachments = append(ev.Attachments, providers.Attachment{Kind: providers.AttachFile, URL: m.Media, Name: m.FileName})
		}
	}
	if ev.Text == "" && len(ev.Attachments) == 0 {
		// An empty message (or one of a type we cannot show): nothing to store.
		return nil, nil
	}
	return []providers.Event{ev}, nil
}

// size reads size or file_size, whichever Viber sent.
func (m *message) size() int64 {
	for _, n := range []json.Number{m.Size, m.FileSize} {
		if v, err := n.Int64(); err == nil && v > 0 {
			return v
		}
	}
	return 0
}

func userInfo(s *sender) providers.UserInfo {
	// Viber has one display name; it goes into FirstName whole (splitting names guesses wrong).
	return providers.UserInfo{FirstName: s.Name, Language: s.Language, AvatarURL: s.Avatar}
}

// messageToken returns message_token as decimal text; it is required and must be an
// unsigned 64-bit integer.
func messageToken(cb callback) (string, error) {
	t := cb.MessageToken.String()
	if t == "" {
		return "", fmt.Errorf("%w: %s without message_token", providers.ErrMalformed, cb.Event)
	}
	if _, err := strconv.ParseUint(t, 10, 64); err != nil {
		return "", fmt.Errorf("%w: message_token is not an unsigned integer", providers.ErrMalformed)
	}
	return t, nil
}

// eventID identifies a subscribe/unsubscribe/conversation_started callback across Viber's
// retries; the event name keeps it apart from message ids.
func eventID(cb callback) string {
	t, err := messageToken(cb)
	if err != nil {
		return ""
	}
	return cb.Event + ":" + t
}

// millis converts Viber's millisecond timestamp; absent gives the zero time.
func millis(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	ms, err := n.Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: timestamp is not an integer", providers.ErrMalformed)
	}
	if ms <= 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(ms).UTC(), nil
}

// Ack implements providers.Acknowledger. Viber lets a bot answer conversation_started with
// one welcome message in the HTTP response (the only message it may send before the
// visitor writes); every other callback just needs a 200.
func (p *Provider) Ack(ch providers.Channel, r *providers.Request, events []providers.Event) providers.Response {
	ok := providers.Response{Status: http.StatusOK}
	started := false
	for _, ev := range events {
		started = started || ev.Kind == providers.EventConversationStarted
	}
	if !started {
		return ok
	}
	c, err := decodeSettings(ch.Settings)
	if err != nil || c.welcomeText == "" {
		return ok
	}
	text := c.welcomeText
	if parts := splitText(text, maxTextUnits, maxTextBytes); len(parts) > 0 {
		text = parts[0] // one message only: cut an over-long welcome text
	}
	body, err := marshal(mviber.TextMessage{
		Sender: mviber.Sender{Name: c.senderName},
		Type:   mviber.TypeTextMessage,
		Text:   text,
	})
	if err != nil {
		return ok
	}
	return providers.Response{Status: http.StatusOK, ContentType: "application/json", Body: body}
}

// ownContact reports whether a shared contact's name is the sender's own Viber name.
func ownContact(contactName, senderName string) bool {
	c, s := strings.Join(strings.Fields(contactName), " "), strings.Join(strings.Fields(senderName), " ")
	return c != "" && strings.EqualFold(c, s)
}
