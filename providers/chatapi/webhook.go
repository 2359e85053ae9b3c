package chatapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/omnichat/omnichat/providers"
)

// WebhookURL is the URL registered with ChatAPI for a channel: the channel's webhook URL
// with the channel's Secret as one more path segment. ChatAPI signs nothing, so knowing this
// URL is what proves a request comes from ChatAPI; it is as secret as a token.
func WebhookURL(webhookURL, secret string) string {
	return strings.TrimRight(webhookURL, "/") + "/" + secret
}

// NewWebhookRequest builds the POST ChatAPI would make for a channel whose webhook URL
// ({public}/webhooks/{id}) and Secret are given: body goes to WebhookURL(webhookURL, secret)
// as JSON. End-to-end tests post NewMessagesWebhook / NewAckWebhook bodies with it.
func NewWebhookRequest(ctx context.Context, webhookURL, secret string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, WebhookURL(webhookURL, secret), bytes.NewReader(body))
	if err != nil {
		return nil, errorf("build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// verify checks the path token in constant time, before anything parses the body.
func verify(secret, reqPath string) error {
	if secret == "" {
		// A channel without a secret would accept the URL without a token: refuse.
		return fmt.Errorf("%w: the channel has no secret", providers.ErrUnauthorized)
	}
	token, ok := strings.CutPrefix(reqPath, "/")
	if !ok {
		return fmt.Errorf("%w: no token in the webhook path", providers.ErrUnauthorized)
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(secret)) != 1 {
		return fmt.Errorf("%w: wrong token in the webhook path", providers.ErrUnauthorized)
	}
	return nil
}

// CallbackServerConfirmation implements providers.Provider: ChatAPI makes no handshake.
func (p *Provider) CallbackServerConfirmation(ctx context.Context, ch providers.Channel, r *providers.Request) (*providers.Response, bool, error) {
	return nil, false, nil
}

type webhookRequest struct {
	WebhookURL string `json:"webhookUrl"`
}

type webhookAnswer struct {
	Set        bool   `json:"set"`
	WebhookURL string `json:"webhookUrl"`
}

// settingsRequest turns on what omnichat needs: delivery receipts (acks) for delivery
// state, video messages (off by default on ChatAPI, so visitors' videos would be lost), and
// no chat updates (we do not use them).
type settingsRequest struct {
	AckNotificationsOn bool `json:"ackNotificationsOn"`
	ChatUpdateOn       bool `json:"chatUpdateOn"`
	VideoUploadOn      bool `json:"videoUploadOn"`
}

// SetWebhook implements providers.Provider: POST webhook with the URL carrying ch.Secret,
// then POST settings to turn acks on.
func (p *Provider) SetWebhook(ctx context.Context, ch providers.Channel, hookURL string) (providers.Settings, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return nil, err
	}
	if ch.Secret == "" {
		return nil, errorf("set webhook: the channel has no secret to put into the webhook URL")
	}
	var ans webhookAnswer
	err = p.callJSON(ctx, c, http.MethodPost, "webhook", nil, webhookRequest{WebhookURL: WebhookURL(hookURL, ch.Secret)}, &ans)
	if err != nil {
		return nil, fmt.Errorf("set webhook: %w", err)
	}
	if !ans.Set {
		return nil, errorf("set webhook: ChatAPI did not set the webhook")
	}
	settings := settingsRequest{AckNotificationsOn: true, ChatUpdateOn: false, VideoUploadOn: true}
	if _, _, err := p.call(ctx, c, http.MethodPost, "settings", nil, settings); err != nil {
		return nil, fmt.Errorf("turn on delivery receipts: %w", err)
	}
	return nil, nil
}

// DeleteWebhook implements providers.Provider: ChatAPI has no delete call, so the webhook
// URL is set to "" (ChatAPI then stops posting). An instance that is gone is success.
func (p *Provider) DeleteWebhook(ctx context.Context, ch providers.Channel) error {
	c, err := channelConfig(ch)
	if err != nil {
		return err
	}
	var ans webhookAnswer
	err = p.callJSON(ctx, c, http.MethodPost, "webhook", nil, webhookRequest{WebhookURL: ""}, &ans)
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	return nil
}

// EventFilter implements providers.Provider: verify the path token, parse, normalise.
func (p *Provider) EventFilter(ctx context.Context, ch providers.Channel, r *providers.Request) ([]providers.Event, error) {
	if err := verify(ch.Secret, r.Path); err != nil {
		return nil, err
	}
	var wh Webhook
	if err := json.Unmarshal(r.Body, &wh); err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrMalformed, err)
	}
	// A webhook from another instance cannot have our secret in its URL unless the admin
	// copied the URL to a second instance; its messages would land in the wrong channel
	// and our replies would go out from the wrong number.
	if want, ok := normalizeInstanceID(ch.Settings[SettingChannelID]); ok && wh.InstanceID != "" && string(wh.InstanceID) != want {
		return nil, fmt.Errorf("%w: webhook of instance %s, the channel is instance %s", providers.ErrUnauthorized, wh.InstanceID, want)
	}

	var events []providers.Event
	for i, m := range wh.Messages {
		ev, ok, err := messageEvent(m)
		if err != nil {
			return nil, fmt.Errorf("%w: message %d: %v", providers.ErrMalformed, i, err)
		}
		if ok {
			events = append(events, ev)
		}
	}
	for _, a := range wh.Ack {
		if ev, ok := ackEvent(a); ok {
			events = append(events, ev)
		}
	}
	return events, nil
}

