package telegram_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/telegram"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

var ctx = context.Background()

var visitor = providers.Recipient{UserID: "111222333"}

// setup returns a provider, a fake and a channel pointing at it.
func setup(t *testing.T) (*telegram.Provider, *telegramtest.Server, providers.Channel) {
	t.Helper()
	fake := telegramtest.NewServer()
	t.Cleanup(fake.Close)
	ch := testChannel(fake.Settings())
	return telegram.New(), fake, ch
}

func fileOf(name, mime string, content []byte) providers.OutFile {
	return providers.OutFile{ID: 1, Name: name, MIME: mime, Size: int64(len(content)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }}
}

func TestSendMessageSplitsLongText(t *testing.T) {
	p, fake, ch := setup(t)
	para := strings.Repeat("Строка текста с эмодзи 🙂. ", 60) + "\n" // 1621 UTF-16 units
	text := strings.Repeat(para, 6)                                 // 9726 units: three parts of two paragraphs
	buttons := [][]providers.Button{{{Text: "Да", Data: "yes"}}}
	sent, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{ID: 1, Text: text, Buttons: buttons})
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Sent()
	if len(got) != 3 || len(sent.Parts) != 3 {
		t.Fatalf("sent %d messages, Parts %v; want 3", len(got), sent.Parts)
	}
	var joined strings.Builder
	for i, m := range got {
		joined.WriteString(m.Text)
		if !strings.HasSuffix(m.Text, "\n") && i < len(got)-1 {
			t.Errorf("part %d does not end at a line break: %q", i, m.Text[len(m.Text)-20:])
		}
		if (m.Buttons != nil) != (i == len(got)-1) {
			t.Errorf("part %d buttons %v: want buttons only under the last part", i, m.Buttons)
		}
		if want := "111222333:" + itoa(m.MessageID); sent.Parts[i] != want {
			t.Errorf("Parts[%d] = %q, want %q", i, sent.Parts[i], want)
		}
	}
	if joined.String() != text {
		t.Error("parts joined differ from the text")
	}
	if sent.ExternalID != sent.Parts[2] {
		t.Errorf("ExternalID %q, want the last part %q", sent.ExternalID, sent.Parts[2])
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestSendMessageButtons(t *testing.T) {
	p, fake, ch := setup(t)
	buttons := [][]providers.Button{
		{{Text: "Да", Data: "yes"}, {Text: "Нет"}},
		{},
		{{Text: "Сайт", URL: "https://example.com/a?b=c", Data: "ignored"}},
	}
	sent, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{ID: 1, Text: "Выберите", Buttons: buttons})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent.Parts) != 0 || sent.ExternalID == "" {
		t.Errorf("Sent %+v: want an ExternalID and no Parts for one message", sent)
	}
	want := [][]telegramtest.Button{
		{{Text: "Да", CallbackData: "yes"}, {Text: "Нет", CallbackData: "Нет"}},
		{{Text: "Сайт", URL: "https://example.com/a?b=c"}},
	}
	if got := fake.Sent()[0].Buttons; !reflect.DeepEqual(got, want) {
		t.Errorf("buttons\n got %+v\nwant %+v", got, want)
	}
	// The wire JSON has exactly one action per button and no copy_text.
	var call map[string]string
	calls := fake.CallsTo("sendMessage")
	json.Unmarshal(calls[len(calls)-1].Body, &call)
	if strings.Contains(call["reply_markup"], "copy_text") {
		t.Errorf("reply_markup carries copy_text: %s", call["reply_markup"])
	}
}

