package example

import (
	"encoding/json"
	"time"
)

// This file holds the platform's webhook wire format and builders for it.
//
// The update types are exported because the core's end-to-end tests and `omnichat loadtest`
// build realistic updates with them (a load test must not import test packages). The
// outbound request types stay unexported: the fake platform (exampletest) keeps its own copy
// of them, written from the platform's documentation, so a wrong JSON tag here shows up as a
// failing test instead of being mirrored by the fake.

// Update types as the platform names them in Update.Type.
const (
	TypeMessage      = "message"
	TypeEdited       = "edited"
	TypeButton       = "button"
	TypeDelivered    = "delivered"
	TypeRead         = "read"
	TypeFailed       = "failed"
	TypeSubscribed   = "subscribed"
	TypeUnsubscribed = "unsubscribed"
	TypeStarted      = "started"
)

// Update is one webhook update. Type says which of the pointers is set. The platform may
// batch several: {"updates":[Update, …]}.
type Update struct {
	UpdateID int64        `json:"update_id"` // repeated when the platform retries a delivery
	Type     string       `json:"type"`
	Message  *Message     `json:"message,omitempty"` // message, edited
	Button   *ButtonPress `json:"button,omitempty"`  // button
	Receipt  *Receipt     `json:"receipt,omitempty"` // delivered, read, failed
	Member   *Member      `json:"member,omitempty"`  // subscribed, unsubscribed, started
}

// Message is a visitor's message. Ids are global on this platform (unique per bot, not per
// chat), so the id alone identifies the message within a channel.
type Message struct {
	ID          int64        `json:"id"`
	ChatID      string       `json:"chat_id"`
	From        User         `json:"from"`
	Date        int64        `json:"date"`                // Unix seconds
	EditDate    int64        `json:"edit_date,omitempty"` // Unix seconds, edited only
	Text        string       `json:"text,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
	ReplyTo     int64        `json:"reply_to,omitempty"` // id of the message this one answers
}

// User is the sender as the platform describes it in updates.
type User struct {
	ID        string `json:"id"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
	Language  string `json:"language,omitempty"`
	// IsBot is set on echoes: the platform also reports messages our bot sent.
	IsBot bool `json:"is_bot,omitempty"`
}

// Attachment is one attachment of a message. Files come with a direct URL, or (large files,
// voice notes) with a FileID that GET /files/{file_id} turns into a URL.
type Attachment struct {
	Type   string `json:"type"` // image, video, audio, voice, file, sticker, location, contact
	URL    string `json:"url,omitempty"`
	FileID string `json:"file_id,omitempty"`
	Name   string `json:"name,omitempty"`
	MIME   string `json:"mime,omitempty"`
	Size   int64  `json:"size,omitempty"`
	// location
	Lat float64 `json:"lat,omitempty"`
	Lon float64 `json:"lon,omitempty"`
	// contact: ContactUserID equals the sender's id when they shared their own number.
	Phone         string `json:"phone,omitempty"`
	ContactName   string `json:"contact_name,omitempty"`
	ContactUserID string `json:"contact_user_id,omitempty"`
}

// ButtonPress is a press on a button under one of our messages.
type ButtonPress struct {
	ID        string `json:"id"` // the press's id, repeated on retries; answer it with POST /buttons/{id}/answer
	ChatID    string `json:"chat_id"`
	From      User   `json:"from"`
	MessageID int64  `json:"message_id"` // our message that carried the button
	Data      string `json:"data"`       // the button's data as we sent it
	Date      int64  `json:"date"`
}

// Receipt reports delivery, reading or failure of our messages: by id, or with a Watermark
// meaning "every message up to this time".
type Receipt struct {
	ChatID     string  `json:"chat_id"`
	UserID     string  `json:"user_id"`
	MessageIDs []int64 `json:"message_ids,omitempty"`
	Watermark  int64   `json:"watermark,omitempty"` // Unix seconds
	Date       int64   `json:"date"`
	Reason     string  `json:"reason,omitempty"` // failed only
}

// Member reports a visitor subscribing, unsubscribing (blocking the bot) or opening the
// chat for the first time through a link (started, with the link's payload).
type Member struct {
	ChatID  string `json:"chat_id"`
	User    User   `json:"user"`
	Date    int64  `json:"date"`
	Payload string `json:"payload,omitempty"`
}

// Marshal returns the update's JSON as the platform sends it.
func (u Update) Marshal() []byte {
	b, err := json.Marshal(u)
	if err != nil {
		// Update holds only strings, numbers, bools and slices of them: Marshal cannot fail.
		panic("example: marshal update: " + err.Error())
	}
	return b
}

// NewMessageUpdate builds a text message update as the platform sends it. An empty chatID
// is replaced by userID (a private chat). It is cheap enough for load tests: one
// json.Marshal of a small struct.
func NewMessageUpdate(updateID, msgID int64, userID, chatID, first, last, text string, t time.Time) []byte {
	if chatID == "" {
		chatID = userID
	}
	return Update{
		UpdateID: updateID,
		Type:     TypeMessage,
		Message: &Message{
			ID:     msgID,
			ChatID: chatID,
			From:   User{ID: userID, FirstName: first, LastName: last},
			Date:   t.Unix(),
			Text:   text,
		},
	}.Marshal()
}

// NewButtonUpdate builds a button press on our message msgID carrying data.
func NewButtonUpdate(updateID int64, pressID, userID, chatID string, msgID int64, data string, t time.Time) []byte {
	if chatID == "" {
		chatID = userID
	}
	return Update{
		UpdateID: updateID,
		Type:     TypeButton,
		Button: &ButtonPress{
			ID: pressID, ChatID: chatID, From: User{ID: userID}, MessageID: msgID, Data: data, Date: t.Unix(),
		},
	}.Marshal()
}

// NewReceiptUpdate builds a delivered, read or failed receipt (typ is TypeDelivered,
// TypeRead or TypeFailed) for our messages msgIDs.
func NewReceiptUpdate(updateID int64, typ, userID, chatID string, msgIDs []int64, t time.Time) []byte {
	if chatID == "" {
		chatID = userID
	}
	return Update{
		UpdateID: updateID,
		Type:     typ,
		Receipt:  &Receipt{ChatID: chatID, UserID: userID, MessageIDs: msgIDs, Date: t.Unix()},
	}.Marshal()
}

// NewBatch joins updates (each as built by the functions above) into one batched request
// body {"updates":[…]}, the way the platform sends bursts.
func NewBatch(updates ...[]byte) []byte {
	n := len(`{"updates":[]}`) + len(updates)
	for _, u := range updates {
		n += len(u)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"updates":[`...)
	for i, u := range updates {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, u...)
	}
	return append(b, "]}"...)
}