var ackKinds = map[string]providers.EventKind{
	AckDelivered: providers.EventDelivered,
	AckViewed:    providers.EventRead,
	AckPlayed:    providers.EventRead,
}

// ackEvent turns a receipt into a delivery event. "sent" (reached WhatsApp's server) is
// what a successful send already recorded, so it gives nothing.
func ackEvent(a Ack) (providers.Event, bool) {
	kind, known := ackKinds[a.Status]
	if !known || a.ID == "" {
		return providers.Event{}, false
	}
	return providers.Event{Kind: kind, UserID: a.ChatID, ChatID: a.ChatID, Refs: []string{a.ID}}, true
}

// messageEvent normalises one message; ok=false means nothing for omnichat.
func messageEvent(m Message) (providers.Event, bool, error) {
	if m.ID == "" || m.ChatID == "" {
		return providers.Event{}, false, fmt.Errorf("message without id or chatId")
	}
	if m.FromMe {
		// Our own sends and what the owner typed on the phone come back as fromMe. Ours are
		// stored already; the phone's are not visitor messages.
		return providers.Event{}, false, nil
	}
	phone, private := strings.CutSuffix(m.ChatID, "@c.us")
	if !private || phone == "" || digits(phone) != phone {
		// Group chats (…@g.us) and status broadcasts: a reply there would go to everyone.
		return providers.Event{}, false, nil
	}
	ev := providers.Event{
		Kind: providers.EventMessage,
		// Message ids are global and embed the chat id: unique within the channel as is.
		ExternalID: m.ID,
		UserID:     m.ChatID,
		ChatID:     m.ChatID,
		User:       providers.UserInfo{Phone: "+" + phone},
		Time:       unixTime(int64(m.Time)),
	}
	if name := strings.TrimSpace(m.SenderName); name != "" && !strings.Contains(name, "@") && !phoneLike(name) {
		// senderName is the visitor's WhatsApp profile name; without one ChatAPI puts the
		// number or the chat id there, which is no name.
		ev.User.FirstName = name
	}
	if m.QuotedMsgID != nil {
		ev.ReplyTo = *m.QuotedMsgID
	}
	caption := ""
	if m.Caption != nil {
		caption = *m.Caption
	}

	switch m.Type {
	case TypeChat, "":
		ev.Text = m.Body
	case TypeImage, TypeVideo, TypeDocument, TypeVoice, TypeAudio, TypeSticker:
		ev.Text = caption
		if a, ok := fileAttachment(m.Type, m.Body); ok {
			ev.Attachments = []providers.Attachment{a}
		}
	case TypeLocation:
		if a, ok := location(m.Body); ok {
			ev.Attachments = []providers.Attachment{a}
		} else {
			ev.Text = m.Body
		}
	case TypeVCard, TypeMultiCard:
		for _, a := range vcards(m.Body) {
			if digits(a.Phone) == phone {
				// The visitor shared their own card.
				a.OwnPhone = true
			}
			ev.Attachments = append(ev.Attachments, a)
		}
		if len(ev.Attachments) == 0 {
			ev.Text = m.Body
		}
	default:
		// call_log and types added later: a body that is a file URL is still a file the
		// operator can open; anything else we cannot show.
		if a, ok := fileAttachment(m.Type, m.Body); ok {
			ev.Attachments = []providers.Attachment{a}
			ev.Text = caption
		}
	}
	if strings.TrimSpace(ev.Text) == "" && len(ev.Attachments) == 0 {
		return providers.Event{}, false, nil
	}
	return ev, true, nil
}

