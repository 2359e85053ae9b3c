package vk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/omnichat/omnichat/providers"
)

// chatPeerBase: peer ids from 2000000000 up are group conversations ("chats"); in them a
// community's message id is 0 and messages are identified by conversation_message_id.
const chatPeerBase = 2000000000

// maxForwardDepth bounds how deep forwarded messages are unpacked (VK nests them).
const maxForwardDepth = 2

// message is a VK message object (API 5.199) with the fields we read. We decode only
// those: a field VK adds or reshapes in an attachment we do not use cannot make a visitor's
// message fail to parse.
type message struct {
	ID                    int64           `json:"id"`
	ConversationMessageID int64           `json:"conversation_message_id"`
	Date                  int64           `json:"date"`
	UpdateTime            int64           `json:"update_time"`
	FromID                int64           `json:"from_id"`
	PeerID                int64           `json:"peer_id"`
	Text                  string          `json:"text"`
	Attachments           []attachment    `json:"attachments"`
	Geo                   *geo            `json:"geo"`
	Payload               json.RawMessage `json:"payload"`
	Ref                   string          `json:"ref"`
	FwdMessages           []message       `json:"fwd_messages"`
	ReplyMessage          *message        `json:"reply_message"`
	Action                *struct {
		Type string `json:"type"`
	} `json:"action"`
}

// clientInfo tells what the visitor's app supports (message_new only).
type clientInfo struct {
	ButtonActions []string `json:"button_actions"`
	LangID        *int     `json:"lang_id"`
}

// attachment is {"type": T, T: {…}}: Body is the object under the key named by Type.
type attachment struct {
	Type string
	Body json.RawMessage
}

func (a *attachment) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if err := json.Unmarshal(m["type"], &a.Type); err != nil || a.Type == "" {
		return errors.New("attachment without a type")
	}
	a.Body = m[a.Type]
	return nil
}

