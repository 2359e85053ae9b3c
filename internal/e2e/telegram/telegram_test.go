// Package telegram runs whole omnichat instances against the fake Telegram Bot API
// (providers/telegram/telegramtest): an admin connects a bot, visitors write, operators
// answer, and everything goes through the real HTTP server, database and job queue.
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/internal/testdb"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type channelView struct {
	ID         int64             `json:"id"`
	WebhookURL string            `json:"webhook_url"`
	Settings   map[string]string `json:"settings"`
	SecretsSet []string          `json:"secrets_set"`
}

type env struct {
	inst   *apptest.Instance
	admin  *apptest.Client
	fake   *telegramtest.Server
	ch     channelView
	stream *apptest.Stream
}

// setup connects a bot the way an admin does: POST /api/v1/channels with the token.
func setup(t *testing.T) *env {
	t.Helper()
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake := telegramtest.NewServer()
	fake.AllowHTTPWebhook = true
	t.Cleanup(fake.Close)
	var ch channelView
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "telegram", "name": "Support bot", "settings": fake.Settings()}, &ch)
	apptest.Eventually(t, 10*time.Second, "setWebhook", func() bool { return fake.Webhook().URL != "" })
	return &env{inst: inst, admin: admin, fake: fake, ch: ch, stream: admin.Stream(t)}
}

func (e *env) deliver(t *testing.T, update []byte) {
	t.Helper()
	code, body, err := e.fake.Deliver(context.Background(), update)
	if err != nil || code != 200 {
		t.Fatalf("deliver: %d %s %v", code, body, err)
	}
}

func (e *env) dialogs(t *testing.T) []store.Dialog {
	t.Helper()
	var list struct {
		Dialogs []store.Dialog `json:"dialogs"`
	}
	e.admin.Must(t, "GET", "/api/v1/dialogs", nil, &list)
	return list.Dialogs
}

func (e *env) messages(t *testing.T, dialogID int64) []store.Message {
	t.Helper()
	var out struct {
		Messages []store.Message `json:"messages"`
	}
	e.admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages?limit=200", dialogID), nil, &out)
	return out.Messages
}

