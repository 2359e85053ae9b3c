package vibertest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	mviber "github.com/mileusna/viber"
)

// SignatureHeader is the header Viber signs callbacks in.
const SignatureHeader = "X-Viber-Content-Signature"

// Sign returns Viber's signature of a callback body: lowercase hex HMAC-SHA256 of the raw
// bytes keyed with the bot's auth token. (Written independently of the provider's check on
// purpose: a fake that shares the code under test proves nothing.)
func Sign(token string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Sign signs body with the fake's token.
func (s *Server) Sign(body []byte) string { return Sign(s.Token, body) }

// NewCallbackRequest builds the request Viber makes to deliver body to a webhook: POST,
// JSON, signed with the fake's token. webhookURL is the URL the provider registered, for
// omnichat {public}/webhooks/{channel_id} (Viber signs its callbacks, so no path token).
func (s *Server) NewCallbackRequest(ctx context.Context, webhookURL string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, s.Sign(body))
	return req, nil
}

// Deliver POSTs a signed callback to webhookURL, as Viber does, and returns the response
// (the caller closes its body). Viber retries a callback that was not answered 200 by
// delivering the same bytes again.
func (s *Server) Deliver(ctx context.Context, webhookURL string, body []byte) (*http.Response, error) {
	req, err := s.NewCallbackRequest(ctx, webhookURL, body)
	if err != nil {
		return nil, err
	}
	return s.client.Do(req)
}

// callbackUser is a user as callbacks describe them (sender / user).
type callbackUser struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Avatar     string `json:"avatar,omitempty"`
	Language   string `json:"language,omitempty"`
	Country    string `json:"country,omitempty"`
	APIVersion int    `json:"api_version,omitempty"`
}

// inMessage is the "message" object of a message callback.
type inMessage struct {
	Type         string      `json:"type"`
	Text         string      `json:"text,omitempty"`
	Media        string      `json:"media,omitempty"`
	Thumbnail    string      `json:"thumbnail,omitempty"`
	FileName     string      `json:"file_name,omitempty"`
	Size         int64       `json:"size,omitempty"`
	StickerID    int         `json:"sticker_id,omitempty"`
	Contact      *inContact  `json:"contact,omitempty"`
	Location     *inLocation `json:"location,omitempty"`
	TrackingData string      `json:"tracking_data,omitempty"`
}

type inContact struct {
	Name        string `json:"name"`
	PhoneNumber string `json:"phone_number"`
}

type inLocation struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// token returns a fresh message token (from the same sequence send_message uses).
func (s *Server) token() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.nextToken
	s.nextToken++
	return t
}

// visitor returns the callback view of a user, registering unknown ids as new subscribers
// (a visitor's first message subscribes them on Viber too).
func (s *Server) visitor(id string) callbackUser {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		u = mviber.User{ID: id, Name: "Viber User", Language: "en", Country: "GB", APIVersion: 10}
		s.users[id] = u
	}
	return callbackUser{ID: u.ID, Name: u.Name, Avatar: u.Avatar, Language: u.Language, Country: u.Country, APIVersion: u.APIVersion}
}

func (s *Server) tracking(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastTracking[id]
}

func now() int64 { return time.Now().UnixMilli() }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("vibertest: " + err.Error()) // only our own plain structs are encoded
	}
	return b
}

// messageCallback wraps m in a "message" callback from userID. Like Viber, it echoes the
// tracking_data of the last message the bot sent to that user.
func (s *Server) messageCallback(userID string, m inMessage) []byte {
	from := s.visitor(userID)
	m.TrackingData = s.tracking(userID)
	return mustJSON(struct {
		Event        string       `json:"event"`
		Timestamp    int64        `json:"timestamp"`
		ChatHostname string       `json:"chat_hostname"`
		MessageToken uint64       `json:"message_token"`
		Sender       callbackUser `json:"sender"`
		Message      inMessage    `json:"message"`
		Silent       bool         `json:"silent"`
	}{"message", now(), "SN-CHAT-02_", s.token(), from, m, false})
}

// TextCallback is a text message from userID.
func (s *Server) TextCallback(userID, text string) []byte {
	return s.messageCallback(userID, inMessage{Type: "text", Text: text})
}