type photoSize struct {
	Type   string `json:"type"`
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

type photo struct {
	ID        int64       `json:"id"`
	OwnerID   int64       `json:"owner_id"`
	Sizes     []photoSize `json:"sizes"`
	OrigPhoto *photoSize  `json:"orig_photo"`
}

type doc struct {
	ID      int64  `json:"id"`
	OwnerID int64  `json:"owner_id"`
	Title   string `json:"title"`
	Size    int64  `json:"size"`
	Ext     string `json:"ext"`
	URL     string `json:"url"`
	Type    int    `json:"type"` // 3 gif, 4 image, …
}

type audioMessage struct {
	LinkOGG  string `json:"link_ogg"`
	LinkMP3  string `json:"link_mp3"`
	Duration int    `json:"duration"`
}

type stickerImage struct {
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

type sticker struct {
	StickerID            int64          `json:"sticker_id"`
	Images               []stickerImage `json:"images"`
	ImagesWithBackground []stickerImage `json:"images_with_background"`
}

type audio struct {
	ID      int64  `json:"id"`
	OwnerID int64  `json:"owner_id"`
	Artist  string `json:"artist"`
	Title   string `json:"title"`
	URL     string `json:"url"`
}

type link struct {
	URL   string `json:"url"`
	Title string `json:"title"`
}

// objectRef is what most attachable objects have: enough to link to them on vk.com.
type objectRef struct {
	ID      int64  `json:"id"`
	OwnerID int64  `json:"owner_id"`
	ToID    int64  `json:"to_id"` // wall posts
	Title   string `json:"title"`
}

type geo struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
	Place       *struct {
		Title string `json:"title"`
	} `json:"place"`
}

// messageEvent is a callback button press.
type messageEvent struct {
	UserID                int64           `json:"user_id"`
	PeerID                int64           `json:"peer_id"`
	EventID               string          `json:"event_id"`
	Payload               json.RawMessage `json:"payload"`
	ConversationMessageID int64           `json:"conversation_message_id"`
}

type messageAllow struct {
	UserID int64  `json:"user_id"`
	Key    string `json:"key"`
}

type messageDeny struct {
	UserID int64 `json:"user_id"`
}

type messageRead struct {
	FromID        int64 `json:"from_id"`
	PeerID        int64 `json:"peer_id"`
	ReadMessageID int64 `json:"read_message_id"`
}

// EventFilter implements providers.Provider. VK puts its only credential, the callback
// server's secret key, inside the JSON body, so the envelope is decoded first; nothing
// else is looked at before the secret is compared (in constant time) and the community
// checked. A body that is not JSON cannot be verified and is ErrMalformed.
func (p *Provider) EventFilter(ctx context.Context, ch providers.Channel, r *providers.Request) ([]providers.Event, error) {
	var e envelope
	if err := json.Unmarshal(r.Body, &e); err != nil {
		return nil, fmt.Errorf("%w: vk: %v", providers.ErrMalformed, err)
	}
	if e.Secret == nil {
		return nil, fmt.Errorf("%w: vk: no secret in the event", providers.ErrUnauthorized)
	}
	if !secretOK(ch.Secret, *e.Secret) {
		return nil, fmt.Errorf("%w: vk: wrong secret", providers.ErrUnauthorized)
	}
	c, err := decodeSettings(ch.Settings)
	if err != nil {
		return nil, fmt.Errorf("vk: event filter: %w", err)
	}
	if e.GroupID != c.groupID {
		return nil, fmt.Errorf("%w: vk: event of community %d, the channel is community %d", providers.ErrUnauthorized, e.GroupID, c.groupID)
	}
	evs, err := normalize(c.groupID, e)
	if err != nil {
		return nil, fmt.Errorf("%w: vk %s: %v", providers.ErrMalformed, e.Type, err)
	}
	return evs, nil
}

// normalize turns one verified event into normalized events. Unknown types give none.
func normalize(groupID int64, e envelope) ([]providers.Event, error) {
	switch e.Type {
	case "message_new":
		m, ci, err := decodeMessageNew(e.Object)
		if err != nil {
			return nil, err
		}
		return messageNew(groupID, e.EventID, m, ci)
	case "message_edit":
		var m message
		if err := decodeObject(e.Object, &m); err != nil {
			return nil, err
		}
		return messageEdit(groupID, m)
	case "message_event":
		var o messageEvent
		if err := decodeObject(e.Object, &o); err != nil {
			return nil, err
		}
		if o.UserID <= 0 || o.EventID == "" {
			return nil, errors.New("button press without user_id or event_id")
		}
		_, data := parsePayload(o.Payload, 0)
		return []providers.Event{{
			Kind: providers.EventButton,
			// The press's own event_id: messages.sendMessageEventAnswer needs it (AnswerButton
			// reads it back from here), and VK repeats it when it resends the event.
			ExternalID: o.EventID,
			UserID:     strconv.FormatInt(o.UserID, 10),
			ChatID:     peerOr(o.PeerID, o.UserID),
			Payload:    data,
		}}, nil
	case "message_allow":
		var o messageAllow
		if err := decodeObject(e.Object, &o); err != nil {
			return nil, err
		}
		if o.UserID <= 0 {
			return nil, errors.New("message_allow without user_id")
		}
		return []providers.Event{{
			Kind: providers.EventSubscribed, ExternalID: e.EventID,
			UserID: strconv.FormatInt(o.UserID, 10), Payload: o.Key,
		}}, nil
	case "message_deny":
		var o messageDeny
		if err := decodeObject(e.Object, &o); err != nil {
			return nil, err
		}
		if o.UserID <= 0 {
			return nil, errors.New("message_deny without user_id")
		}
		return []providers.Event{{
			Kind: providers.EventUnsubscribed, ExternalID: e.EventID,
			UserID: strconv.FormatInt(o.UserID, 10),
		}}, nil
	case "message_read":
		// Not in VK's public event list (shared/providers.md: unconfirmed; shape as vksdk's
		// MessageReadObject). read_message_id is taken to be a community message id, as
		// messages.send returns for private dialogs.
		var o messageRead
		if err := decodeObject(e.Object, &o); err != nil {
			return nil, err
		}
		if o.FromID <= 0 || o.ReadMessageID <= 0 {
			return nil, errors.New("message_read without from_id or read_message_id")
		}
		return []providers.Event{{
			Kind: providers.EventRead, ExternalID: e.EventID,
			UserID: strconv.FormatInt(o.FromID, 10), ChatID: peerOr(o.PeerID, o.FromID),
			Refs: []string{strconv.FormatInt(o.ReadMessageID, 10)},
		}}, nil
	default:
		// confirmation (answered by CallbackServerConfirmation), message_reply (every outgoing
		// message, our own included: an echo), message_typing_state, wall, photo… events.
		return nil, nil
	}
}

func decodeObject(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return errors.New("no object")
	}
	return json.Unmarshal(raw, v)
}

