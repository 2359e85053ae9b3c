package facebook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
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

// SignatureHeader carries "sha256=" + hex(HMAC-SHA256(app secret, raw body)).
const SignatureHeader = "X-Hub-Signature-256"

// CallbackServerConfirmation answers Meta's verify handshake: a GET with hub.mode=subscribe,
// hub.verify_token and hub.challenge. A matching token gets the challenge back as-is; a
// wrong one gets 403 and an error wrapping ErrUnauthorized. Anything else is not a
// handshake and goes on to EventFilter.
func (p *Provider) CallbackServerConfirmation(ctx context.Context, ch providers.Channel, r *providers.Request) (*providers.Response, bool, error) {
	if r.Method != http.MethodGet || !r.Query.Has("hub.mode") {
		return nil, false, nil
	}
	want := verifyToken(ch)
	got := r.Query.Get("hub.verify_token")
	if r.Query.Get("hub.mode") != "subscribe" || want == "" ||
		subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return &providers.Response{Status: http.StatusForbidden, ContentType: "text/plain; charset=utf-8", Body: []byte("verify token mismatch\n")},
			true, fmt.Errorf("facebook: webhook handshake with a wrong verify token: %w", providers.ErrUnauthorized)
	}
	return &providers.Response{
		Status:      http.StatusOK,
		ContentType: "text/plain; charset=utf-8",
		Body:        []byte(r.Query.Get("hub.challenge")),
		// The challenge is echoed verbatim: keep browsers from sniffing it into HTML.
		Header: http.Header{"X-Content-Type-Options": []string{"nosniff"}},
	}, true, nil
}

// verifySignature checks X-Hub-Signature-256 over the raw body in constant time. The
// legacy SHA-1 X-Hub-Signature is not accepted on its own: Meta sends both.
func verifySignature(appSecret string, header http.Header, body []byte) error {
	if appSecret == "" {
		return fmt.Errorf("facebook: the channel has no app secret to verify webhooks with: %w", providers.ErrUnauthorized)
	}
	v := header.Get(SignatureHeader)
	if v == "" {
		return fmt.Errorf("facebook: no %s header: %w", SignatureHeader, providers.ErrUnauthorized)
	}
	hexSig, ok := strings.CutPrefix(v, "sha256=")
	if !ok {
		return fmt.Errorf("facebook: %s is not sha256=…: %w", SignatureHeader, providers.ErrUnauthorized)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("facebook: %s is not hex: %w", SignatureHeader, providers.ErrUnauthorized)
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("facebook: %s does not match the body: %w", SignatureHeader, providers.ErrUnauthorized)
	}
	return nil
}

// Webhook payload (https://developers.facebook.com/docs/messenger-platform/webhooks):
// {"object":"page","entry":[{"id":PAGE_ID,"time":ms,"messaging":[event…]}]}.
type update struct {
	Object string  `json:"object"`
	Entry  []entry `json:"entry"`
}

type entry struct {
	ID        flexID      `json:"id"`
	Time      msTime      `json:"time"`
	Messaging []messaging `json:"messaging"`
	// standby (we are not the thread owner under the handover protocol) and changes (page
	// feed) are ignored: they are not conversations this app answers.
}

type messaging struct {
	Sender      party        `json:"sender"`
	Recipient   party        `json:"recipient"`
	Timestamp   msTime       `json:"timestamp"`
	Message     *message     `json:"message"`
	MessageEdit *messageEdit `json:"message_edit"`
	Postback    *postback    `json:"postback"`
	Delivery    *delivery    `json:"delivery"`
	Read        *read        `json:"read"`
	Referral    *referral    `json:"referral"`
}

type party struct {
	ID      flexID `json:"id"`
	UserRef string `json:"user_ref"`
}

type message struct {
	MID        string `json:"mid"`
	Text       string `json:"text"`
	IsEcho     bool   `json:"is_echo"`
	QuickReply *struct {
		Payload string `json:"payload"`
	} `json:"quick_reply"`
	ReplyTo *struct {
		MID string `json:"mid"`
	} `json:"reply_to"`
	Attachments []attachment `json:"attachments"`
}

type attachment struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"` // fallback (shared link) attachments carry it here
	// Payload's shape depends on Type (templates, reels, products…); it is decoded per type
	// so one odd attachment cannot make a whole delivery malformed.
	Payload json.RawMessage `json:"payload"`
}

type attachmentPayload struct {
	URL         string `json:"url"`
	Title       string `json:"title"`
	StickerID   flexID `json:"sticker_id"`
	Coordinates *struct {
		Lat  float64 `json:"lat"`
		Long float64 `json:"long"`
	} `json:"coordinates"`
}