func TestSendMessageRejectsBadInputWithoutCalling(t *testing.T) {
	p, fake, ch := setup(t)
	tests := []struct {
		name string
		to   providers.Recipient
		m    providers.OutMessage
	}{
		{"empty text", visitor, providers.OutMessage{Text: " \n "}},
		{"no recipient", providers.Recipient{}, providers.OutMessage{Text: "hi"}},
		{"button data over 64 bytes", visitor, providers.OutMessage{Text: "hi",
			Buttons: [][]providers.Button{{{Text: "x", Data: strings.Repeat("д", 33)}}}}},
		{"button without text", visitor, providers.OutMessage{Text: "hi", Buttons: [][]providers.Button{{{Data: "x"}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake.Reset()
			_, err := p.SendMessage(ctx, ch, tc.to, tc.m)
			if !providers.IsPermanent(err) || providers.PermanentReason(err) == "" {
				t.Errorf("got %v, want a Permanent error with a reason", err)
			}
			if n := len(fake.Calls()); n != 0 {
				t.Errorf("made %d calls, want none", n)
			}
		})
	}
}

func TestSendMessageReply(t *testing.T) {
	p, fake, ch := setup(t)
	fake.TextUpdate(telegramtest.UserID, "question") // message 1 in the chat
	if _, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{Text: "answer", ReplyTo: "111222333:1"}); err != nil {
		t.Fatal(err)
	}
	// A reply to a message that is gone still sends (allow_sending_without_reply).
	if _, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{Text: "answer 2", ReplyTo: "111222333:999"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.Sent(); got[0].ReplyTo != 1 || got[1].ReplyTo != 0 {
		t.Errorf("ReplyTo = %d, %d; want 1, 0", got[0].ReplyTo, got[1].ReplyTo)
	}
}

func TestSendFile(t *testing.T) {
	jpg := telegramtest.SampleJPEG()
	tests := []struct {
		name        string
		file        providers.OutFile
		wantMethods []string
		wantParts   int
	}{
		{"jpeg as photo", fileOf("a.jpg", "image/jpeg", jpg), []string{"sendPhoto"}, 1},
		{"pdf as document", fileOf("r.pdf", "application/pdf", []byte("%PDF-1.4")), []string{"sendDocument"}, 1},
		{"undecodable png falls back to a document", fileOf("x.png", "image/png", []byte("not really a png")),
			[]string{"sendPhoto", "sendDocument"}, 1},
		{"long caption follows as text", func() providers.OutFile {
			f := fileOf("a.jpg", "image/jpeg", jpg)
			f.Caption = strings.Repeat("подпись ", 200)
			return f
		}(), []string{"sendPhoto", "sendMessage"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, fake, ch := setup(t)
			sent, err := p.SendFile(ctx, ch, visitor, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var methods []string
			for _, c := range fake.Calls() {
				methods = append(methods, c.Method)
			}
			if !reflect.DeepEqual(methods, tc.wantMethods) {
				t.Errorf("calls %v, want %v", methods, tc.wantMethods)
			}
			got := fake.Sent()
			if len(got) != tc.wantParts || sent.ExternalID != "111222333:"+itoa(got[len(got)-1].MessageID) {
				t.Fatalf("sent %+v, fake got %d messages", sent, len(got))
			}
			content, _ := io.ReadAll(must(tc.file.Open()))
			if !bytes.Equal(got[0].File, content) || got[0].FileName != tc.file.Name {
				t.Errorf("uploaded %q (%d bytes), want %q (%d bytes)", got[0].FileName, len(got[0].File), tc.file.Name, len(content))
			}
			if tc.wantParts == 1 && got[0].Caption != tc.file.Caption {
				t.Errorf("caption %q, want %q", got[0].Caption, tc.file.Caption)
			}
			if tc.wantParts == 2 && (got[0].Caption != "" || got[1].Text != tc.file.Caption) {
				t.Errorf("long caption: file caption %q, text %q", got[0].Caption, got[1].Text)
			}
		})
	}
}

func must(rc io.ReadCloser, err error) io.ReadCloser {
	if err != nil {
		panic(err)
	}
	return rc
}

func TestSendFileErrors(t *testing.T) {
	p, fake, ch := setup(t)
	f := fileOf("a.pdf", "application/pdf", []byte("x"))
	f.Open = func() (io.ReadCloser, error) { return nil, errors.New("disk on fire") }
	if _, err := p.SendFile(ctx, ch, visitor, f); err == nil || providers.IsPermanent(err) || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("open failure: got %v, want a retryable error naming the cause", err)
	}
	big := fileOf("big.zip", "application/zip", nil)
	big.Size = 51 << 20
	if _, err := p.SendFile(ctx, ch, visitor, big); !providers.IsPermanent(err) {
		t.Errorf("51 MB: got %v, want Permanent", err)
	}
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("made %d calls, want none", n)
	}
}

func TestDeleteMessage(t *testing.T) {
	p, fake, ch := setup(t)
	sent, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{Text: "oops"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.DeleteMessage(ctx, ch, visitor, sent.ExternalID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := fake.Deleted(); len(got) != 1 || "111222333:"+itoa(got[0].MessageID) != sent.ExternalID {
		t.Errorf("deleted %+v, want %s", got, sent.ExternalID)
	}
	// Deleting again (a retried job) succeeds: the message is gone either way.
	if err := p.DeleteMessage(ctx, ch, visitor, sent.ExternalID); err != nil {
		t.Errorf("second delete: %v", err)
	}

	old, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{Text: "old"})
	if err != nil {
		t.Fatal(err)
	}
	fake.MarkOld(telegramtest.UserID, fake.Sent()[1].MessageID)
	err = p.DeleteMessage(ctx, ch, visitor, old.ExternalID)
	if !providers.IsPermanent(err) || !strings.Contains(providers.PermanentReason(err), "48 hours") {
		t.Errorf("old message: got %v, want Permanent naming the 48-hour limit", err)
	}
	if err := p.DeleteMessage(ctx, ch, visitor, "not-an-id"); !providers.IsPermanent(err) {
		t.Errorf("bad id: got %v, want Permanent", err)
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name          string
		failure       telegramtest.Failure
		wantPermanent bool
		wantReason    string // part of the Permanent reason
		wantRetry     time.Duration
	}{
		{"500 JSON", telegramtest.Failure{Code: 500, Description: "Internal Server Error"}, false, "", 0},
		{"502 HTML page", telegramtest.Failure{Code: 502, HTML: true}, false, "", 0},
		{"429", telegramtest.Failure{Code: 429, RetryAfter: 7}, false, "", 7 * time.Second},
		{"429 without retry_after", telegramtest.Failure{Code: 429, Description: "Too Many Requests"}, false, "", time.Second},
		{"403 blocked", telegramtest.Failure{Code: 403, Description: "Forbidden: bot was blocked by the user"}, true, "blocked the bot", 0},
		{"403 deactivated", telegramtest.Failure{Code: 403, Description: "Forbidden: user is deactivated"}, true, "account was deleted", 0},
		{"401 token revoked", telegramtest.Failure{Code: 401, Description: "Unauthorized"}, true, "token", 0},
		{"400 chat not found", telegramtest.Failure{Code: 400, Description: "Bad Request: chat not found"}, true, "chat not found", 0},
		{"400 entities", telegramtest.Failure{Code: 400, Description: "Bad Request: can't parse entities"}, true, "can't parse entities", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, fake, ch := setup(t)
			fake.FailNextCall("sendMessage", tc.failure)
			_, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{Text: "x"})
			if err == nil {
				t.Fatal("no error")
			}
			if providers.IsPermanent(err) != tc.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", !tc.wantPermanent, tc.wantPermanent, err)
			}
			if !strings.Contains(providers.PermanentReason(err), tc.wantReason) {
				t.Errorf("reason %q, want it to contain %q", providers.PermanentReason(err), tc.wantReason)
			}
			d, ok := providers.RetryDelay(err)
			if ok != (tc.wantRetry > 0) || d != tc.wantRetry {
				t.Errorf("RetryDelay = %v, %v; want %v", d, ok, tc.wantRetry)
			}
			if strings.Contains(err.Error(), telegramtest.DefaultToken) {
				t.Errorf("error carries the token: %v", err)
			}
		})
	}
}

