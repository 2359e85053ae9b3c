package example

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

	"github.com/omnichat/omnichat/providers"
)

// SignatureHeader is the header carrying the webhook signature:
// "sha256=" + hex(HMAC-SHA256(secret, raw body)).
const SignatureHeader = "X-Example-Signature"

const signaturePrefix = "sha256="

// ChallengeParam is the query parameter of the platform's handshake: after POST /webhook
// the platform sends GET {url}?challenge=<random> signed over the challenge's bytes, and
// expects the challenge echoed back as text/plain.
const ChallengeParam = "challenge"

// webhookTypes are the update types we subscribe to. Asking only for what we handle saves
// the platform and us the traffic of everything else.
var webhookTypes = []string{
	TypeMessage, TypeEdited, TypeButton, TypeDelivered, TypeRead, TypeFailed,
	TypeSubscribed, TypeUnsubscribed, TypeStarted,
}

// Sign returns the SignatureHeader value for body signed with secret (the channel's
// Secret): what the platform sends, and what tests and `omnichat loadtest` send to post a
// webhook omnichat accepts.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// NewWebhookRequest builds the POST the platform would make to webhookURL (a channel's
// {public}/webhooks/{id}) with body signed by secret (the channel's Secret).
func NewWebhookRequest(ctx context.Context, webhookURL, secret string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return nil, errorf("build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(secret, body))
	return req, nil
}

// verify checks the signature over the raw bytes, in constant time. It runs before anything
// reads the body: an attacker's JSON must never reach the parser, and a signature must be
// checked over exactly the bytes that were signed (re-serialising changes them).
func verify(secret string, h http.Header, signed []byte) error {
	if secret == "" {
		// A channel without a secret would accept anyone's signature made with "": refuse.
		return fmt.Errorf("%w: the channel has no secret", providers.ErrUnauthorized)
	}
	hexSig, ok := strings.CutPrefix(h.Get(SignatureHeader), signaturePrefix)
	if !ok {
		return fmt.Errorf("%w: no %s header", providers.ErrUnauthorized, SignatureHeader)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%w: %s is not hex", providers.ErrUnauthorized, SignatureHeader)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(signed)
	// hmac.Equal takes the same time wherever the first differing byte is, so timing tells
	// an attacker nothing about how close a guess was. Never compare signatures with ==.
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: bad signature", providers.ErrUnauthorized)
	}
	return nil
}

// CallbackServerConfirmation implements providers.Provider. The core calls it for every
// webhook request before EventFilter, so it must recognise a handshake cheaply: ours is the
// only GET the platform makes, and an ordinary update (a POST) costs one comparison.
//
// A handshake is verified like any update: an attacker must not be able to make our URL
// echo arbitrary text. A bad signature returns handled=true with an error wrapping
// providers.ErrUnauthorized.
func (p *Provider) CallbackServerConfirmation(ctx context.Context, ch providers.Channel, r *providers.Request) (*providers.Response, bool, error) {
	if r.Method != http.MethodGet || !r.Query.Has(ChallengeParam) {
		return nil, false, nil
	}
	challenge := r.Query.Get(ChallengeParam)
	if err := verify(ch.Secret, r.Header, []byte(challenge)); err != nil {
		return nil, true, err
	}
	return &providers.Response{
		Status:      http.StatusOK,
		ContentType: "text/plain; charset=utf-8",
		Body:        []byte(challenge),
	}, true, nil
}

// webhookRequest is the body of POST /webhook.
type webhookRequest struct {
	URL    string   `json:"url"`
	Secret string   `json:"secret"`
	Types  []string `json:"types"`
}

// SetWebhook implements providers.Provider. It registers the channel's URL together with
// ch.Secret: the platform signs every update with that secret, and EventFilter checks it.
// Providers never invent their own secrets; the core generates one per channel, keeps it
// encrypted, and hands it over in Channel.Secret.
func (p *Provider) SetWebhook(ctx context.Context, ch providers.Channel, url string) (providers.Settings, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return nil, err
	}
	if ch.Secret == "" {
		return nil, errorf("set webhook: the channel has no secret to sign updates with")
	}
	req := webhookRequest{URL: url, Secret: ch.Secret, Types: webhookTypes}
	if err := p.callJSON(ctx, c, "POST /webhook", http.MethodPost, "/webhook", req, nil, nil); err != nil {
		return nil, err
	}
	// Nothing to store: the platform keeps one webhook per bot. A platform that returns an
	// id for the registration (VK's callback server id) returns it here as Settings, and the
	// form marks that field Internal.
	return nil, nil
}