// decodeMessageNew reads message_new's object: {"message","client_info"} since API 5.103;
// a callback server left on an older version sends the bare message, accepted too.
func decodeMessageNew(raw json.RawMessage) (message, *clientInfo, error) {
	var o struct {
		Message    *message    `json:"message"`
		ClientInfo *clientInfo `json:"client_info"`
	}
	if err := decodeObject(raw, &o); err != nil {
		return message{}, nil, err
	}
	if o.Message != nil {
		return *o.Message, o.ClientInfo, nil
	}
	var m message
	if err := json.Unmarshal(raw, &m); err != nil {
		return message{}, nil, err
	}
	return m, nil, nil
}

func messageNew(groupID int64, eventID string, m message, ci *clientInfo) ([]providers.Event, error) {
	if m.FromID <= 0 {
		// Not a visitor: a community (ours or another bot in a conversation).
		return nil, nil
	}
	if m.Action != nil && m.Action.Type != "" {
		// A service message in a conversation (members invited or left, title changed…).
		return nil, nil
	}
	ev, err := visitorMessage(groupID, m)
	if err != nil {
		return nil, err
	}
	if ci != nil && ci.LangID != nil {
		ev.User.Language = langCode(*ci.LangID)
	}

	var evs []providers.Event
	switch cmd, data := parsePayload(m.Payload, 0); cmd {
	case "start":
		// The "Start" button VK shows before the first message: the conversation begins. The
		// ref of a vk.me/club…?ref=… link is its deep-link payload.
		evs = append(evs, providers.Event{
			Kind: providers.EventConversationStarted, ExternalID: eventID,
			UserID: ev.UserID, ChatID: ev.ChatID, User: ev.User, Time: ev.Time, Payload: m.Ref,
		})
	case "not_supported_button":
		// The visitor's app cannot show callback buttons and sent the press as a message.
		// There is no press id to answer, so ExternalID stays empty.
		return []providers.Event{{
			Kind: providers.EventButton, UserID: ev.UserID, ChatID: ev.ChatID, User: ev.User,
			Time: ev.Time, Payload: data,
		}}, nil
	}
	if ev.Text != "" || len(ev.Attachments) > 0 {
		evs = append(evs, ev)
	}
	return evs, nil
}

func messageEdit(groupID int64, m message) ([]providers.Event, error) {
	if m.FromID <= 0 {
		// Our own message edited (by an administrator in VK): not a visitor's edit.
		return nil, nil
	}
	ev, err := visitorMessage(groupID, m)
	if err != nil {
		return nil, err
	}
	ev.Kind = providers.EventEdited
	if m.UpdateTime > 0 {
		ev.Time = unixTime(m.UpdateTime)
	}
	if ev.Text == "" && len(ev.Attachments) == 0 {
		return nil, nil
	}
	return []providers.Event{ev}, nil
}