func TestNetworkErrorsAreRetryableAndHideTheToken(t *testing.T) {
	fake := telegramtest.NewServer()
	settings := fake.Settings()
	fake.Close() // connection refused from now on
	p := telegram.New()
	_, err := p.SendMessage(ctx, testChannel(settings), visitor, providers.OutMessage{Text: "x"})
	if err == nil || providers.IsPermanent(err) {
		t.Fatalf("got %v, want a retryable error", err)
	}
	if _, ok := providers.RetryDelay(err); ok {
		t.Errorf("got RetryAfter for a network error: %v", err)
	}
	tokenSecret := strings.SplitN(telegramtest.DefaultToken, ":", 2)[1]
	if strings.Contains(err.Error(), tokenSecret) {
		t.Errorf("error carries the token: %v", err)
	}

	// A server that never answers: the provider's timeout ends the call.
	var hits atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body) // with the body read, the server notices the client leaving
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	p = telegram.New(telegram.WithTimeout(100 * time.Millisecond))
	start := time.Now()
	_, err = p.SendMessage(ctx, testChannel(providers.Settings{telegram.SettingAPIURL: slow.URL}), visitor, providers.OutMessage{Text: "x"})
	if err == nil || providers.IsPermanent(err) || time.Since(start) > 3*time.Second || hits.Load() != 1 {
		t.Errorf("slow server: %v after %s (%d hits), want a retryable timeout within the provider's timeout", err, time.Since(start), hits.Load())
	}
	if strings.Contains(err.Error(), tokenSecret) {
		t.Errorf("timeout error carries the token: %v", err)
	}
}