// DeleteWebhook implements providers.Provider. Removing something already gone is success:
// the channel is being deleted either way, and an error would leave it undeletable.
func (p *Provider) DeleteWebhook(ctx context.Context, ch providers.Channel) error {
	c, err := channelConfig(ch)
	if err != nil {
		return err
	}
	err = p.callJSON(ctx, c, "DELETE /webhook", http.MethodDelete, "/webhook", nil, nil, nil)
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	return err
}

// envelope decodes both shapes the platform posts: one update, or {"updates":[…]}.
type envelope struct {
	Update
	Updates []Update `json:"updates"`
}

// EventFilter implements providers.Provider: verify, parse, normalise. It is a pure
// function of its input (no network, no storage, no clock), which is what makes it easy to
// test on testdata and to fuzz. Anything that needs the platform (answering a button,
// resolving a file) happens later in a job through an optional interface.
func (p *Provider) EventFilter(ctx context.Context, ch providers.Channel, r *providers.Request) ([]providers.Event, error) {
	// 1. Verify first, over the raw bytes.
	if err := verify(ch.Secret, r.Header, r.Body); err != nil {
		return nil, err
	}

	// 2. Parse. A body we cannot read is malformed (the core answers 400 and stores
	// nothing); json.Unmarshal also rejects truncated bodies and trailing garbage.
	var env envelope
	if err := json.Unmarshal(r.Body, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrMalformed, err)
	}
	updates := env.Updates
	if updates == nil {
		updates = []Update{env.Update}
	}

	// 3. Normalise. Unknown update types give no events and no error, so the core answers
	// 200 and the platform does not retry something we will never handle.
	var events []providers.Event
	for i, u := range updates {
		evs, err := normalize(u)
		if err != nil {
			return nil, fmt.Errorf("%w: update %d (update_id %d): %v", providers.ErrMalformed, i, u.UpdateID, err)
		}
		events = append(events, evs...)
	}
	return events, nil
}

// normalize turns one update into events. An update of a known type that lacks the fields
// that identify it is an error: storing a message without an id would break deduplication.
func normalize(u Update) ([]providers.Event, error) {
	switch u.Type {
	case TypeMessage, TypeEdited:
		if u.Message == nil {
			return nil, fmt.Errorf("%s update without message", u.Type)
		}
		ev, ok, err := messageEvent(u.Type, u.Message)
		if err != nil || !ok {
			return nil, err
		}
		return []providers.Event{ev}, nil

	case TypeButton:
		b := u.Button
		if b == nil || b.ID == "" || b.From.ID == "" {
			return nil, fmt.Errorf("button update without button id or sender")
		}
		ev := providers.Event{
			Kind: providers.EventButton,
			// The press id is repeated when the platform retries, so the core can store the
			// press once. The prefix keeps it apart from message ids in the channel's single
			// external-id namespace.
			ExternalID: "btn:" + b.ID,
			UserID:     b.From.ID,
			ChatID:     b.ChatID,
			User:       userInfo(b.From),
			Time:       unixTime(b.Date),
			Payload:    b.Data,
		}
		if b.MessageID > 0 {
			ev.ReplyTo = strconv.FormatInt(b.MessageID, 10)
		}
		return []providers.Event{ev}, nil

	case TypeDelivered, TypeRead, TypeFailed:
		rc := u.Receipt
		if rc == nil {
			return nil, fmt.Errorf("%s update without receipt", u.Type)
		}
		ev := providers.Event{
			Kind:   receiptKinds[u.Type],
			UserID: rc.UserID,
			ChatID: rc.ChatID,
			Time:   unixTime(rc.Date),
			Reason: rc.Reason,
		}
		for _, id := range rc.MessageIDs {
			ev.Refs = append(ev.Refs, strconv.FormatInt(id, 10))
		}
		if rc.Watermark > 0 {
			ev.Watermark = unixTime(rc.Watermark)
		}
		if len(ev.Refs) == 0 && ev.Watermark.IsZero() {
			// A receipt about nothing: nothing to update.
			return nil, nil
		}
		return []providers.Event{ev}, nil

	case TypeSubscribed, TypeUnsubscribed, TypeStarted:
		m := u.Member
		if m == nil || m.User.ID == "" {
			return nil, fmt.Errorf("%s update without user", u.Type)
		}
		ev := providers.Event{
			Kind:    memberKinds[u.Type],
			UserID:  m.User.ID,
			ChatID:  m.ChatID,
			User:    userInfo(m.User),
			Time:    unixTime(m.Date),
			Payload: m.Payload,
		}
		// The update id is what the platform repeats on retries of these events. Without one
		// the id stays empty: a constant like "upd:0" would make every later event of this
		// kind look like a retry of the first and be dropped.
		if u.UpdateID > 0 {
			ev.ExternalID = "upd:" + strconv.FormatInt(u.UpdateID, 10)
		}
		return []providers.Event{ev}, nil

	default:
		return nil, nil
	}
}

