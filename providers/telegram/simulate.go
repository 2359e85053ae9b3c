package telegram

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf16"
)

// SecretTokenHeader carries the webhook's secret_token on every update Telegram posts.
// omnichat sets it to the channel's secret (providers.Channel.Secret).
const SecretTokenHeader = "X-Telegram-Bot-Api-Secret-Token"

// SimulatedUpdate returns the JSON body of a realistic update: a private-chat text
// message from user userID at time now, as Telegram would post it to the webhook. It is
// what `omnichat simulate telegram --channel ID --text …` posts to /webhooks/{ID}, with
// the headers from SimulatedHeader.
//
// The message id is updateID too, so pass a fresh updateID for every new message (the
// core stores a message once per chat id and message id). A text starting with "/start"
// carries a bot_command entity like a real one, so "/start promo" simulates a visitor
// arriving through a t.me/<bot>?start=promo link.
func SimulatedUpdate(updateID int64, userID int64, firstName, text string, now time.Time) []byte {
	type user struct {
		ID           int64  `json:"id"`
		IsBot        bool   `json:"is_bot"`
		FirstName    string `json:"first_name"`
		LanguageCode string `json:"language_code,omitempty"`
	}
	type chat struct {
		ID        int64  `json:"id"`
		FirstName string `json:"first_name"`
		Type      string `json:"type"`
	}
	type entity struct {
		Offset int    `json:"offset"`
		Length int    `json:"length"`
		Type   string `json:"type"`
	}
	type message struct {
		MessageID int64    `json:"message_id"`
		From      user     `json:"from"`
		Chat      chat     `json:"chat"`
		Date      int64    `json:"date"`
		Text      string   `json:"text"`
		Entities  []entity `json:"entities,omitempty"`
	}
	m := message{
		MessageID: updateID,
		From:      user{ID: userID, FirstName: firstName, LanguageCode: "en"},
		Chat:      chat{ID: userID, FirstName: firstName, Type: "private"},
		Date:      now.Unix(),
		Text:      text,
	}
	if strings.HasPrefix(text, "/") {
		cmd, _, _ := strings.Cut(text, " ")
		m.Entities = []entity{{Offset: 0, Length: len(utf16.Encode([]rune(cmd))), Type: "bot_command"}}
	}
	body, err := json.Marshal(struct {
		UpdateID int64   `json:"update_id"`
		Message  message `json:"message"`
	}{updateID, m})
	if err != nil {
		panic("telegram: marshal simulated update: " + err.Error()) // plain structs always marshal
	}
	return body
}

// SimulatedHeader returns the headers Telegram sends with an update for a channel whose
// secret is secret.
func SimulatedHeader(secret string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(SecretTokenHeader, secret)
	return h
}