func TestCheck(t *testing.T) {
	p, fake, _ := setup(t)
	in := fake.Settings()
	got, err := p.Check(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	want := in.Merge(providers.Settings{telegram.SettingBotID: "123456789", telegram.SettingBotName: telegramtest.BotUsername})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Check = %v, want %v", got, want)
	}

	const wrong = "987654321:AAHwrong-token_0123456789abcdefghij"
	tests := []struct {
		name      string
		settings  providers.Settings
		wantField string
		secret    string // must not appear in the error
	}{
		{"token rejected by Telegram", providers.Settings{"token": wrong, "api_url": fake.URL()}, "token", wrong},
		{"no token", providers.Settings{"api_url": fake.URL()}, "token", ""},
		{"malformed token", providers.Settings{"token": "abc/def"}, "token", "abc/def"},
		{"bad api_url", providers.Settings{"token": wrong, "api_url": "ftp://x"}, "api_url", wrong},
		{"bad proxy", providers.Settings{"token": wrong, "proxy_url": "socks5://user:pa ss@%zz"}, "proxy_url", "pa ss"},
		{"unknown proxy scheme", providers.Settings{"token": wrong, "proxy_url": "gopher://user:hunter2@h:1"}, "proxy_url", "hunter2"},
		{"bad allow_groups", providers.Settings{"token": wrong, "allow_groups": "maybe"}, "allow_groups", wrong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Check(ctx, tc.settings)
			var se *providers.SettingsError
			if !errors.As(err, &se) || !reflect.DeepEqual(se.Fields, []string{tc.wantField}) {
				t.Fatalf("got %v, want a SettingsError on %q", err, tc.wantField)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error %q quotes a secret", err)
			}
		})
	}
}

