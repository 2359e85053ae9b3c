package telegramtest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/omnichat/omnichat/providers/providertest"
	"github.com/omnichat/omnichat/providers/telegram"
)

type answer struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// call POSTs a JSON body to a method and decodes the answer.
func call(t *testing.T, s *Server, token, method, body string) (int, answer) {
	t.Helper()
	resp, err := http.Post(s.URL()+"/bot"+token+"/"+method, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil && resp.StatusCode < 500 {
		t.Fatalf("%s: non-JSON answer %d %q", method, resp.StatusCode, raw)
	}
	return resp.StatusCode, a
}

func TestAuthAndRouting(t *testing.T) {
	s := NewServer()
	defer s.Close()
	if code, a := call(t, s, "1:wrong", "getMe", ""); code != 401 || a.OK || a.ErrorCode != 401 || a.Description != "Unauthorized" {
		t.Errorf("wrong token: %d %+v", code, a)
	}
	if code, a := call(t, s, s.Token, "noSuchMethod", ""); code != 404 || a.Description != "Not Found" {
		t.Errorf("unknown method: %d %+v", code, a)
	}
	if code, a := call(t, s, s.Token, "GETME", ""); code != 200 || !a.OK {
		t.Errorf("method names are case-insensitive: %d %+v", code, a)
	}
	// Query-string and urlencoded parameters work as on Telegram.
	resp, err := http.PostForm(s.URL()+"/bot"+s.Token+"/sendMessage?chat_id=111222333", url.Values{"text": {"form"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("form post: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := s.Sent(); len(got) != 1 || got[0].Text != "form" || got[0].ChatID != UserID {
		t.Errorf("sent %+v", got)
	}
	calls := s.Calls()
	if len(calls) != 4 || calls[3].Method != "sendMessage" || !strings.Contains(string(calls[3].Body), `"text":"form"`) {
		t.Errorf("calls %+v", calls)
	}
}

func TestSendMessageRules(t *testing.T) {
	s := NewServer()
	defer s.Close()
	tests := []struct {
		name, body string
		code       int
		desc       string
	}{
		{"unknown chat", `{"chat_id":5,"text":"x"}`, 400, "Bad Request: chat not found"},
		{"empty text", `{"chat_id":111222333,"text":"  "}`, 400, "Bad Request: message text is empty"},
		{"too long", `{"chat_id":111222333,"text":"` + strings.Repeat("🙂", 2049) + `"}`, 400, "Bad Request: message is too long"},
		{"button without action", `{"chat_id":111222333,"text":"x","reply_markup":{"inline_keyboard":[[{"text":"a"}]]}}`, 400, ""},
		{"button with two actions", `{"chat_id":111222333,"text":"x","reply_markup":{"inline_keyboard":[[{"text":"a","url":"https://a","callback_data":"b"}]]}}`, 400, ""},
		{"callback_data over 64 bytes", `{"chat_id":111222333,"text":"x","reply_markup":{"inline_keyboard":[[{"text":"a","callback_data":"` + strings.Repeat("b", 65) + `"}]]}}`, 400, "Bad Request: BUTTON_DATA_INVALID"},
		{"reply to a missing message", `{"chat_id":111222333,"text":"x","reply_parameters":{"message_id":99}}`, 400, "Bad Request: message to be replied not found"},
		{"ok", `{"chat_id":111222333,"text":"x","reply_markup":{"inline_keyboard":[[{"text":"a","callback_data":"b"}]]}}`, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, a := call(t, s, s.Token, "sendMessage", tc.body)
			if code != tc.code || (tc.desc != "" && a.Description != tc.desc) {
				t.Errorf("got %d %q, want %d %q", code, a.Description, tc.code, tc.desc)
			}
		})
	}
	s.Block(UserID)
	if code, a := call(t, s, s.Token, "sendMessage", `{"chat_id":111222333,"text":"x"}`); code != 403 || a.Description != "Forbidden: bot was blocked by the user" {
		t.Errorf("blocked: %d %+v", code, a)
	}
}

// TestLibraryKeyboardIsRejected shows the fake catches go-telegram/bot's
// models.InlineKeyboardButton, which always sends an empty copy_text that Telegram refuses.
func TestLibraryKeyboardIsRejected(t *testing.T) {
	s := NewServer()
	defer s.Close()
	b, err := bot.New(s.Token, bot.WithServerURL(s.URL()), bot.WithSkipGetMe())
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: UserID, Text: "x",
		ReplyMarkup: models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{{Text: "a", CallbackData: "b"}}}}})
	if err == nil || !strings.Contains(err.Error(), "exactly one of the optional fields") {
		t.Errorf("got %v, want the button rejected", err)
	}
	// The library's multipart bodies, including the empty one of getMe, are understood.
	me, err := b.GetMe(context.Background())
	if err != nil || me.ID != BotID || me.Username != BotUsername {
		t.Errorf("getMe: %+v, %v", me, err)
	}
}