type messageEdit struct {
	MID     string `json:"mid"`
	Text    string `json:"text"`
	NumEdit flexID `json:"num_edit"`
}

type postback struct {
	MID      string    `json:"mid"`
	Title    string    `json:"title"`
	Payload  string    `json:"payload"`
	Referral *referral `json:"referral"`
}

type delivery struct {
	MIDs      []string `json:"mids"`
	Watermark msTime   `json:"watermark"`
}

type read struct {
	Watermark msTime `json:"watermark"`
}

type referral struct {
	Ref    string `json:"ref"`
	Source string `json:"source"`
	Type   string `json:"type"`
}

// flexID is an id Meta sends as a string, and in some payloads (test notifications, app_id,
// sticker_id) as a number.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
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
		return fmt.Errorf("id is neither a string nor a number: %w", err)
	}
	*f = flexID(n.String())
	return nil
}

// msTime is a Unix time in milliseconds, Meta's unit for timestamp, time and watermark.
// Test notifications from the app dashboard send it as a string, sometimes in seconds.
type msTime int64

func (t *msTime) UnmarshalJSON(b []byte) error {
	var id flexID
	if err := id.UnmarshalJSON(b); err != nil {
		return err
	}
	if id == "" {
		return nil
	}
	n, err := strconv.ParseInt(string(id), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(id), 64)
		if ferr != nil || f < 0 || f > 1e15 {
			return fmt.Errorf("time %q is not a Unix timestamp", string(id))
		}
		n = int64(f)
	}
	*t = msTime(n)
	return nil
}

// Time converts to time.Time; 0 is the zero time. Values below 1e11 cannot be milliseconds
// of this century (1e11 ms is 1973) and are read as seconds.
func (t msTime) Time() time.Time {
	switch {
	case t <= 0:
		return time.Time{}
	case t < 1e11:
		return time.Unix(int64(t), 0).UTC()
	default:
		return time.UnixMilli(int64(t)).UTC()
	}
}

// EventFilter verifies X-Hub-Signature-256 and turns a delivery into events. One POST may
// hold several entries and several events each. Echoes of the page's own messages,
// reactions, standby (handover) events and entries of other pages give no events.
func (p *Provider) EventFilter(ctx context.Context, ch providers.Channel, r *providers.Request) ([]providers.Event, error) {
	// Only what verification and filtering need is read here, so a setting that is wrong
	// elsewhere cannot turn a forged request into anything but ErrUnauthorized.
	c := config{
		AppSecret: strings.TrimSpace(ch.Settings[SettingAppSecret]),
		PageID:    strings.TrimSpace(ch.Settings[SettingPageID]),
	}
	if err := verifySignature(c.AppSecret, r.Header, r.Body); err != nil {
		return nil, err
	}

	var u update
	if err := json.Unmarshal(r.Body, &u); err != nil {
		return nil, fmt.Errorf("facebook: decoding webhook: %v: %w", err, providers.ErrMalformed)
	}
	if u.Object != "page" {
		// Instagram, permissions, user… objects: not Messenger conversations.
		return nil, nil
	}

	var events []providers.Event
	for _, e := range u.Entry {
		// One app has one callback URL for all the pages it serves: skip other pages'
		// entries instead of opening their dialogs in this channel.
		if c.PageID != "" && string(e.ID) != c.PageID {
			continue
		}
		for _, m := range e.Messaging {
			if ev, ok := convert(c, e, m); ok {
				events = append(events, ev)
			}
		}
	}
	return events, nil
}