func (e *env) message(t *testing.T, dialogID, id int64) store.Message {
	t.Helper()
	for _, m := range e.messages(t, dialogID) {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("message %d not in dialog %d", id, dialogID)
	return store.Message{}
}

type pushed struct {
	DialogID  int64 `json:"d"`
	MessageID int64 `json:"m"`
}

func decode(t *testing.T, ev apptest.Event) pushed {
	t.Helper()
	var p pushed
	if err := json.Unmarshal(ev.Data, &p); err != nil || p.DialogID == 0 {
		t.Fatalf("event %s %s: %v", ev.Kind, ev.Data, err)
	}
	return p
}

// nextIn waits for the push of the visitor's next message (skipping our own replies').
func (e *env) nextIn(t *testing.T, dialogID int64) pushed {
	t.Helper()
	for {
		p := decode(t, e.stream.Next(t, "message.created", 10*time.Second))
		if e.message(t, dialogID, p.MessageID).Direction == "in" {
			return p
		}
	}
}

// reply sends an operator's text and waits until the message is settled (sent or failed).
func (e *env) reply(t *testing.T, dialogID int64, body any) store.Message {
	t.Helper()
	var m store.Message
	e.admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages", dialogID), body, &m)
	return e.settled(t, dialogID, m.ID)
}

func (e *env) settled(t *testing.T, dialogID, id int64) store.Message {
	t.Helper()
	var m store.Message
	apptest.Eventually(t, 15*time.Second, fmt.Sprintf("message %d settled", id), func() bool {
		m = e.message(t, dialogID, id)
		return m.Status != "pending"
	})
	return m
}

func TestTelegramBotEndToEnd(t *testing.T) {
	e := setup(t)
	fake, admin := e.fake, e.admin

	// Check filled the bot's id and name from getMe; the token is never shown back.
	if e.ch.Settings["bot_id"] != strconv.Itoa(telegramtest.BotID) || e.ch.Settings["bot_name"] == "" {
		t.Fatalf("Check did not fill bot_id/bot_name: %v", e.ch.Settings)
	}
	if _, shown := e.ch.Settings["token"]; shown {
		t.Fatalf("the token is returned to the admin: %v", e.ch.Settings)
	}
	wh := fake.Webhook()
	if want := fmt.Sprintf("%s/webhooks/%d", e.inst.URL, e.ch.ID); wh.URL != want {
		t.Fatalf("webhook %q, want %q", wh.URL, want)
	}
	if len(wh.Secret) < 32 || wh.DropPendingUpdates {
		t.Fatalf("webhook secret %d chars, drop_pending_updates=%v", len(wh.Secret), wh.DropPendingUpdates)
	}
	for _, u := range []string{"message", "edited_message", "callback_query", "my_chat_member"} {
		if !strings.Contains(strings.Join(wh.AllowedUpdates, ","), u) {
			t.Errorf("allowed_updates %v lacks %s", wh.AllowedUpdates, u)
		}
	}

	// A forged secret token: 401 and nothing stored.
	req, _ := telegramtest.WebhookRequest(context.Background(), wh.URL, "forged-"+wh.Secret[:10], fake.TextUpdate(telegramtest.UserID, "forged"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged secret: HTTP %d, want 401", resp.StatusCode)
	}
	if ds := e.dialogs(t); len(ds) != 0 {
		t.Fatalf("a forged update was stored: %+v", ds)
	}

	// A text: dialog, visitor and message through the API and SSE.
	e.deliver(t, fake.TextUpdate(telegramtest.UserID, "hi"))
	p := decode(t, e.stream.Next(t, "dialog.created", 10*time.Second))
	ds := e.dialogs(t)
	if len(ds) != 1 || ds[0].ID != p.DialogID || ds[0].Visitor.ExternalID != strconv.FormatInt(telegramtest.UserID, 10) || ds[0].Visitor.FirstName != "Ivan" {
		t.Fatalf("dialogs %+v", ds)
	}
	d := ds[0]
	if m := e.message(t, d.ID, p.MessageID); m.Direction != "in" || m.Text != "hi" {
		t.Fatalf("stored %+v", m)
	}

	// The visitor's names and avatar come from getChat/getUserProfilePhotos + getFile.
	var withAvatar store.Dialog
	apptest.Eventually(t, 10*time.Second, "the visitor's avatar", func() bool {
		admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d", d.ID), nil, &withAvatar)
		return withAvatar.Visitor.AvatarFileID != nil
	})
	if code, raw := admin.Call(t, "GET", apptest.Path("/api/v1/files/%d", *withAvatar.Visitor.AvatarFileID), nil, nil); code != 200 || !bytes.Equal(raw, telegramtest.SampleJPEG()) {
		t.Fatalf("avatar: HTTP %d, %d bytes", code, len(raw))
	}
	if withAvatar.Visitor.Username != "ivan_petrov" || withAvatar.Visitor.LastName != "Petrov" {
		t.Fatalf("visitor %+v", withAvatar.Visitor)
	}

	// The operator answers: one sendMessage to the visitor's chat.
	fake.Reset()
	m := e.reply(t, d.ID, map[string]string{"text": "Hello! How can I help?"})
	if m.Status != "sent" {
		t.Fatalf("reply %+v", m)
	}
	if s := fake.Sent(); len(s) != 1 || s[0].Method != "sendMessage" || s[0].ChatID != telegramtest.UserID || s[0].Text != "Hello! How can I help?" {
		t.Fatalf("sent %+v", s)
	}

	// A photo: the largest size is downloaded through getFile into our storage and served.
	photo := telegramtest.SampleJPEG()
	e.deliver(t, fake.PhotoUpdate(telegramtest.UserID, "my receipt", photo))
	p = e.nextIn(t, d.ID)
	var pm store.Message
	apptest.Eventually(t, 15*time.Second, "the photo downloaded", func() bool {
		pm = e.message(t, d.ID, p.MessageID)
		if len(pm.Attachments) != 1 {
			t.Fatalf("photo message %+v", pm)
		}
		return !pm.Attachments[0].Pending
	})
	if a := pm.Attachments[0]; a.Kind != "image" || a.FileID == 0 || a.Error != "" || pm.Text != "my receipt" {
		t.Fatalf("photo message %+v", pm)
	}
	code, raw := admin.Call(t, "GET", apptest.Path("/api/v1/files/%d", pm.Attachments[0].FileID), nil, nil)
	if code != 200 || !bytes.Equal(raw, photo) {
		t.Fatalf("served photo: HTTP %d, %d bytes, want %d identical bytes", code, len(raw), len(photo))
	}
	if len(fake.CallsTo("getFile")) == 0 {
		t.Fatal("the photo was not resolved with getFile")
	}

	// A document keeps its name.
	e.deliver(t, fake.DocumentUpdate(telegramtest.UserID, "invoice.pdf", "application/pdf", []byte("%PDF-1.4 fake invoice")))
	p = e.nextIn(t, d.ID)
	apptest.Eventually(t, 15*time.Second, "the document downloaded", func() bool {
		pm = e.message(t, d.ID, p.MessageID)
		return len(pm.Attachments) == 1 && !pm.Attachments[0].Pending
	})
	if a := pm.Attachments[0]; a.Kind != "file" || a.Name != "invoice.pdf" || a.FileID == 0 {
		t.Fatalf("document %+v", a)
	}

	// A shared contact: the visitor's phone is known from now on.
	e.deliver(t, fake.ContactUpdate(telegramtest.UserID))
	e.nextIn(t, d.ID)
	apptest.Eventually(t, 10*time.Second, "the visitor's phone", func() bool {
		ds := e.dialogs(t)
		return len(ds) == 1 && strings.HasSuffix(ds[0].Visitor.Phone, "79161234567")
	})

	// An edit changes the stored text and keeps the old one.
	// ("hi" is message 2 in the chat: the forged update above took number 1.)
	e.deliver(t, fake.EditUpdate(telegramtest.UserID, 2, "hi there"))
	ev := decode(t, e.stream.Next(t, "message.updated", 10*time.Second))
	if em := e.message(t, d.ID, ev.MessageID); em.Text != "hi there" || len(em.Edits) != 1 || em.Edits[0].Text != "hi" {
		t.Fatalf("edited %+v", em)
	}

	// Inline buttons go out as an inline keyboard; a press comes back and is answered.
	fake.Reset()
	m = e.reply(t, d.ID, map[string]any{"text": "Rate us", "buttons": [][]map[string]string{{{"text": "Good", "data": "rate:5"}, {"text": "Site", "url": "https://example.com"}}}})
	s := fake.Sent()
	if m.Status != "sent" || len(s) != 1 || len(s[0].Buttons) != 1 || len(s[0].Buttons[0]) != 2 ||
		s[0].Buttons[0][0].CallbackData != "rate:5" || s[0].Buttons[0][1].URL != "https://example.com" {
		t.Fatalf("buttons: %+v %+v", m, s)
	}
	e.deliver(t, fake.ButtonUpdate(telegramtest.UserID, "rate:5"))
	p = e.nextIn(t, d.ID)
	if bm := e.message(t, d.ID, p.MessageID); bm.Kind != "button" || !strings.Contains(string(bm.Data), "rate:5") {
		t.Fatalf("button press stored as %+v", bm)
	}
	apptest.Eventually(t, 10*time.Second, "answerCallbackQuery", func() bool { return len(fake.Answered()) == 1 })

	// A long text is split in order.
	fake.Reset()
	long := strings.Repeat("a", 4000) + " " + strings.Repeat("b", 3000)
	m = e.reply(t, d.ID, map[string]string{"text": long})
	s = fake.Sent()
	if m.Status != "sent" || len(s) != 2 {
		t.Fatalf("long text: %s, %d parts", m.Status, len(s))
	}
	if joined := s[0].Text + s[1].Text; strings.ReplaceAll(joined, " ", "") != strings.ReplaceAll(long, " ", "") || !strings.HasPrefix(s[0].Text, "aaa") {
		t.Fatalf("parts out of order or changed: %d+%d chars", len(s[0].Text), len(s[1].Text))
	}

	// A file reply is uploaded by multipart: an image as a photo, anything else as a document.
	fake.Reset()
	m = e.upload(t, d.ID, "photo.jpg", photo, "see attached")
	m2 := e.upload(t, d.ID, "notes.txt", []byte("plain notes"), "")
	s = fake.Sent()
	if m.Status != "sent" || m2.Status != "sent" || len(s) != 2 || s[0].Method != "sendPhoto" || s[0].Caption != "see attached" ||
		s[1].Method != "sendDocument" || s[1].FileName != "notes.txt" || string(s[1].File) != "plain notes" {
		t.Fatalf("file replies: %s %s %+v", m.Status, m2.Status, s)
	}

	// Delete: deleteMessage on the platform, the message marked deleted.
	code, raw = admin.Call(t, "DELETE", apptest.Path("/api/v1/dialogs/%d/messages/%d", d.ID, m2.ID), nil, nil)
	if code >= 300 || len(fake.Deleted()) != 1 || fake.Deleted()[0].ChatID != telegramtest.UserID {
		t.Fatalf("delete: HTTP %d %s, deleted %+v", code, raw, fake.Deleted())
	}
	if dm := e.message(t, d.ID, m2.ID); dm.DeletedAt == nil {
		t.Fatalf("not marked deleted: %+v", dm)
	}

	// Past Telegram's 48-hour window the delete is refused with a readable reason.
	fake.Reset()
	old := e.reply(t, d.ID, map[string]string{"text": "an old answer"})
	fake.MarkOld(telegramtest.UserID, fake.Sent()[0].MessageID)
	code, raw = admin.Call(t, "DELETE", apptest.Path("/api/v1/dialogs/%d/messages/%d", d.ID, old.ID), nil, nil)
	if code != 409 || !strings.Contains(string(raw), "48") {
		t.Fatalf("deleting an old message: HTTP %d %s", code, raw)
	}
	if om := e.message(t, d.ID, old.ID); om.DeletedAt != nil {
		t.Fatal("a message Telegram refused to delete is marked deleted")
	}

	// 429: the send waits retry_after and then goes out once.
	fake.Reset()
	fake.FailNextCall("sendMessage", telegramtest.Failure{Code: 429, RetryAfter: 1})
	start := time.Now()
	m = e.reply(t, d.ID, map[string]string{"text": "after a pause"})
	if took := time.Since(start); m.Status != "sent" || took < 900*time.Millisecond {
		t.Fatalf("429: status %s after %s (retry_after 1s)", m.Status, took)
	}
	if calls := fake.CallsTo("sendMessage"); len(calls) != 2 || len(fake.Sent()) != 1 {
		t.Fatalf("429: %d sendMessage calls, %d delivered; want 2 and 1", len(calls), len(fake.Sent()))
	}

	// The visitor blocks the bot: unreachable, and a reply fails with a readable reason.
	e.deliver(t, fake.BlockUpdate(telegramtest.UserID))
	apptest.Eventually(t, 10*time.Second, "the visitor marked unreachable", func() bool {
		ds := e.dialogs(t)
		return len(ds) == 1 && ds[0].Visitor.Unreachable
	})
	m = e.reply(t, d.ID, map[string]string{"text": "are you there?"})
	if m.Status != "failed" || !strings.Contains(strings.ToLower(m.Error), "block") {
		t.Fatalf("reply to a blocked visitor: %+v", m)
	}

	// The token and file URLs never reach the log or the API.
	token := fake.Token
	if strings.Contains(e.inst.Log.String(), token) || strings.Contains(e.inst.Log.String(), "/file/bot") {
		t.Fatal("the server log contains the bot token or a file URL")
	}
	all, _ := json.Marshal(e.messages(t, d.ID))
	if bytes.Contains(all, []byte(token)) || bytes.Contains(all, []byte("/file/bot")) {
		t.Fatal("the messages API returns the token or a file URL")
	}
	// …nor the database: job arguments, attachments, files, channel settings, audit.
	var stored int
	err = e.inst.Pool.QueryRow(context.Background(), `SELECT count(*) FROM (
		SELECT args::text AS t FROM river_job UNION ALL SELECT attachments::text FROM messages
		UNION ALL SELECT settings::text FROM channels UNION ALL SELECT name || key FROM files
		UNION ALL SELECT webhook_error FROM channels) x WHERE strpos(t, $1) > 0 OR strpos(t, '/file/bot') > 0`, token).Scan(&stored)
	if err != nil || stored != 0 {
		t.Fatalf("the token or a file URL is stored in %d rows (%v)", stored, err)
	}
	var got channelView
	_, raw = admin.Call(t, "GET", apptest.Path("/api/v1/channels/%d", e.ch.ID), nil, &got)
	if bytes.Contains(raw, []byte(token)) {
		t.Fatal("the channel API returns the token")
	}

	// Removing the channel removes the webhook.
	admin.Must(t, "DELETE", apptest.Path("/api/v1/channels/%d", e.ch.ID), nil, nil)
	apptest.Eventually(t, 10*time.Second, "deleteWebhook", func() bool { return fake.Webhook().URL == "" })
}

// TestTelegramForbiddenFailsWithReason: a 403 that is not a block update (the bot was
// removed meanwhile) marks the reply failed with the platform's reason, without retries.
func TestTelegramForbiddenFailsWithReason(t *testing.T) {
	e := setup(t)
	e.deliver(t, e.fake.TextUpdate(telegramtest.UserID, "hello"))
	p := decode(t, e.stream.Next(t, "dialog.created", 10*time.Second))
	e.fake.Reset()
	e.fake.FailNextCall("sendMessage", telegramtest.Failure{Code: 403, Description: "Forbidden: bot was blocked by the user"})
	m := e.reply(t, p.DialogID, map[string]string{"text": "hi"})
	if m.Status != "failed" || m.Error == "" || strings.Contains(m.Error, e.fake.Token) {
		t.Fatalf("403: %+v", m)
	}
	if n := len(e.fake.CallsTo("sendMessage")); n != 1 {
		t.Fatalf("403 retried: %d calls", n)
	}
}

func (e *env) upload(t *testing.T, dialogID int64, name string, content []byte, text string) store.Message {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if text != "" {
		_ = w.WriteField("text", text)
	}
	fw, _ := w.CreateFormFile("file", name)
	_, _ = fw.Write(content)
	_ = w.Close()
	req, _ := http.NewRequest("POST", e.inst.URL+apptest.Path("/api/v1/dialogs/%d/messages", dialogID), &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+e.admin.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m store.Message
	if resp.StatusCode != 201 {
		t.Fatalf("upload %s: HTTP %d", name, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return e.settled(t, dialogID, m.ID)
}