func TestCheckThroughProxy(t *testing.T) {
	p, fake, _ := setup(t)
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A forward proxy gets absolute request URIs.
		if !r.URL.IsAbs() || r.Header.Get("Proxy-Authorization") == "" {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		proxied.Add(1)
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), r.Body)
		out.Header = r.Header.Clone()
		out.Header.Del("Proxy-Authorization")
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()

	s := fake.Settings().Merge(providers.Settings{telegram.SettingProxyURL: "http://user:secret@" + strings.TrimPrefix(proxy.URL, "http://")})
	got, err := p.Check(ctx, s)
	if err != nil || got[telegram.SettingBotID] != "123456789" {
		t.Fatalf("Check through proxy: %v, %v", got, err)
	}
	if proxied.Load() != 1 {
		t.Errorf("proxy saw %d requests, want 1", proxied.Load())
	}
}

func TestSetWebhook(t *testing.T) {
	p, fake, ch := setup(t)
	extra, err := p.SetWebhook(ctx, ch, ch.WebhookURL)
	if err != nil || extra != nil {
		t.Fatalf("SetWebhook: %v, %v", extra, err)
	}
	want := telegramtest.Webhook{URL: ch.WebhookURL, Secret: ch.Secret, MaxConnections: 40,
		AllowedUpdates: []string{"message", "edited_message", "callback_query", "my_chat_member"}}
	if got := fake.Webhook(); !reflect.DeepEqual(got, want) {
		t.Errorf("webhook\n got %+v\nwant %+v", got, want)
	}
	if err := p.DeleteWebhook(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if got := fake.Webhook(); got.URL != "" {
		t.Errorf("after DeleteWebhook: %+v", got)
	}

	// Telegram refuses plain-HTTP webhooks; the admin sees why.
	_, err = p.SetWebhook(ctx, ch, "http://omnichat.example/webhooks/7")
	if !providers.IsPermanent(err) || !strings.Contains(err.Error(), "HTTPS") {
		t.Errorf("http URL: got %v, want Permanent mentioning HTTPS", err)
	}
	bad := ch
	bad.Secret = "has spaces and ünïcode"
	if _, err := p.SetWebhook(ctx, bad, ch.WebhookURL); err == nil || strings.Contains(err.Error(), bad.Secret) {
		t.Errorf("unusable secret: got %v, want an error that does not quote it", err)
	}
}

// TestWebhookRoundTrip runs the whole inbound path against the fake: SetWebhook registers
// a URL and secret, the fake delivers an update there as Telegram does, EventFilter accepts
// it, and the button press is answered.
func TestWebhookRoundTrip(t *testing.T) {
	p, fake, ch := setup(t)
	fake.AllowHTTPWebhook = true
	got := make(chan []providers.Event, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		evs, err := p.EventFilter(r.Context(), ch, &providers.Request{Method: r.Method, Header: r.Header, Body: body})
		if errors.Is(err, providers.ErrUnauthorized) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got <- evs
	}))
	defer hook.Close()
	ch.WebhookURL = hook.URL + "/webhooks/7"
	if _, err := p.SetWebhook(ctx, ch, ch.WebhookURL); err != nil {
		t.Fatal(err)
	}

	if _, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{Text: "Rate us",
		Buttons: [][]providers.Button{{{Text: "5", Data: "rate:5"}}}}); err != nil {
		t.Fatal(err)
	}
	status, _, err := fake.Deliver(ctx, fake.ButtonUpdate(telegramtest.UserID, "rate:5"))
	if err != nil || status != http.StatusOK {
		t.Fatalf("Deliver: %d, %v", status, err)
	}
	evs := <-got
	if len(evs) != 1 || evs[0].Kind != providers.EventButton || evs[0].Payload != "rate:5" {
		t.Fatalf("events %+v", evs)
	}
	if err := p.AnswerButton(ctx, ch, evs[0]); err != nil {
		t.Fatalf("AnswerButton: %v", err)
	}
	if a := fake.Answered(); len(a) != 1 || "cb:"+a[0] != evs[0].ExternalID {
		t.Errorf("answered %v, want the press %s", a, evs[0].ExternalID)
	}
	// Telegram accepts one answer per press; a late or repeated one is permanent.
	if err := p.AnswerButton(ctx, ch, evs[0]); !providers.IsPermanent(err) {
		t.Errorf("second answer: got %v, want Permanent", err)
	}
	if err := p.AnswerButton(ctx, ch, providers.Event{ExternalID: "111:5"}); !providers.IsPermanent(err) {
		t.Errorf("not a button press: got %v, want Permanent", err)
	}

	// With another secret registered, our webhook refuses the delivery and Telegram
	// reports it as the webhook's last error.
	other := ch
	other.Secret = "another-secret"
	if _, err := p.SetWebhook(ctx, other, ch.WebhookURL); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := fake.Deliver(ctx, fake.TextUpdate(telegramtest.UserID, "hi")); status != http.StatusUnauthorized {
		t.Errorf("forged delivery answered %d, want 401", status)
	}
}