// visitorMessage normalizes a visitor's message (new or edited).
func visitorMessage(groupID int64, m message) (providers.Event, error) {
	if m.PeerID == 0 {
		return providers.Event{}, errors.New("message without peer_id")
	}
	id := messageID(m.PeerID, m)
	if id == "" {
		return providers.Event{}, errors.New("message without id or conversation_message_id")
	}
	ev := providers.Event{
		Kind:       providers.EventMessage,
		ExternalID: id,
		UserID:     strconv.FormatInt(m.FromID, 10),
		ChatID:     strconv.FormatInt(m.PeerID, 10),
		Time:       unixTime(m.Date),
	}
	text, atts, err := content(m, 0)
	if err != nil {
		return providers.Event{}, err
	}
	ev.Text, ev.Attachments = text, atts
	if rm := m.ReplyMessage; rm != nil {
		if rm.FromID == -groupID && rm.ID > 0 {
			// A reply to one of our messages in a private dialog: messages.send gave us its id.
			ev.ReplyTo = strconv.FormatInt(rm.ID, 10)
		} else {
			ev.ReplyTo = messageID(m.PeerID, *rm)
		}
	}
	return ev, nil
}

// messageID is a message's ExternalID: "<peer_id>:<conversation_message_id>", unique in the
// community (message.id is 0 in conversations), falling back to the id for payloads without
// a conversation_message_id.
func messageID(peerID int64, m message) string {
	if m.ConversationMessageID > 0 {
		return strconv.FormatInt(peerID, 10) + ":" + strconv.FormatInt(m.ConversationMessageID, 10)
	}
	if m.ID > 0 {
		return strconv.FormatInt(m.ID, 10)
	}
	return ""
}

// content returns a message's text and attachments, with forwarded messages quoted below
// the text and their attachments appended.
func content(m message, depth int) (string, []providers.Attachment, error) {
	text := m.Text
	var atts []providers.Attachment
	for _, a := range m.Attachments {
		att, ok, err := convertAttachment(a)
		if err != nil {
			return "", nil, err
		}
		if ok {
			atts = append(atts, att)
		}
	}
	if m.Geo != nil {
		att, ok, err := location(*m.Geo)
		if err != nil {
			return "", nil, err
		}
		if ok {
			atts = append(atts, att)
		}
	}
	if depth >= maxForwardDepth {
		return text, atts, nil
	}
	for _, f := range m.FwdMessages {
		ft, fa, err := content(f, depth+1)
		if err != nil {
			return "", nil, err
		}
		if ft != "" {
			if text != "" {
				text += "\n\n"
			}
			text += quote(ft)
		}
		atts = append(atts, fa...)
	}
	return text, atts, nil
}

func quote(s string) string {
	return "> " + strings.ReplaceAll(s, "\n", "\n> ")
}

