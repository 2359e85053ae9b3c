package telegram

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/omnichat/omnichat/providers"
)

// The wire types below hold only what EventFilter reads. encoding/json ignores every
// other field, so new Telegram fields and values never make an update undecodable.

type wireUpdate struct {
	UpdateID      *int64            `json:"update_id"`
	Message       *wireMessage      `json:"message"`
	EditedMessage *wireMessage      `json:"edited_message"`
	CallbackQuery *wireCallback     `json:"callback_query"`
	MyChatMember  *wireMemberUpdate `json:"my_chat_member"`
}

type wireUser struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Username     string `json:"username"`
	LanguageCode string `json:"language_code"`
}

type wireChat struct {
	ID   int64  `json:"id"`
	Type string `json:"type"` // private, group, supergroup, channel
}

type wireEntity struct {
	Type   string `json:"type"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
}

type wireFile struct {
	FileID    string `json:"file_id"`
	FileName  string `json:"file_name"`
	MimeType  string `json:"mime_type"`
	FileSize  int64  `json:"file_size"`
	Title     string `json:"title"`     // audio
	Performer string `json:"performer"` // audio
}

type wireSticker struct {
	FileID     string `json:"file_id"`
	FileSize   int64  `json:"file_size"`
	IsAnimated bool   `json:"is_animated"`
	IsVideo    bool   `json:"is_video"`
}

type wireLocation struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

type wireContact struct {
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	UserID      int64  `json:"user_id"`
}

type wireMessage struct {
	MessageID int64        `json:"message_id"`
	From      *wireUser    `json:"from"`
	Chat      wireChat     `json:"chat"`
	Date      int64        `json:"date"`
	EditDate  int64        `json:"edit_date"`
	Text      string       `json:"text"`
	Caption   string       `json:"caption"`
	Entities  []wireEntity `json:"entities"`
	ReplyTo   *struct {
		MessageID int64 `json:"message_id"`
	} `json:"reply_to_message"`

	Photo     []wireFile    `json:"photo"` // sizes, smallest first
	Document  *wireFile     `json:"document"`
	Animation *wireFile     `json:"animation"`
	Video     *wireFile     `json:"video"`
	VideoNote *wireFile     `json:"video_note"`
	Audio     *wireFile     `json:"audio"`
	Voice     *wireFile     `json:"voice"`
	Sticker   *wireSticker  `json:"sticker"`
	Location  *wireLocation `json:"location"`
	Venue     *struct {
		Title   string `json:"title"`
		Address string `json:"address"`
	} `json:"venue"`
	Contact *wireContact `json:"contact"`
}

type wireCallback struct {
	ID      string    `json:"id"`
	From    *wireUser `json:"from"`
	Message *struct {
		MessageID int64    `json:"message_id"`
		Chat      wireChat `json:"chat"`
	} `json:"message"` // absent for buttons under inline-mode messages
	Data string `json:"data"`
}

type wireMemberUpdate struct {
	Chat          wireChat  `json:"chat"`
	From          *wireUser `json:"from"`
	Date          int64     `json:"date"`
	NewChatMember struct {
		Status string `json:"status"`
	} `json:"new_chat_member"`
}

// EventFilter implements providers.Provider. It checks the secret_token header first (in
// constant time), then decodes the update. It makes no network calls: button presses are
// acknowledged later through AnswerButton.
//
// Event ids: messages (and edits, and /start) are "<chat_id>:<message_id>" because
// Telegram numbers messages per chat; button presses are "cb:<callback_query_id>";
// block/unblock events are "upd:<update_id>". All of them repeat on Telegram's retries.
func (p *Provider) EventFilter(_ context.Context, ch providers.Channel, r *providers.Request) ([]providers.Event, error) {
	if !secretMatches(ch.Secret, r.Header.Get(SecretTokenHeader)) {
		return nil, fmt.Errorf("telegram webhook: %w", providers.ErrUnauthorized)
	}
	var u wireUpdate
	if err := json.Unmarshal(r.Body, &u); err != nil {
		return nil, fmt.Errorf("telegram webhook: %w: %v", providers.ErrMalformed, err)
	}
	if u.UpdateID == nil {
		return nil, fmt.Errorf("telegram webhook: %w: no update_id", providers.ErrMalformed)
	}
	f := newFilter(ch.Settings)
	switch {
	case u.Message != nil:
		return f.message(u.Message, false)
	case u.EditedMessage != nil:
		return f.message(u.EditedMessage, true)
	case u.CallbackQuery != nil:
		return f.callback(u.CallbackQuery)
	case u.MyChatMember != nil:
		return f.memberUpdate(*u.UpdateID, u.MyChatMember)
	}
	// channel_post, inline_query, poll, reactions…: not for omnichat.
	return nil, nil
}

// secretMatches compares the header with the channel's secret in constant time. A
// channel without a secret accepts nothing.
func secretMatches(secret, got string) bool {
	return secret != "" && subtle.ConstantTimeCompare([]byte(got), []byte(secret)) == 1
}

// filter holds what EventFilter needs from the settings. It reads them leniently: a bad
// value must not turn verified updates into errors that Telegram would retry forever.
type filter struct {
	allowGroups bool
	botID       int64
	botName     string
}

func newFilter(s providers.Settings) filter {
	allow, _ := strconv.ParseBool(strings.TrimSpace(s[SettingAllowGroups]))
	return filter{
		allowGroups: allow,
		botID:       botIDFromToken(strings.TrimSpace(s[SettingToken])),
		botName:     strings.TrimPrefix(s[SettingBotName], "@"),
	}
}

func (f filter) chatAllowed(chatType string) bool {
	switch chatType {
	case "private":
		return true
	case "group", "supergroup":
		return f.allowGroups
	default: // channels are broadcasts, not conversations
		return false
	}
}

func malformed(what string) error {
	return fmt.Errorf("telegram webhook: %w: %s", providers.ErrMalformed, what)
}

func (f filter) message(m *wireMessage, edited bool) ([]providers.Event, error) {
	if m.MessageID == 0 || m.Chat.ID == 0 {
		return nil, malformed("message without message_id or chat.id")
	}
	if !f.chatAllowed(m.Chat.Type) {
		return nil, nil
	}
	// No sender: a post on behalf of a channel or an anonymous admin. Bots, including
	// ourselves, are not visitors.
	if m.From == nil || m.From.ID == 0 || m.From.IsBot || m.From.ID == f.botID {
		return nil, nil
	}
	ev := providers.Event{
		Kind:        providers.EventMessage,
		ExternalID:  messageID(m.Chat.ID, m.MessageID),
		UserID:      formatID(m.From.ID),
		ChatID:      formatID(m.Chat.ID),
		User:        userInfo(m.From),
		Time:        unixTime(m.Date),
		Text:        m.Text,
		Attachments: attachments(m),
	}
	if ev.Text == "" {
		ev.Text = m.Caption
	}
	if m.ReplyTo != nil && m.ReplyTo.MessageID != 0 {
		ev.ReplyTo = messageID(m.Chat.ID, m.ReplyTo.MessageID)
	}
	if c := m.Contact; c != nil && c.UserID != 0 && c.UserID == m.From.ID {
		ev.User.Phone = ownPhone(c.PhoneNumber)
	}
	if ev.Text == "" && len(ev.Attachments) == 0 {
		return nil, nil // service messages, polls, dice, games…
	}
	switch {
	case edited:
		ev.Kind = providers.EventEdited
		if m.EditDate != 0 {
			ev.Time = unixTime(m.EditDate)
		}
	default:
		if payload, ok := f.startPayload(m); ok {
			ev.Kind = providers.EventConversationStarted
			ev.Payload = payload
		}
	}
	return []providers.Event{ev}, nil
}

// startPayload recognises "/start" and "/start <payload>" (what a t.me/<bot>?start=<payload>
// link sends), addressed to us when the command names a bot.
func (f filter) startPayload(m *wireMessage) (string, bool) {
	if len(m.Entities) == 0 || m.Entities[0].Type != "bot_command" || m.Entities[0].Offset != 0 {
		return "", false
	}
	cmd, rest, _ := strings.Cut(m.Text, " ")
	cmd, target, _ := strings.Cut(cmd, "@")
	if cmd != "/start" || (target != "" && f.botName != "" && !strings.EqualFold(target, f.botName)) {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

func attachments(m *wireMessage) []providers.Attachment {
	var as []providers.Attachment
	if n := len(m.Photo); n > 0 && m.Photo[n-1].FileID != "" {
		largest := m.Photo[n-1] // sizes come smallest first
		as = append(as, providers.Attachment{Kind: providers.AttachImage, Ref: largest.FileID,
			MIME: "image/jpeg", Size: largest.FileSize}) // Telegram re-encodes photos as JPEG
	}
	addFile := func(kind providers.AttachmentKind, f *wireFile, defaultMIME string) {
		if f == nil || f.FileID == "" {
			return
		}
		att := providers.Attachment{Kind: kind, Ref: f.FileID, Name: f.FileName, MIME: f.MimeType, Size: f.FileSize}
		if att.MIME == "" {
			att.MIME = defaultMIME
		}
		if att.Name == "" && (f.Performer != "" || f.Title != "") { // audio without a file name
			att.Name = strings.Trim(f.Performer+" - "+f.Title, " -")
		}
		as = append(as, att)
	}
	// An animation (GIF) also comes as a document, for old clients; take it once.
	if m.Document != nil {
		addFile(providers.AttachFile, m.Document, "application/octet-stream")
	} else {
		addFile(providers.AttachVideo, m.Animation, "video/mp4")
	}
	addFile(providers.AttachVideo, m.Video, "video/mp4")
	addFile(providers.AttachVideo, m.VideoNote, "video/mp4")
	addFile(providers.AttachAudio, m.Audio, "audio/mpeg")
	addFile(providers.AttachVoice, m.Voice, "audio/ogg")
	if s := m.Sticker; s != nil && s.FileID != "" {
		att := providers.Attachment{Kind: providers.AttachSticker, Ref: s.FileID, Size: s.FileSize,
			MIME: "image/webp", Name: "sticker.webp"}
		switch {
		case s.IsAnimated:
			att.MIME, att.Name = "application/x-tgsticker", "sticker.tgs"
		case s.IsVideo:
			att.MIME, att.Name = "video/webm", "sticker.webm"
		}
		as = append(as, att)
	}
	if l := m.Location; l != nil {
		att := providers.Attachment{Kind: providers.AttachLocation, Lat: l.Latitude, Lon: l.Longitude}
		if v := m.Venue; v != nil {
			att.Name = strings.Trim(v.Title+", "+v.Address, " ,")
		}
		as = append(as, att)
	}
	if c := m.Contact; c != nil && c.PhoneNumber != "" {
		as = append(as, providers.Attachment{Kind: providers.AttachContact, Phone: c.PhoneNumber,
			OwnPhone: c.UserID != 0 && m.From != nil && c.UserID == m.From.ID,
			Contact:  strings.TrimSpace(c.FirstName + " " + c.LastName)})
	}
	return as
}

func (f filter) callback(q *wireCallback) ([]providers.Event, error) {
	if q.ID == "" || q.From == nil || q.From.ID == 0 {
		return nil, malformed("callback_query without id or from")
	}
	// Buttons under inline-mode messages and game buttons are not ours.
	if q.Message == nil || q.Data == "" || !f.chatAllowed(q.Message.Chat.Type) {
		return nil, nil
	}
	ev := providers.Event{
		Kind:       providers.EventButton,
		ExternalID: "cb:" + q.ID,
		UserID:     formatID(q.From.ID),
		ChatID:     formatID(q.Message.Chat.ID),
		User:       userInfo(q.From),
		Payload:    q.Data,
	}
	if q.Message.MessageID != 0 {
		ev.ReplyTo = messageID(q.Message.Chat.ID, q.Message.MessageID)
	}
	return []providers.Event{ev}, nil
}

// memberUpdate turns the bot's own membership changes in private chats into
// unsubscribed (the visitor blocked the bot) and subscribed (unblocked) events. In groups
// they mean the bot was added or removed, which is no visitor event.
func (f filter) memberUpdate(updateID int64, m *wireMemberUpdate) ([]providers.Event, error) {
	if m.Chat.ID == 0 || m.From == nil || m.From.ID == 0 {
		return nil, malformed("my_chat_member without chat.id or from")
	}
	if m.Chat.Type != "private" {
		return nil, nil
	}
	var kind providers.EventKind
	switch m.NewChatMember.Status {
	case "kicked":
		kind = providers.EventUnsubscribed
	case "member":
		kind = providers.EventSubscribed
	default:
		return nil, nil
	}
	return []providers.Event{{
		Kind:       kind,
		ExternalID: "upd:" + strconv.FormatInt(updateID, 10),
		UserID:     formatID(m.Chat.ID), // in a private chat the chat id is the user's id
		ChatID:     formatID(m.Chat.ID),
		User:       userInfo(m.From),
		Time:       unixTime(m.Date),
	}}, nil
}

func userInfo(u *wireUser) providers.UserInfo {
	return providers.UserInfo{FirstName: u.FirstName, LastName: u.LastName, Username: u.Username, Language: u.LanguageCode}
}

// ownPhone formats the number of a visitor who shared their own contact. Telegram gives
// it in international format, usually without the "+", which the core needs to match
// records by phone.
func ownPhone(p string) string {
	p = strings.TrimSpace(p)
	if p == "" || strings.HasPrefix(p, "+") {
		return p
	}
	for _, r := range p {
		if r < '0' || r > '9' {
			return p
		}
	}
	return "+" + p
}

func formatID(id int64) string { return strconv.FormatInt(id, 10) }

// messageID is a message's id unique within the channel.
func messageID(chatID, msgID int64) string {
	return strconv.FormatInt(chatID, 10) + ":" + strconv.FormatInt(msgID, 10)
}

// parseMessageID splits "<chat_id>:<message_id>"; a bare message id uses defaultChat.
func parseMessageID(externalID, defaultChat string) (chat string, msg int, err error) {
	chat, m, ok := strings.Cut(externalID, ":")
	if !ok {
		chat, m = defaultChat, externalID
	}
	msg, err = strconv.Atoi(m)
	if err != nil || msg <= 0 || chat == "" {
		return "", 0, fmt.Errorf("not a Telegram message id: %q", externalID)
	}
	return chat, msg, nil
}

func unixTime(sec int64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}
