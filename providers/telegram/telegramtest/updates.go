package telegramtest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Update builders. Each returns the JSON body of one update as Telegram posts it to the
// webhook, and changes the fake's state as the real event would: the message takes the
// chat's next message id, an unknown user becomes known (named "User <id>"), a photo or
// document becomes a file getFile serves, a button press becomes a callback query that
// answerCallbackQuery accepts once, a block makes sends fail with 403. Post the body with
// Deliver, or pass it to EventFilter with ProviderRequest.

// TextUpdate is a private-chat text message from the user. A text starting with "/"
// carries a bot_command entity, so "/start promo" is what a t.me/<bot>?start=promo link
// sends.
func (s *Server) TextUpdate(userID int64, text string) []byte {
	m := s.newUserMessage(userID)
	m["text"] = text
	if strings.HasPrefix(text, "/") {
		cmd, _, _ := strings.Cut(text, " ")
		m["entities"] = []map[string]any{{"offset": 0, "length": utf16Len(cmd), "type": "bot_command"}}
	}
	return s.update("message", m)
}

// PhotoUpdate is a photo (with an optional caption) from the user; content should be a
// JPEG, as Telegram re-encodes photos. The largest size's file_id resolves with getFile.
func (s *Server) PhotoUpdate(userID int64, caption string, content []byte) []byte {
	m := s.newUserMessage(userID)
	s.mu.Lock()
	f := s.storeFileLocked("", "photos", "", "image/jpeg", content)
	f.width, f.height = 1280, 960
	s.mu.Unlock()
	m["photo"] = photoSizes(f)
	if caption != "" {
		m["caption"] = caption
	}
	return s.update("message", m)
}

// DocumentUpdate is a file the user sent as a document.
func (s *Server) DocumentUpdate(userID int64, name, mimeType string, content []byte) []byte {
	m := s.newUserMessage(userID)
	s.mu.Lock()
	f := s.storeFileLocked("", "documents", name, mimeType, content)
	s.mu.Unlock()
	m["document"] = documentJSON{FileName: name, MimeType: mimeType, FileID: f.id, FileUniqueID: f.uniqueID, FileSize: f.size}
	return s.update("message", m)
}

// ContactUpdate is the user sharing their own phone number (User.Phone; a made-up one when
// empty) through a "share my contact" button.
func (s *Server) ContactUpdate(userID int64) []byte {
	m := s.newUserMessage(userID)
	u := s.user(userID)
	phone := u.Phone
	if phone == "" {
		phone = "7900" + strconv.FormatInt(userID%10000000, 10)
	}
	m["contact"] = map[string]any{"phone_number": phone, "first_name": u.FirstName, "last_name": u.LastName, "user_id": u.ID}
	return s.update("message", m)
}

// EditUpdate is the user editing their message messageID to text.
func (s *Server) EditUpdate(userID, messageID int64, text string) []byte {
	u := s.user(userID)
	s.mu.Lock()
	date := time.Now()
	if m := s.chatLocked(userID).msgs[messageID]; m != nil {
		date = m.date
	}
	s.mu.Unlock()
	return s.update("edited_message", map[string]any{
		"message_id": messageID, "from": userToJSON(u), "chat": chatToJSON(u),
		"date": date.Unix(), "edit_date": time.Now().Unix(), "text": text,
	})
}

// ButtonUpdate is the user pressing an inline button with callback data under the bot's
// last message in the chat. The callback query id is accepted by answerCallbackQuery once.
func (s *Server) ButtonUpdate(userID int64, data string) []byte {
	u := s.user(userID)
	s.mu.Lock()
	s.nextUpdate++
	queryID := fmt.Sprintf("%d%010d", BotID, s.nextUpdate)
	s.callbacks[queryID] = true
	var last SentMessage
	for i := len(s.sent) - 1; i >= 0; i-- {
		if s.sent[i].ChatID == userID {
			last = s.sent[i]
			break
		}
	}
	s.mu.Unlock()
	msg := map[string]any{"message_id": last.MessageID, "from": botUser(), "chat": chatToJSON(u),
		"date": last.Date.Unix(), "text": last.Text}
	if last.MessageID == 0 { // no message known: Telegram marks it inaccessible with date 0
		msg = map[string]any{"message_id": 1, "chat": chatToJSON(u), "date": 0}
	}
	return s.update("callback_query", map[string]any{
		"id": queryID, "from": userToJSON(u), "message": msg,
		"chat_instance": "-" + strconv.FormatInt(userID*7919%1000000000000, 10), "data": data,
	})
}

// BlockUpdate is the user blocking the bot (my_chat_member, new status "kicked"); sends
// to the user fail with 403 from now on.
func (s *Server) BlockUpdate(userID int64) []byte {
	s.Block(userID)
	return s.memberUpdate(userID, "member", "kicked")
}

// UnblockUpdate is the user unblocking the bot (my_chat_member, new status "member").
func (s *Server) UnblockUpdate(userID int64) []byte {
	s.Unblock(userID)
	return s.memberUpdate(userID, "kicked", "member")
}

func (s *Server) memberUpdate(userID int64, oldStatus, newStatus string) []byte {
	u := s.user(userID)
	member := func(status string) map[string]any {
		m := map[string]any{"user": botUser(), "status": status}
		if status == "kicked" {
			m["until_date"] = 0
		}
		return m
	}
	return s.update("my_chat_member", map[string]any{
		"chat": chatToJSON(u), "from": userToJSON(u), "date": time.Now().Unix(),
		"old_chat_member": member(oldStatus), "new_chat_member": member(newStatus),
	})
}

// user returns a known user, adding one when the id is new.
func (s *Server) user(userID int64) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		u = User{ID: userID, FirstName: "User " + strconv.FormatInt(userID, 10), LanguageCode: "en"}
		s.users[userID] = u
	}
	return u
}

// newUserMessage starts a message from the user in their private chat.
func (s *Server) newUserMessage(userID int64) map[string]any {
	u := s.user(userID)
	s.mu.Lock()
	id := s.newMessageLocked(userID)
	s.mu.Unlock()
	return map[string]any{"message_id": id, "from": userToJSON(u), "chat": chatToJSON(u), "date": time.Now().Unix()}
}

// update wraps one update object with the next update_id.
func (s *Server) update(field string, v any) []byte {
	s.mu.Lock()
	s.nextUpdate++
	id := s.nextUpdate
	s.mu.Unlock()
	b, err := json.Marshal(map[string]any{"update_id": id, field: v})
	if err != nil {
		panic("telegramtest: marshal update: " + err.Error()) // maps of plain values always marshal
	}
	return b
}