var fileKinds = map[string]providers.AttachmentKind{
	TypeImage:    providers.AttachImage,
	TypeVideo:    providers.AttachVideo,
	TypeDocument: providers.AttachFile,
	TypeVoice:    providers.AttachVoice,
	TypeAudio:    providers.AttachAudio,
	TypeSticker:  providers.AttachSticker,
}

// mimeByExt is a fixed table rather than mime.TypeByExtension, whose answers depend on the
// machine's /etc/mime.types.
var mimeByExt = map[string]string{
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif",
	".mp4": "video/mp4", ".3gp": "video/3gpp", ".oga": "audio/ogg", ".ogg": "audio/ogg", ".opus": "audio/ogg",
	".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".pdf": "application/pdf",
}

// fileAttachment makes an attachment of a media message: ChatAPI puts a public download URL
// (its S3 bucket) into the body. The core downloads it; no credential is needed.
func fileAttachment(typ, body string) (providers.Attachment, bool) {
	u, err := url.Parse(strings.TrimSpace(body))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return providers.Attachment{}, false
	}
	kind, ok := fileKinds[typ]
	if !ok {
		kind = providers.AttachFile
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." {
		name = ""
	}
	return providers.Attachment{
		Kind: kind, URL: u.String(), Name: name, MIME: mimeByExt[strings.ToLower(path.Ext(name))],
	}, true
}

// location parses ChatAPI's "lat;lng" body.
func location(body string) (providers.Attachment, bool) {
	latS, lonS, ok := strings.Cut(strings.TrimSpace(body), ";")
	if !ok {
		return providers.Attachment{}, false
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(latS), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(lonS), 64)
	if err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return providers.Attachment{}, false
	}
	return providers.Attachment{Kind: providers.AttachLocation, Lat: lat, Lon: lon}, true
}

// vcards extracts one contact attachment per vCard in body: the name (FN) and the first
// phone (TEL). WhatsApp puts the number's WhatsApp id into TEL's waid parameter; the value
// is the number as the sender's address book formats it.
func vcards(body string) []providers.Attachment {
	var out []providers.Attachment
	var cur *providers.Attachment
	// Unfold continuation lines (RFC 6350 3.2) and accept \n or \r\n.
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\n ", "")
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		upper := strings.ToUpper(line)
		switch {
		case upper == "BEGIN:VCARD":
			cur = &providers.Attachment{Kind: providers.AttachContact}
		case upper == "END:VCARD":
			if cur != nil && cur.Phone != "" {
				out = append(out, *cur)
			}
			cur = nil
		case cur == nil:
		case strings.HasPrefix(upper, "FN:") || strings.HasPrefix(upper, "FN;"):
			if _, v, ok := strings.Cut(line, ":"); ok {
				cur.Contact = strings.TrimSpace(v)
			}
		case (strings.HasPrefix(upper, "TEL:") || strings.HasPrefix(upper, "TEL;")) && cur.Phone == "":
			params, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			cur.Phone = strings.TrimSpace(v)
			for _, p := range strings.Split(params, ";") {
				if k, waid, ok := strings.Cut(p, "="); ok && strings.EqualFold(k, "waid") && waid != "" && digits(waid) == waid {
					// The WhatsApp id is the number in international form, without
					// the address book's local formatting.
					cur.Phone = "+" + waid
				}
			}
		}
	}
	return out
}

// phoneLike reports whether s is written only with what phone numbers are written with.
func phoneLike(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789+-() .", r) {
			return false
		}
	}
	return true
}

func unixTime(s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}