func TestGetUserInfo(t *testing.T) {
	p, fake, ch := setup(t)
	u, err := p.GetUserInfo(ctx, ch, "111222333")
	if err != nil {
		t.Fatal(err)
	}
	if u.FirstName != "Ivan" || u.LastName != "Petrov" || u.Username != "ivan_petrov" {
		t.Errorf("names %+v", u)
	}
	if !strings.Contains(u.AvatarURL, "/file/bot"+telegramtest.DefaultToken+"/") {
		t.Errorf("AvatarURL %q is not a Bot API file URL", u.AvatarURL)
	}
	resp, err := http.Get(u.AvatarURL)
	if err != nil {
		t.Fatal(err)
	}
	avatar, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(avatar, telegramtest.SampleJPEG()) {
		t.Errorf("avatar download: %d bytes, want the user's photo", len(avatar))
	}

	fake.AddUser(telegramtest.User{ID: 5, FirstName: "Без", LastName: "Фото"})
	u, err = p.GetUserInfo(ctx, ch, "5")
	if err != nil || u.Name() != "Без Фото" || u.AvatarURL != "" {
		t.Errorf("user without photo: %+v, %v", u, err)
	}
	if _, err := p.GetUserInfo(ctx, ch, "404"); !providers.IsPermanent(err) {
		t.Errorf("unknown user: got %v, want Permanent", err)
	}
	if _, err := p.GetUserInfo(ctx, ch, "abc"); !providers.IsPermanent(err) {
		t.Errorf("bad id: got %v, want Permanent", err)
	}
}

func TestResolveFile(t *testing.T) {
	p, fake, ch := setup(t)
	content := telegramtest.SampleJPEG()
	evs, err := p.EventFilter(ctx, ch, telegramtest.ProviderRequest(ch.Secret, fake.PhotoUpdate(telegramtest.UserID, "", content)))
	if err != nil || len(evs) != 1 || len(evs[0].Attachments) != 1 {
		t.Fatalf("EventFilter: %+v, %v", evs, err)
	}
	dl, err := p.ResolveFile(ctx, ch, evs[0].Attachments[0].Ref)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(dl.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, content) {
		t.Errorf("downloaded %d bytes, want the photo", len(got))
	}

	fake.FailNextCall("getFile", telegramtest.Failure{Code: 400, Description: "Bad Request: file is too big"})
	if _, err := p.ResolveFile(ctx, ch, evs[0].Attachments[0].Ref); !providers.IsPermanent(err) ||
		!strings.Contains(providers.PermanentReason(err), "20 MB") {
		t.Errorf("big file: got %v, want Permanent naming the 20 MB limit", err)
	}
	if _, err := p.ResolveFile(ctx, ch, "no-such-file"); !providers.IsPermanent(err) {
		t.Errorf("unknown file: got %v, want Permanent", err)
	}
	fake.FailNextCall("getFile", telegramtest.Failure{Code: 502, HTML: true})
	if _, err := p.ResolveFile(ctx, ch, evs[0].Attachments[0].Ref); err == nil || providers.IsPermanent(err) {
		t.Errorf("502: got %v, want a retryable error", err)
	}
}