var receiptKinds = map[string]providers.EventKind{
	TypeDelivered: providers.EventDelivered,
	TypeRead:      providers.EventRead,
	TypeFailed:    providers.EventFailed,
}

var memberKinds = map[string]providers.EventKind{
	TypeSubscribed:   providers.EventSubscribed,
	TypeUnsubscribed: providers.EventUnsubscribed,
	TypeStarted:      providers.EventConversationStarted,
}

// messageEvent normalises a message or an edit. ok=false means "nothing for omnichat": an
// echo of our own message, or content we cannot show (neither text nor a usable attachment).
func messageEvent(typ string, m *Message) (ev providers.Event, ok bool, err error) {
	if m.ID <= 0 || m.From.ID == "" {
		return providers.Event{}, false, fmt.Errorf("%s without id or sender", typ)
	}
	if m.From.IsBot {
		// The platform echoes what our bot sent. Those messages are already stored as the
		// operator's; storing them again would show every reply twice.
		return providers.Event{}, false, nil
	}
	ev = providers.Event{
		Kind: providers.EventMessage,
		// Message ids are global on this platform, so the id is unique within the channel as
		// it is. On a platform whose ids restart in every chat, use chatID + ":" + id.
		ExternalID: strconv.FormatInt(m.ID, 10),
		UserID:     m.From.ID,
		ChatID:     m.ChatID,
		User:       userInfo(m.From),
		Time:       unixTime(m.Date),
		Text:       m.Text,
	}
	if typ == TypeEdited {
		// ExternalID stays the edited message's id, so the core updates that message.
		ev.Kind = providers.EventEdited
		if m.EditDate > 0 {
			ev.Time = unixTime(m.EditDate)
		}
	}
	if m.ReplyTo > 0 {
		ev.ReplyTo = strconv.FormatInt(m.ReplyTo, 10)
	}
	for _, a := range m.Attachments {
		att, ok := attachment(a)
		if !ok {
			continue
		}
		if att.Kind == providers.AttachContact && a.ContactUserID != "" && a.ContactUserID == m.From.ID {
			// The visitor shared their own number: it links them to a client record.
			att.OwnPhone = true
			ev.User.Phone = att.Phone
		}
		ev.Attachments = append(ev.Attachments, att)
	}
	if ev.Text == "" && len(ev.Attachments) == 0 {
		return providers.Event{}, false, nil
	}
	return ev, true, nil
}

var fileKinds = map[string]providers.AttachmentKind{
	"image":   providers.AttachImage,
	"video":   providers.AttachVideo,
	"audio":   providers.AttachAudio,
	"voice":   providers.AttachVoice,
	"file":    providers.AttachFile,
	"sticker": providers.AttachSticker,
}

// attachment normalises one attachment; ok=false drops one we cannot use.
func attachment(a Attachment) (providers.Attachment, bool) {
	switch a.Type {
	case "location":
		return providers.Attachment{Kind: providers.AttachLocation, Lat: a.Lat, Lon: a.Lon}, true
	case "contact":
		if a.Phone == "" {
			return providers.Attachment{}, false
		}
		return providers.Attachment{Kind: providers.AttachContact, Phone: a.Phone, Contact: a.ContactName}, true
	}
	if a.URL == "" && a.FileID == "" {
		return providers.Attachment{}, false
	}
	kind, known := fileKinds[a.Type]
	if !known {
		// A new file type the platform added after this code was written: still a file the
		// operator can open.
		kind = providers.AttachFile
	}
	// A direct URL is downloaded by the core as is; a FileID goes into Ref and becomes a URL
	// through ResolveFile, in a job, so EventFilter stays free of network calls.
	return providers.Attachment{
		Kind: kind, URL: a.URL, Ref: a.FileID, Name: a.Name, MIME: a.MIME, Size: a.Size,
	}, true
}

func userInfo(u User) providers.UserInfo {
	return providers.UserInfo{FirstName: u.FirstName, LastName: u.LastName, Username: u.Username, Language: u.Language}
}

// unixTime converts the platform's Unix seconds. Zero means "not given". Check each
// platform's unit: Viber and Facebook send milliseconds.
func unixTime(s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// ackBody is what the platform expects in answer to a webhook; anything else makes it
// retry the delivery.
const ackBody = `{"ok":true}`

// Ack implements providers.Acknowledger. The core calls it after the request's events are
// committed (also when there were none), and writes the answer. Without this interface the
// core answers 200 with {}; Example Messenger wants {"ok":true}.
func (p *Provider) Ack(ch providers.Channel, r *providers.Request, events []providers.Event) providers.Response {
	return providers.Response{Status: http.StatusOK, ContentType: "application/json", Body: []byte(ackBody)}
}