// convert turns one messaging item into an event; ok=false for items we ignore.
func convert(c config, e entry, m messaging) (providers.Event, bool) {
	user := string(m.Sender.ID)
	if user == "" || (c.PageID != "" && user == c.PageID) {
		// No page-scoped id (chat plugin guests with only user_ref) or sent by the page
		// itself: nobody to answer.
		return providers.Event{}, false
	}
	at := m.Timestamp.Time()
	if at.IsZero() {
		at = e.Time.Time()
	}
	ev := providers.Event{UserID: user, Time: at}

	switch {
	case m.Message != nil:
		msg := m.Message
		if msg.IsEcho || msg.MID == "" {
			return ev, false
		}
		ev.ExternalID = msg.MID
		ev.Text = msg.Text
		if msg.ReplyTo != nil {
			ev.ReplyTo = msg.ReplyTo.MID
		}
		if msg.QuickReply != nil {
			// A quick reply is a button press that also shows in the thread as the
			// visitor's message: the title is the text.
			ev.Kind = providers.EventButton
			ev.Payload = msg.QuickReply.Payload
			return ev, true
		}
		ev.Kind = providers.EventMessage
		ev.Attachments = convertAttachments(msg.Attachments)
		return ev, ev.Text != "" || len(ev.Attachments) > 0

	case m.MessageEdit != nil:
		if m.MessageEdit.MID == "" {
			return ev, false
		}
		ev.Kind = providers.EventEdited
		ev.ExternalID = m.MessageEdit.MID
		ev.Text = m.MessageEdit.Text
		return ev, ev.Text != ""

	case m.Postback != nil:
		pb := m.Postback
		ev.Kind = providers.EventButton
		ev.ExternalID = pb.MID
		if ev.ExternalID == "" {
			// Old deliveries have no postback.mid; sender and time are what a retry
			// repeats.
			ev.ExternalID = fmt.Sprintf("postback:%s:%d", user, int64(m.Timestamp))
		}
		ev.Text = pb.Title
		ev.Payload = pb.Payload
		return ev, true

	case m.Delivery != nil:
		ev.Kind = providers.EventDelivered
		ev.Refs = m.Delivery.MIDs
		ev.Watermark = m.Delivery.Watermark.Time()
		if ev.Time.IsZero() {
			ev.Time = ev.Watermark
		}
		return ev, len(ev.Refs) > 0 || !ev.Watermark.IsZero()

	case m.Read != nil:
		ev.Kind = providers.EventRead
		ev.Watermark = m.Read.Watermark.Time()
		return ev, !ev.Watermark.IsZero()

	case m.Referral != nil:
		// The visitor came back to an existing thread through an m.me link or an ad;
		// new threads bring the referral in the Get Started postback instead.
		ev.Kind = providers.EventConversationStarted
		ev.Payload = m.Referral.Ref
		return ev, true
	}
	// reaction, optin, account_linking, pass_thread_control, policy_enforcement…
	return ev, false
}

// convertAttachments maps Messenger attachments. URLs are Meta CDN links that expire within
// days: the core downloads them right away.
func convertAttachments(in []attachment) []providers.Attachment {
	// During Meta's 2026 transition a sticker comes twice: as type "sticker" and as an
	// "image" with payload.sticker_id. Keep one.
	hasSticker := false
	for _, a := range in {
		hasSticker = hasSticker || a.Type == "sticker"
	}
	var out []providers.Attachment
	for _, a := range in {
		var pl attachmentPayload
		if len(a.Payload) > 0 && json.Unmarshal(a.Payload, &pl) != nil {
			// An unexpected payload shape (templates, products): keep what the
			// attachment itself says.
			pl = attachmentPayload{}
		}
		link := pl.URL
		if link == "" {
			link = a.URL
		}
		title := a.Title
		if title == "" {
			title = pl.Title
		}
		switch a.Type {
		case "image":
			if pl.StickerID != "" && pl.StickerID != "0" {
				if hasSticker {
					continue
				}
				out = append(out, providers.Attachment{Kind: providers.AttachSticker, URL: link})
				continue
			}
			out = append(out, providers.Attachment{Kind: providers.AttachImage, URL: link})
		case "sticker":
			out = append(out, providers.Attachment{Kind: providers.AttachSticker, URL: link})
		case "video":
			out = append(out, providers.Attachment{Kind: providers.AttachVideo, URL: link})
		case "audio":
			// Voice clips recorded in Messenger arrive as audio too (mp4 files).
			out = append(out, providers.Attachment{Kind: providers.AttachAudio, URL: link})
		case "file":
			out = append(out, providers.Attachment{Kind: providers.AttachFile, URL: link, Name: fileName(link)})
		case "location":
			if pl.Coordinates == nil {
				continue
			}
			out = append(out, providers.Attachment{Kind: providers.AttachLocation, Lat: pl.Coordinates.Lat, Lon: pl.Coordinates.Long, Name: title})
		default:
			// fallback (a shared link), reel, ig_reel, post, share, template…: a link
			// with a title where there is one. A fallback without anything still tells
			// the operator that the visitor sent something Messenger could not pass on.
			if link == "" && title == "" {
				title = "unsupported attachment (" + a.Type + ")"
			}
			out = append(out, providers.Attachment{Kind: providers.AttachLink, URL: link, Name: title})
		}
	}
	return out
}

// fileName takes the file's name from a Meta CDN URL, whose last path element is the
// name the visitor's file had ("…/12345_report.pdf?_nc_cat=…").
func fileName(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	name := path.Base(u.Path)
	if name == "." || name == "/" {
		return ""
	}
	return name
}
