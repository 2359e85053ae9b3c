package chatapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file holds ChatAPI's webhook wire format and builders for it. The types are exported
// because the core's end-to-end tests and load tests build realistic webhooks with them
// (they must not import test packages). The fake platform (chatapitest) keeps its own copy
// of the outbound request shapes, so a wrong JSON tag here fails a test instead of being
// mirrored by the fake.

// Message types ChatAPI reports in Message.Type.
const (
	TypeChat      = "chat"
	TypeImage     = "image"
	TypeVideo     = "video"
	TypeDocument  = "document"
	TypeVoice     = "ptt"
	TypeAudio     = "audio"
	TypeSticker   = "sticker"
	TypeLocation  = "location"
	TypeVCard     = "vcard"
	TypeMultiCard = "multi_vcard"
	TypeCallLog   = "call_log"
)

// Ack statuses ChatAPI reports in Ack.Status.
const (
	AckSent      = "sent"
	AckDelivered = "delivered"
	AckViewed    = "viewed"
	AckPlayed    = "played" // a voice message was listened to
)

// Webhook is one webhook body. ChatAPI posts one kind of notification per request; the
// other fields are absent.
type Webhook struct {
	Messages   []Message         `json:"messages,omitempty"`
	Ack        []Ack             `json:"ack,omitempty"`
	ChatUpdate []json.RawMessage `json:"chatUpdate,omitempty"` // ignored
	InstanceID FlexString        `json:"instanceId,omitempty"`
}

// Message is one message of a "messages" webhook. Ids are global: "false_<chatId>_<hex>"
// for incoming and "true_<chatId>_<hex>" for outgoing messages.
type Message struct {
	ID            string   `json:"id"`
	Body          string   `json:"body"` // text, or a file URL, or "lat;lng", or a vCard
	FromMe        FlexBool `json:"fromMe"`
	Self          FlexInt  `json:"self"`
	IsForwarded   FlexInt  `json:"isForwarded"`
	Author        string   `json:"author"`
	Time          FlexInt  `json:"time"` // Unix seconds
	ChatID        string   `json:"chatId"`
	MessageNumber FlexInt  `json:"messageNumber"`
	Type          string   `json:"type"`
	SenderName    string   `json:"senderName"`
	Caption       *string  `json:"caption"`
	QuotedMsgBody *string  `json:"quotedMsgBody"`
	QuotedMsgID   *string  `json:"quotedMsgId"`
	QuotedMsgType *string  `json:"quotedMsgType"`
	Metadata      any      `json:"metadata"`
	Ack           any      `json:"ack"`
	ChatName      string   `json:"chatName"`
}

// Ack is one delivery receipt about a message we sent.
type Ack struct {
	ID          string  `json:"id"`
	QueueNumber FlexInt `json:"queueNumber"`
	ChatID      string  `json:"chatId"`
	Status      string  `json:"status"`
}

// FlexBool decodes true/false, 1/0 and "true"/"1": ChatAPI's message list says fromMe as a
// number where its webhooks say it as a boolean.
type FlexBool bool

// UnmarshalJSON implements json.Unmarshaler.
func (b *FlexBool) UnmarshalJSON(data []byte) error {
	switch strings.Trim(string(bytes.TrimSpace(data)), `"`) {
	case "true", "1":
		*b = true
	case "false", "0", "", "null":
		*b = false
	default:
		return fmt.Errorf("not a boolean: %.20s", data)
	}
	return nil
}

// MarshalJSON implements json.Marshaler (as a JSON boolean).
func (b FlexBool) MarshalJSON() ([]byte, error) { return json.Marshal(bool(b)) }

// FlexInt decodes a number given as a JSON number or a numeric string; null is 0.
type FlexInt int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *FlexInt) UnmarshalJSON(data []byte) error {
	s := string(bytes.TrimSpace(data))
	if s == "null" {
		*n = 0
		return nil
	}
	s = strings.Trim(s, `"`)
	if s == "" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			return fmt.Errorf("not an integer: %.20s", data)
		}
		v = int64(f)
	}
	*n = FlexInt(v)
	return nil
}

// FlexString decodes a string given as a JSON string or number (instanceId is either).
type FlexString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *FlexString) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		*s = ""
		return nil
	}
	if len(data) > 0 && data[0] == '"' {
		var v string
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		*s = FlexString(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("not a string or number: %.20s", data)
	}
	*s = FlexString(n.String())
	return nil
}

// ChatIDForPhone returns the chat id of a private chat with a phone number ("+7 916 …" →
// "7916…@c.us").
func ChatIDForPhone(phone string) string { return digits(phone) + "@c.us" }

// NewTextMessage returns an incoming text message from the private chat of phone, as
// ChatAPI reports it. hexID is the message's own part of the id (any upper-case hex
// string; a new one for every new message: the core stores a message once per id).
func NewTextMessage(hexID, phone, senderName, text string, at time.Time) Message {
	chat := ChatIDForPhone(phone)
	return Message{
		ID: "false_" + chat + "_" + hexID, Body: text, Author: chat, ChatID: chat,
		Time: FlexInt(at.Unix()), Type: TypeChat, SenderName: senderName, ChatName: senderName,
	}
}

// NewMessagesWebhook returns the body of a "messages" webhook of instance instanceID.
func NewMessagesWebhook(instanceID string, msgs ...Message) []byte {
	return mustJSON(Webhook{Messages: msgs, InstanceID: FlexString(instanceID)})
}

// NewAckWebhook returns the body of an "ack" webhook of instance instanceID.
func NewAckWebhook(instanceID string, acks ...Ack) []byte {
	return mustJSON(Webhook{Ack: acks, InstanceID: FlexString(instanceID)})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("chatapi: marshal webhook: " + err.Error()) // plain structs always marshal
	}
	return b
}

// digits keeps the ASCII digits of s.
func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