// ButtonCallback is userID pressing the reply button labelled buttonText on the keyboard
// the bot sent last: Viber sends the button's ActionBody as the visitor's text message.
func (s *Server) ButtonCallback(userID, buttonText string) ([]byte, error) {
	s.mu.Lock()
	kb := s.lastKeyboard[userID]
	s.mu.Unlock()
	if kb == nil {
		return nil, fmt.Errorf("vibertest: the last message to %s had no keyboard", userID)
	}
	for _, b := range kb.Buttons {
		if strings.TrimSpace(b.Text) == strings.TrimSpace(buttonText) && (b.ActionType == mviber.Reply || b.ActionType == "") {
			return s.messageCallback(userID, inMessage{Type: "text", Text: b.ActionBody}), nil
		}
	}
	return nil, fmt.Errorf("vibertest: no reply button %q on the keyboard shown to %s", buttonText, userID)
}

// PictureCallback is a photo from userID; mediaURL stands for Viber's signed download link
// (see AddMedia), caption may be empty.
func (s *Server) PictureCallback(userID, mediaURL, caption string) []byte {
	return s.messageCallback(userID, inMessage{Type: "picture", Text: caption, Media: mediaURL, Thumbnail: mediaURL, FileName: "IMG_0001.jpg"})
}

// FileCallback is a file from userID.
func (s *Server) FileCallback(userID, mediaURL, fileName string, size int64) []byte {
	return s.messageCallback(userID, inMessage{Type: "file", Media: mediaURL, FileName: fileName, Size: size})
}

// ContactCallback is a contact card shared by userID.
func (s *Server) ContactCallback(userID, name, phone string) []byte {
	return s.messageCallback(userID, inMessage{Type: "contact", Contact: &inContact{Name: name, PhoneNumber: phone}})
}

// LocationCallback is a location shared by userID.
func (s *Server) LocationCallback(userID string, lat, lon float64) []byte {
	return s.messageCallback(userID, inMessage{Type: "location", Location: &inLocation{Lat: lat, Lon: lon}})
}

// ConversationStartedCallback is userID opening the chat with the bot (context is the
// deep-link parameter, may be empty). It may be answered with a welcome message.
func (s *Server) ConversationStartedCallback(userID, context string, subscribed bool) []byte {
	return mustJSON(struct {
		Event        string       `json:"event"`
		Timestamp    int64        `json:"timestamp"`
		ChatHostname string       `json:"chat_hostname"`
		MessageToken uint64       `json:"message_token"`
		Type         string       `json:"type"`
		Context      string       `json:"context,omitempty"`
		User         callbackUser `json:"user"`
		Subscribed   bool         `json:"subscribed"`
	}{"conversation_started", now(), "SN-CHAT-02_", s.token(), "open", context, s.visitor(userID), subscribed})
}

// SubscribedCallback is userID subscribing to the bot.
func (s *Server) SubscribedCallback(userID string) []byte {
	return mustJSON(struct {
		Event        string       `json:"event"`
		Timestamp    int64        `json:"timestamp"`
		ChatHostname string       `json:"chat_hostname"`
		User         callbackUser `json:"user"`
		MessageToken uint64       `json:"message_token"`
	}{"subscribed", now(), "SN-CHAT-02_", s.visitor(userID), s.token()})
}

// UnsubscribedCallback is userID unsubscribing (blocking the bot or deleting the chat).
func (s *Server) UnsubscribedCallback(userID string) []byte {
	return mustJSON(struct {
		Event        string `json:"event"`
		Timestamp    int64  `json:"timestamp"`
		ChatHostname string `json:"chat_hostname"`
		UserID       string `json:"user_id"`
		MessageToken uint64 `json:"message_token"`
	}{"unsubscribed", now(), "SN-CHAT-02_", userID, s.token()})
}

// ReceiptCallback is a receipt for one of the bot's messages: event is "delivered", "seen"
// or "failed" and messageToken the token send_message answered (Message.Token).
func (s *Server) ReceiptCallback(event, userID, messageToken string) []byte {
	type receipt struct {
		Event        string      `json:"event"`
		Timestamp    int64       `json:"timestamp"`
		ChatHostname string      `json:"chat_hostname"`
		MessageToken json.Number `json:"message_token"`
		UserID       string      `json:"user_id"`
		Desc         string      `json:"desc,omitempty"`
	}
	r := receipt{Event: event, Timestamp: now(), ChatHostname: "SN-CHAT-02_", MessageToken: json.Number(messageToken), UserID: userID}
	if event == "failed" {
		r.Desc = "failed to deliver the message to the receiver"
	}
	return mustJSON(r)
}

// WebhookCallback is the check Viber makes right after set_webhook.
func (s *Server) WebhookCallback() []byte {
	return mustJSON(struct {
		Event        string `json:"event"`
		Timestamp    int64  `json:"timestamp"`
		ChatHostname string `json:"chat_hostname"`
		MessageToken uint64 `json:"message_token"`
	}{"webhook", now(), "SN-CHAT-02_", s.token()})
}