// convertAttachment normalizes one attachment; ok=false drops one we cannot show (VK also
// sends attachments without any address, e.g. a deleted post).
func convertAttachment(a attachment) (providers.Attachment, bool, error) {
	if len(a.Body) == 0 {
		return providers.Attachment{}, false, nil
	}
	switch a.Type {
	case "photo":
		var ph photo
		if err := json.Unmarshal(a.Body, &ph); err != nil {
			return providers.Attachment{}, false, fmt.Errorf("photo: %w", err)
		}
		u := largestPhoto(ph)
		if u == "" {
			return providers.Attachment{}, false, nil
		}
		return providers.Attachment{Kind: providers.AttachImage, URL: u, MIME: "image/jpeg",
			Name: fmt.Sprintf("photo%d_%d.jpg", ph.OwnerID, ph.ID)}, true, nil
	case "doc":
		var d doc
		if err := json.Unmarshal(a.Body, &d); err != nil {
			return providers.Attachment{}, false, fmt.Errorf("doc: %w", err)
		}
		if d.URL == "" {
			return providers.Attachment{}, false, nil
		}
		kind := providers.AttachFile
		if d.Type == 3 || d.Type == 4 { // gif, image
			kind = providers.AttachImage
		}
		return providers.Attachment{Kind: kind, URL: d.URL, Name: docName(d), MIME: extMIME(d.Ext), Size: d.Size}, true, nil
	case "audio_message":
		var am audioMessage
		if err := json.Unmarshal(a.Body, &am); err != nil {
			return providers.Attachment{}, false, fmt.Errorf("audio_message: %w", err)
		}
		switch {
		case am.LinkOGG != "":
			return providers.Attachment{Kind: providers.AttachVoice, URL: am.LinkOGG, Name: "voice.ogg", MIME: "audio/ogg"}, true, nil
		case am.LinkMP3 != "":
			return providers.Attachment{Kind: providers.AttachVoice, URL: am.LinkMP3, Name: "voice.mp3", MIME: "audio/mpeg"}, true, nil
		}
		return providers.Attachment{}, false, nil
	case "sticker":
		var st sticker
		if err := json.Unmarshal(a.Body, &st); err != nil {
			return providers.Attachment{}, false, fmt.Errorf("sticker: %w", err)
		}
		u := largestImage(st.Images)
		if u == "" {
			u = largestImage(st.ImagesWithBackground)
		}
		if u == "" {
			return providers.Attachment{}, false, nil
		}
		return providers.Attachment{Kind: providers.AttachSticker, URL: u, MIME: "image/png",
			Name: fmt.Sprintf("sticker%d.png", st.StickerID)}, true, nil
	case "audio":
		var au audio
		if err := json.Unmarshal(a.Body, &au); err != nil {
			return providers.Attachment{}, false, fmt.Errorf("audio: %w", err)
		}
		name := strings.TrimSpace(strings.Trim(au.Artist+" — "+au.Title, " —"))
		if au.URL != "" {
			return providers.Attachment{Kind: providers.AttachAudio, URL: au.URL, Name: name, MIME: "audio/mpeg"}, true, nil
		}
		if au.ID != 0 {
			return providers.Attachment{Kind: providers.AttachLink, URL: fmt.Sprintf("https://vk.com/audio%d_%d", au.OwnerID, au.ID), Name: name}, true, nil
		}
		return providers.Attachment{}, false, nil
	case "link":
		var l link
		if err := json.Unmarshal(a.Body, &l); err != nil {
			return providers.Attachment{}, false, fmt.Errorf("link: %w", err)
		}
		if l.URL == "" {
			return providers.Attachment{}, false, nil
		}
		return providers.Attachment{Kind: providers.AttachLink, URL: l.URL, Name: l.Title}, true, nil
	default:
		// Videos (VK gives no file address for them), wall posts, polls, market items…: a
		// link to the object on vk.com, which the operator can open.
		var o objectRef
		if err := json.Unmarshal(a.Body, &o); err != nil {
			// An object of a type we do not read, in a shape we do not expect: nothing to show.
			return providers.Attachment{}, false, nil
		}
		owner := o.OwnerID
		if owner == 0 {
			owner = o.ToID
		}
		if o.ID == 0 || owner == 0 || !isIdent(a.Type) {
			return providers.Attachment{}, false, nil
		}
		name := o.Title
		if name == "" {
			name = "VK " + a.Type
		}
		return providers.Attachment{Kind: providers.AttachLink, URL: fmt.Sprintf("https://vk.com/%s%d_%d", a.Type, owner, o.ID), Name: name}, true, nil
	}
}

// isIdent reports whether s is a plain lowercase identifier, safe to put into a URL path.
func isIdent(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z') && r != '_' {
			return false
		}
	}
	return true
}

// largestPhoto picks the original when VK gives it, else the biggest size.
func largestPhoto(ph photo) string {
	if ph.OrigPhoto != nil && ph.OrigPhoto.URL != "" {
		return ph.OrigPhoto.URL
	}
	best, bestArea := "", -1
	for _, s := range ph.Sizes {
		if s.URL == "" {
			continue
		}
		// Sizes come smallest first; on equal (or unknown, 0) area the later one wins.
		if area := s.Width * s.Height; area >= bestArea {
			best, bestArea = s.URL, area
		}
	}
	return best
}

func largestImage(imgs []stickerImage) string {
	best, bestArea := "", -1
	for _, im := range imgs {
		if im.URL == "" {
			continue
		}
		if area := im.Width * im.Height; area >= bestArea {
			best, bestArea = im.URL, area
		}
	}
	return best
}

