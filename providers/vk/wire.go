package vk

import (
	"encoding/json"
	"time"
)

// Builders of Callback API requests as VK sends them, for the core's end-to-end tests and
// `omnichat loadtest`. Every body carries "secret": CallbackSecret(channelSecret), which is
// all VK does to authenticate an event; POST it with NewWebhookRequest (or
// vktest.Server.Deliver) to the channel's /webhooks/{id}. The answer must be the plain text
// "ok".

// NewUpdate builds one Callback API event: {"group_id","type","event_id","v","object",
// "secret"}. object is marshalled as the event's object.
func NewUpdate(groupID int64, channelSecret, eventType, eventID string, object any) []byte {
	obj, err := json.Marshal(object)
	if err != nil {
		// Callers pass maps and structs of plain values; a failure is a bug in the caller.
		panic("vk: NewUpdate: " + err.Error())
	}
	b, err := json.Marshal(struct {
		GroupID int64           `json:"group_id"`
		Type    string          `json:"type"`
		EventID string          `json:"event_id"`
		V       string          `json:"v"`
		Object  json.RawMessage `json:"object"`
		Secret  string          `json:"secret"`
	}{groupID, eventType, eventID, APIVersion, obj, CallbackSecret(channelSecret)})
	if err != nil {
		panic("vk: NewUpdate: " + err.Error())
	}
	return b
}

// NewMessageUpdate builds message_new: a visitor (fromID) writes text in a private dialog
// with the community. cmid is the conversation_message_id (the message's id is the same
// number here); the event's ExternalID becomes "<fromID>:<cmid>". Repeating a call with the
// same eventID and cmid is what VK's retry looks like.
func NewMessageUpdate(groupID int64, channelSecret, eventID string, fromID, cmid int64, text string, t time.Time) []byte {
	return NewUpdate(groupID, channelSecret, "message_new", eventID, map[string]any{
		"client_info": map[string]any{
			"button_actions":  []string{"text", "vkpay", "open_app", "location", "open_link", "callback", "intent_subscribe", "intent_unsubscribe"},
			"keyboard":        true,
			"inline_keyboard": true,
			"carousel":        true,
			"lang_id":         0,
		},
		"message": map[string]any{
			"date":                    t.Unix(),
			"from_id":                 fromID,
			"id":                      cmid,
			"version":                 10000000 + cmid,
			"out":                     0,
			"fwd_messages":            []any{},
			"important":               false,
			"is_hidden":               false,
			"attachments":             []any{},
			"conversation_message_id": cmid,
			"text":                    text,
			"peer_id":                 fromID,
			"random_id":               0,
		},
	})
}

// NewButtonUpdate builds message_event: the visitor (userID) pressed a callback button we
// sent (under the message cmid) whose data was data. pressID is VK's one-minute event_id
// of the press, which AnswerButton sends back.
func NewButtonUpdate(groupID int64, channelSecret, eventID string, userID, cmid int64, pressID, data string) []byte {
	return NewUpdate(groupID, channelSecret, "message_event", eventID, map[string]any{
		"user_id":                 userID,
		"peer_id":                 userID,
		"event_id":                pressID,
		"payload":                 buttonPayload{Data: data},
		"conversation_message_id": cmid,
	})
}

// NewConfirmationUpdate builds the confirmation request VK sends to a new callback server,
// with the server's secret key (CallbackSecret of the channel's secret; omnichat answers
// nothing without it).
func NewConfirmationUpdate(groupID int64, secret string) []byte {
	b, err := json.Marshal(struct {
		Type    string `json:"type"`
		GroupID int64  `json:"group_id"`
		Secret  string `json:"secret,omitempty"`
	}{"confirmation", groupID, secret})
	if err != nil {
		panic("vk: NewConfirmationUpdate: " + err.Error())
	}
	return b
}