func TestFailures(t *testing.T) {
	s := NewServer()
	defer s.Close()
	send := `{"chat_id":111222333,"text":"x"}`

	s.FailNext(providertest.FailTransient)
	resp, err := http.Post(s.URL()+"/bot"+s.Token+"/sendMessage", "application/json", strings.NewReader(send))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.Contains(string(body), "<html>") {
		t.Errorf("transient: %d %q, want nginx's 502 page", resp.StatusCode, body)
	}
	s.FailNext(providertest.FailRateLimited)
	if code, a := call(t, s, s.Token, "sendMessage", send); code != 429 || a.Parameters.RetryAfter != 3 {
		t.Errorf("rate limited: %d %+v", code, a)
	}
	s.FailNext(providertest.FailBlocked)
	if code, a := call(t, s, s.Token, "sendMessage", send); code != 403 || !strings.Contains(a.Description, "blocked") {
		t.Errorf("blocked: %d %+v", code, a)
	}
	// FailNext applies to send calls only; FailNextCall to any method, once.
	s.FailNext(providertest.FailBlocked)
	if code, _ := call(t, s, s.Token, "getMe", ""); code != 200 {
		t.Errorf("getMe failed with a pending send failure: %d", code)
	}
	s.Reset()
	s.FailNextCall("getMe", Failure{Code: 500})
	if code, a := call(t, s, s.Token, "getMe", ""); code != 500 || a.Description != "Internal Server Error" {
		t.Errorf("FailNextCall: %d %+v", code, a)
	}
	if code, _ := call(t, s, s.Token, "getMe", ""); code != 200 {
		t.Errorf("second getMe: %d, want 200", code)
	}
	if code, _ := call(t, s, s.Token, "sendMessage", send); code != 200 {
		t.Errorf("Reset kept a pending send failure: %d", code)
	}
}

func TestWebhookRegistrationAndDelivery(t *testing.T) {
	s := NewServer()
	defer s.Close()
	for body, desc := range map[string]string{
		`{"url":"http://example.com/hook"}`:                       "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
		`{"url":"https://example.com:9000/hook"}`:                 "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
		`{"url":"https://example.com/hook","secret_token":"a b"}`: "Bad Request: secret token contains unallowed characters",
	} {
		if code, a := call(t, s, s.Token, "setWebhook", body); code != 400 || a.Description != desc {
			t.Errorf("%s: %d %q", body, code, a.Description)
		}
	}
	if _, _, err := s.Deliver(context.Background(), s.TextUpdate(UserID, "x")); err == nil {
		t.Error("Deliver without a webhook succeeded")
	}

	var gotSecret, gotType string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotSecret, gotType = r.Header.Get(telegram.SecretTokenHeader), r.Header.Get("Content-Type")
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer hook.Close()
	s.AllowHTTPWebhook = true
	if code, a := call(t, s, s.Token, "setWebhook", `{"url":"`+hook.URL+`","secret_token":"s3cret","allowed_updates":["message"]}`); code != 200 || a.Description != "Webhook was set" {
		t.Fatalf("setWebhook: %d %+v", code, a)
	}
	status, _, err := s.Deliver(context.Background(), s.TextUpdate(UserID, "x"))
	if err != nil || status != 500 || gotSecret != "s3cret" || gotType != "application/json" {
		t.Errorf("Deliver: %d %v, header %q %q", status, err, gotSecret, gotType)
	}
	_, a := call(t, s, s.Token, "getWebhookInfo", "")
	var info struct {
		URL              string   `json:"url"`
		AllowedUpdates   []string `json:"allowed_updates"`
		LastErrorMessage string   `json:"last_error_message"`
	}
	json.Unmarshal(a.Result, &info)
	if info.URL != hook.URL || len(info.AllowedUpdates) != 1 || !strings.Contains(info.LastErrorMessage, "500") {
		t.Errorf("getWebhookInfo: %+v", info)
	}
	if code, a := call(t, s, s.Token, "deleteWebhook", ""); code != 200 || a.Description != "Webhook was deleted" || s.Webhook().URL != "" {
		t.Errorf("deleteWebhook: %d %+v", code, a)
	}
}

func TestFilesAndUsers(t *testing.T) {
	s := NewServer()
	defer s.Close()
	path := s.AddFile("file-1", "a.txt", "text/plain", []byte("hello"))
	code, a := call(t, s, s.Token, "getFile", `{"file_id":"file-1"}`)
	var f struct {
		FilePath string `json:"file_path"`
		FileSize int    `json:"file_size"`
	}
	json.Unmarshal(a.Result, &f)
	if code != 200 || f.FilePath != path || f.FileSize != 5 {
		t.Fatalf("getFile: %d %+v", code, f)
	}
	for token, want := range map[string]int{s.Token: 200, "1:wrong": 404} {
		resp, err := http.Get(s.URL() + "/file/bot" + token + "/" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 200 && string(body) != "hello") {
			t.Errorf("download with token %q: %d %q", token, resp.StatusCode, body)
		}
	}
	if code, a := call(t, s, s.Token, "getFile", `{"file_id":"nope"}`); code != 400 || a.Description != "Bad Request: invalid file_id" {
		t.Errorf("unknown file: %d %+v", code, a)
	}
	if code, a := call(t, s, s.Token, "getChat", `{"chat_id":111222333}`); code != 200 || !strings.Contains(string(a.Result), `"first_name":"Ivan"`) {
		t.Errorf("getChat: %d %s", code, a.Result)
	}
	if code, a := call(t, s, s.Token, "getUserProfilePhotos", `{"user_id":7}`); code != 400 || a.Description != "Bad Request: user not found" {
		t.Errorf("photos of an unknown user: %d %+v", code, a)
	}
	// An update from a new user makes the user known, so the bot can answer.
	s.TextUpdate(42, "hi")
	if code, _ := call(t, s, s.Token, "sendMessage", `{"chat_id":42,"text":"hello"}`); code != 200 {
		t.Errorf("answer to a new user: %d", code)
	}
	if got := s.Sent(); got[0].MessageID != 2 {
		t.Errorf("message id %d, want 2: users' and the bot's messages share the chat's sequence", got[0].MessageID)
	}
}