func docName(d doc) string {
	name := d.Title
	if name == "" {
		name = fmt.Sprintf("doc%d_%d", d.OwnerID, d.ID)
	}
	if d.Ext != "" && !strings.HasSuffix(strings.ToLower(name), "."+strings.ToLower(d.Ext)) {
		name += "." + d.Ext
	}
	return name
}

func extMIME(ext string) string {
	if ext == "" {
		return ""
	}
	t := mime.TypeByExtension("." + strings.ToLower(ext))
	if mt, _, err := mime.ParseMediaType(t); err == nil {
		return mt
	}
	return ""
}

// location reads a message's geo point. API 5.199 sends coordinates as an object; old
// versions sent "lat lon" as a string.
func location(g geo) (providers.Attachment, bool, error) {
	raw := bytes.TrimSpace(g.Coordinates)
	if len(raw) == 0 || string(raw) == "null" {
		return providers.Attachment{}, false, nil
	}
	var lat, lon float64
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return providers.Attachment{}, false, fmt.Errorf("geo: %w", err)
		}
		f := strings.Fields(s)
		if len(f) != 2 {
			return providers.Attachment{}, false, fmt.Errorf("geo: coordinates %q", s)
		}
		var err1, err2 error
		lat, err1 = strconv.ParseFloat(f[0], 64)
		lon, err2 = strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			return providers.Attachment{}, false, fmt.Errorf("geo: coordinates %q", s)
		}
	} else {
		var c struct {
			Latitude  float64 `json:"latitude"`
			Longitude float64 `json:"longitude"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return providers.Attachment{}, false, fmt.Errorf("geo: %w", err)
		}
		lat, lon = c.Latitude, c.Longitude
	}
	if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return providers.Attachment{}, false, fmt.Errorf("geo: coordinates out of range")
	}
	att := providers.Attachment{Kind: providers.AttachLocation, Lat: lat, Lon: lon}
	if g.Place != nil {
		att.Name = g.Place.Title
	}
	return att, true, nil
}

// parsePayload reads a button payload: a JSON string holding JSON (message_new) or a JSON
// object (message_event). It returns VK's "command" ("start" from the Start button,
// "not_supported_button" when the visitor's app cannot show a callback button) and the
// button's data: our {"data": …} field, or the payload as given when it is someone else's.
func parsePayload(raw json.RawMessage, depth int) (command, data string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", ""
	}
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return "", ""
		}
	}
	var f struct {
		Command *string         `json:"command"`
		Data    *string         `json:"data"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal([]byte(text), &f); err != nil {
		return "", text
	}
	if f.Command != nil {
		command = *f.Command
		if command == "not_supported_button" && depth < 2 {
			_, data = parsePayload(f.Payload, depth+1)
			return command, data
		}
	}
	if f.Data != nil {
		return command, *f.Data
	}
	if command != "" {
		return command, ""
	}
	return "", text
}

func peerOr(peerID, userID int64) string {
	if peerID != 0 {
		return strconv.FormatInt(peerID, 10)
	}
	return strconv.FormatInt(userID, 10)
}

// unixTime converts VK's Unix seconds; 0 means "not given".
func unixTime(s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// langCodes maps client_info.lang_id to language codes (VK's numbering).
var langCodes = map[int]string{
	0: "ru", 1: "uk", 2: "be", 3: "en", 4: "es", 5: "fi", 6: "de", 7: "it", 8: "bg", 9: "hr",
	10: "hu", 11: "sr", 12: "pt", 14: "el", 15: "pl", 16: "fr", 17: "ko", 18: "zh", 19: "lt",
	20: "ja", 21: "cs", 22: "et", 50: "tt", 51: "ba", 52: "cv", 53: "sk", 54: "ro", 55: "no",
	56: "lv", 57: "az", 58: "hy", 59: "sq", 60: "sv", 61: "nl", 62: "tk", 63: "ka", 64: "da",
	65: "uz",
}

func langCode(id int) string { return langCodes[id] }
