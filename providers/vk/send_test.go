package vk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/providertest"
	"github.com/omnichat/omnichat/providers/vk"
	"github.com/omnichat/omnichat/providers/vk/vktest"
)

func fakeChannel(fake *vktest.Server) providers.Channel {
	s := fake.Settings()
	s[vk.SettingConfirmationCode] = vktest.ConfirmationCode
	return providers.Channel{ID: 3, Kind: vk.Kind, Settings: s, Secret: providertest.Secret,
		WebhookURL: "https://omnichat.example/webhooks/3"}
}

var visitor = providers.Recipient{UserID: "1001"}

// lastForm decodes the form of the last recorded call of method.
func lastForm(t *testing.T, fake *vktest.Server, method string) url.Values {
	t.Helper()
	calls := fake.CallsTo(method)
	if len(calls) == 0 {
		t.Fatalf("no %s call (calls: %v)", method, fake.Calls())
	}
	f, err := url.ParseQuery(string(calls[len(calls)-1].Body))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSendMessage(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	p := vk.New()
	ch := fakeChannel(fake)
	ctx := context.Background()

	sent, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{ID: 42, Text: "Добрый день!"})
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Sent()
	if len(got) != 1 || got[0].PeerID != 1001 || got[0].Text != "Добрый день!" || sent.ExternalID == "" || sent.Parts != nil {
		t.Fatalf("sent %+v, fake got %+v", sent, got)
	}
	form := lastForm(t, fake, "messages.send")
	if form.Get("v") != vk.APIVersion {
		t.Errorf("v = %q, want %s", form.Get("v"), vk.APIVersion)
	}
	for _, c := range fake.Calls() {
		if bytes.Contains(c.Body, []byte(vktest.DefaultToken)) {
			t.Errorf("%s carries the token in its body: it belongs in the Authorization header", c.Method)
		}
	}

	// A retried job (same message id) is not delivered twice and gets the same id back.
	again, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{ID: 42, Text: "Добрый день!"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ExternalID != sent.ExternalID || len(fake.Sent()) != 1 {
		t.Errorf("retry: id %s (first %s), %d messages delivered, want the same id and 1", again.ExternalID, sent.ExternalID, len(fake.Sent()))
	}
	// Another message gets another random_id.
	if _, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{ID: 43, Text: "Ещё"}); err != nil {
		t.Fatal(err)
	}
	if s := fake.Sent(); len(s) != 2 || s[0].RandomID == s[1].RandomID || s[0].RandomID == 0 {
		t.Errorf("random_ids %+v: want two distinct non-zero", s)
	}
}

func TestSendMessageSplitsLongText(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	p := vk.New()
	ch := fakeChannel(fake)
	para := strings.Repeat("Слово 😀 ", 300) // 2700 UTF-16 units
	text := para + "\n\n" + para + "\n\n" + para
	sent, err := p.SendMessage(context.Background(), ch, visitor, providers.OutMessage{ID: 7, Text: text,
		Buttons: [][]providers.Button{{{Text: "OK", Data: "ok"}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Sent()
	if len(got) != 3 || len(sent.Parts) != 3 || sent.ExternalID != sent.Parts[2] {
		t.Fatalf("want 3 parts, got %d messages, sent %+v", len(got), sent)
	}
	for i, m := range got {
		if n := len(utf16.Encode([]rune(m.Text))); n > 4000 || n == 0 {
			t.Errorf("part %d has %d UTF-16 units", i, n)
		}
		if strings.TrimSpace(m.Text) != strings.TrimSpace(para) {
			t.Errorf("part %d was not cut at the paragraph boundary", i)
		}
		if (m.Keyboard != "") != (i == 2) {
			t.Errorf("part %d keyboard %q: the buttons go under the last part only", i, m.Keyboard)
		}
	}
	// A retry of the whole job delivers nothing new.
	if _, err := p.SendMessage(context.Background(), ch, visitor, providers.OutMessage{ID: 7, Text: text,
		Buttons: [][]providers.Button{{{Text: "OK", Data: "ok"}}}}); err != nil {
		t.Fatal(err)
	}
	if len(fake.Sent()) != 3 {
		t.Errorf("retry delivered parts again: %d messages", len(fake.Sent()))
	}
}

func TestSendMessageButtons(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	p := vk.New()
	ch := fakeChannel(fake)
	_, err := p.SendMessage(context.Background(), ch, visitor, providers.OutMessage{ID: 1, Text: "Выберите",
		Buttons: [][]providers.Button{
			{{Text: "Да", Data: "yes"}, {Text: "Нет", Data: `no <&> "quoted"`}},
			{{Text: "Сайт", URL: "https://example.com/a?b=c"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	var kb struct {
		Inline  bool `json:"inline"`
		Buttons [][]struct {
			Action map[string]string `json:"action"`
		} `json:"buttons"`
	}
	if err := json.Unmarshal([]byte(fake.Sent()[0].Keyboard), &kb); err != nil {
		t.Fatal(err)
	}
	if !kb.Inline || len(kb.Buttons) != 2 || len(kb.Buttons[0]) != 2 || len(kb.Buttons[1]) != 1 {
		t.Fatalf("keyboard %s", fake.Sent()[0].Keyboard)
	}
	yes := kb.Buttons[0][0].Action
	if yes["type"] != "callback" || yes["label"] != "Да" || yes["payload"] != `{"data":"yes"}` {
		t.Errorf("callback button %v", yes)
	}
	if no := kb.Buttons[0][1].Action; no["payload"] != `{"data":"no <&> \"quoted\""}` {
		t.Errorf("payload %q: data must round-trip unescaped", no["payload"])
	}
	if l := kb.Buttons[1][0].Action; l["type"] != "open_link" || l["link"] != "https://example.com/a?b=c" || l["label"] != "Сайт" {
		t.Errorf("link button %v", l)
	}

	// The payload we send comes back in message_event and becomes the event's Payload.
	var payload json.RawMessage = []byte(yes["payload"])
	body := vk.NewUpdate(vktest.GroupID, ch.Secret, "message_event", "e", map[string]any{
		"user_id": 1001, "peer_id": 1001, "event_id": "p1", "payload": payload, "conversation_message_id": 2})
	evs, err := p.EventFilter(context.Background(), ch, signedRequest(body))
	if err != nil || len(evs) != 1 || evs[0].Payload != "yes" {
		t.Fatalf("round trip: %+v %v", evs, err)
	}

	// Buttons VK cannot show are a permanent failure before anything is sent.
	for name, buttons := range map[string][][]providers.Button{
		"too much data": {{{Text: "x", Data: strings.Repeat("d", 250)}}},
		"no text":       {{{Text: " ", Data: "x"}}},
		"bad link":      {{{Text: "x", URL: "javascript:alert(1)"}}},
		"41 buttons": func() [][]providers.Button {
			var r [][]providers.Button
			for i := 0; i < 41; i++ {
				r = append(r, []providers.Button{{Text: "b"}})
			}
			return r
		}(),
	} {
		fake.Reset()
		_, err := p.SendMessage(context.Background(), ch, visitor, providers.OutMessage{ID: 2, Text: "x", Buttons: buttons})
		if !providers.IsPermanent(err) || len(fake.CallsTo("messages.send")) != 0 {
			t.Errorf("%s: err %v, calls %d: want Permanent without a call", name, err, len(fake.CallsTo("messages.send")))
		}
	}
}

func TestSendMessageConversationAndReply(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	p := vk.New()
	ch := fakeChannel(fake)
	ctx := context.Background()
	chat := providers.Recipient{UserID: "1001", ChatID: "2000000005"}
	sent, err := p.SendMessage(ctx, ch, chat, providers.OutMessage{ID: 10, Text: "В беседу", ReplyTo: "2000000005:147833"})
	if err != nil {
		t.Fatal(err)
	}
	if sent.ExternalID != "2000000005:1" {
		t.Errorf("conversation ExternalID %q, want peer:cmid", sent.ExternalID)
	}
	form := lastForm(t, fake, "messages.send")
	if form.Get("peer_ids") != "2000000005" || form.Get("peer_id") != "" {
		t.Errorf("conversation sends use peer_ids: %v", form)
	}
	if fwd := form.Get("forward"); fwd != `{"peer_id":2000000005,"conversation_message_ids":[147833],"is_reply":true}` {
		t.Errorf("forward = %q", fwd)
	}
	if err := p.DeleteMessage(ctx, ch, chat, sent.ExternalID); err != nil {
		t.Fatalf("delete in a conversation: %v", err)
	}
	if f := lastForm(t, fake, "messages.delete"); f.Get("cmids") != "1" || f.Get("peer_id") != "2000000005" || f.Get("delete_for_all") != "1" {
		t.Errorf("delete params %v", f)
	}

	if _, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{ID: 11, Text: "Ответ", ReplyTo: "509"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.Sent(); got[len(got)-1].ReplyTo != 509 {
		t.Errorf("reply_to = %d, want 509", got[len(got)-1].ReplyTo)
	}
}

func TestSendErrors(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	p := vk.New()
	ch := fakeChannel(fake)
	ctx := context.Background()
	msg := providers.OutMessage{ID: 5, Text: "x"}

	fake.FailNext(providertest.FailRateLimited)
	_, err := p.SendMessage(ctx, ch, visitor, msg)
	if d, ok := providers.RetryDelay(err); !ok || d != time.Second {
		t.Errorf("error 6: %v, want RetryAfter 1s", err)
	}
	fake.FailNext(providertest.FailTransient)
	if _, err := p.SendMessage(ctx, ch, visitor, msg); err == nil || providers.IsPermanent(err) {
		t.Errorf("HTTP 502: %v, want a retryable error", err)
	}
	fake.FailNext(providertest.FailBlocked)
	if _, err := p.SendMessage(ctx, ch, visitor, msg); providers.PermanentReason(err) == "" {
		t.Errorf("error 901: %v, want Permanent with a reason", err)
	}
	fake.Block(2002)
	_, err = p.SendMessage(ctx, ch, providers.Recipient{UserID: "2002"}, msg)
	var ae *vk.APIError
	if !providers.IsPermanent(err) || !errors.As(err, &ae) || ae.Code != 900 {
		t.Errorf("blacklisted: %v, want Permanent wrapping APIError 900", err)
	}
	bad := ch
	bad.Settings = ch.Settings.Clone()
	bad.Settings[vk.SettingGroupToken] = "vk1.a.revoked-token-0000"
	_, err = p.SendMessage(ctx, bad, visitor, msg)
	if !providers.IsPermanent(err) || strings.Contains(err.Error(), "revoked-token") {
		t.Errorf("revoked token: %v, want Permanent without the token", err)
	}
	if _, err := p.SendMessage(ctx, ch, providers.Recipient{UserID: "ivan"}, msg); !providers.IsPermanent(err) {
		t.Errorf("bad peer: %v, want Permanent", err)
	}
	if _, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{ID: 6, Text: "  "}); !providers.IsPermanent(err) {
		t.Errorf("empty text: %v, want Permanent", err)
	}
}

// TestTransport checks what the fake cannot produce: 429 with Retry-After, non-JSON 200,
// an unknown error code, a slow server and the timeout.
func TestTransport(t *testing.T) {
	var mu sync.Mutex
	answer := func(w http.ResponseWriter) {}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		a := answer
		mu.Unlock()
		a(w)
	}))
	defer srv.Close()
	set := func(f func(w http.ResponseWriter)) { mu.Lock(); answer = f; mu.Unlock() }
	ch := testChannel()
	ch.Settings[vk.SettingAPIURL] = srv.URL + "/method"
	p := vk.New(vk.WithTimeout(300 * time.Millisecond))
	send := func() error {
		_, err := p.SendMessage(context.Background(), ch, visitor, providers.OutMessage{ID: 1, Text: "x"})
		return err
	}

	set(func(w http.ResponseWriter) { w.Header().Set("Retry-After", "7"); w.WriteHeader(429) })
	if d, ok := providers.RetryDelay(send()); !ok || d != 7*time.Second {
		t.Errorf("429: want RetryAfter 7s, got %v %v", d, ok)
	}
	set(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>maintenance</html>")
	})
	if err := send(); err == nil || providers.IsPermanent(err) {
		t.Errorf("HTML answer: %v, want retryable", err)
	}
	set(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"error":{"error_code":10,"error_msg":"Internal server error"}}`)
	})
	if err := send(); err == nil || providers.IsPermanent(err) {
		t.Errorf("error 10: %v, want retryable", err)
	}
	set(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"error":{"error_code":9,"error_msg":"Flood control"}}`)
	})
	if d, _ := providers.RetryDelay(send()); d != time.Minute {
		t.Errorf("error 9: delay %v, want 1m", d)
	}
	set(func(w http.ResponseWriter) { time.Sleep(time.Second) })
	start := time.Now()
	if err := send(); err == nil || time.Since(start) > 900*time.Millisecond {
		t.Errorf("slow server: %v after %v, want a timeout error within the client timeout", err, time.Since(start))
	}
}

// pngBytes is a 1×1 PNG.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\xbd\xfa\x00\x00\x00\x00IEND\xaeB`\x82")

func outFile(id int64, name, mimeType string, content []byte, size int64) providers.OutFile {
	return providers.OutFile{ID: id, Name: name, MIME: mimeType, Size: size,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }}
}

func TestSendFile(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	p := vk.New()
	ch := fakeChannel(fake)
	ctx := context.Background()

	sent, err := p.SendFile(ctx, ch, visitor, outFile(20, "photo.png", "image/png", pngBytes, int64(len(pngBytes))))
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Sent()
	if len(got) != 1 || len(got[0].Attachments) != 1 || !strings.HasPrefix(got[0].Attachments[0], "photo-229000001_") || sent.ExternalID == "" {
		t.Fatalf("photo: sent %+v, fake %+v", sent, got)
	}
	if up := fake.Uploads(); len(up) != 1 || up[0].Kind != "photo" || !bytes.Equal(up[0].Content, pngBytes) {
		t.Errorf("photo upload %+v", up)
	}

	fake.Reset()
	pdf := []byte("%PDF-1.4 invoice")
	if _, err := p.SendFile(ctx, ch, visitor, providers.OutFile{ID: 21, Name: "invoice", MIME: "application/pdf", Caption: "Ваш счёt",
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(pdf)), nil }}); err != nil {
		t.Fatal(err)
	}
	got = fake.Sent()
	if len(got) != 1 || got[0].Text != "Ваш счёt" || !strings.HasPrefix(got[0].Attachments[0], "doc-229000001_") {
		t.Fatalf("document: %+v", got)
	}
	if up := fake.Uploads(); len(up) != 1 || up[0].Name != "invoice.pdf" || !bytes.Equal(up[0].Content, pdf) {
		t.Errorf("document upload (size unknown, name without extension): %+v", up)
	}

	// A retried file job uploads again but VK delivers the message once.
	if _, err := p.SendFile(ctx, ch, visitor, outFile(21, "invoice.pdf", "application/pdf", pdf, int64(len(pdf)))); err != nil {
		t.Fatal(err)
	}
	if len(fake.Sent()) != 1 {
		t.Errorf("retried file delivered twice")
	}

	// VK refuses mp3 documents: permanent, with VK's words.
	_, err = p.SendFile(ctx, ch, visitor, outFile(22, "song.mp3", "audio/mpeg", []byte("ID3"), 3))
	if !providers.IsPermanent(err) || !strings.Contains(providers.PermanentReason(err), "not allowed") {
		t.Errorf("mp3: %v", err)
	}
	// An image VK cannot read.
	_, err = p.SendFile(ctx, ch, visitor, outFile(23, "broken.jpg", "image/jpeg", []byte("not a jpeg"), 10))
	if !providers.IsPermanent(err) {
		t.Errorf("broken image: %v, want Permanent", err)
	}
	// A wrong size is an error, not a truncated upload.
	if _, err := p.SendFile(ctx, ch, visitor, outFile(24, "a.txt", "text/plain", []byte("abc"), 10)); err == nil {
		t.Errorf("size mismatch accepted")
	}
	// Send failures of the file's message are classified like texts.
	fake.FailNext(providertest.FailBlocked)
	if _, err := p.SendFile(ctx, ch, visitor, outFile(25, "a.txt", "text/plain", []byte("abc"), 3)); !providers.IsPermanent(err) {
		t.Errorf("blocked: %v", err)
	}
}

func TestDeleteMessage(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	p := vk.New()
	ch := fakeChannel(fake)
	ctx := context.Background()
	sent, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{ID: 30, Text: "oops"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.DeleteMessage(ctx, ch, visitor, sent.ExternalID); err != nil {
		t.Fatal(err)
	}
	if d := fake.Deleted(); len(d) != 1 || d[0] != sent.ExternalID {
		t.Errorf("deleted %v", d)
	}
	old, _ := p.SendMessage(ctx, ch, visitor, providers.OutMessage{ID: 31, Text: "old"})
	fake.MarkOld(old.ExternalID)
	err = p.DeleteMessage(ctx, ch, visitor, old.ExternalID)
	if !providers.IsPermanent(err) || !strings.Contains(providers.PermanentReason(err), "24 hours") {
		t.Errorf("old message: %v, want Permanent about 24 hours", err)
	}
	if err := p.DeleteMessage(ctx, ch, visitor, "abc"); !providers.IsPermanent(err) {
		t.Errorf("bad id: %v", err)
	}
}

func TestGetUserInfo(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	p := vk.New()
	ch := fakeChannel(fake)
	u, err := p.GetUserInfo(context.Background(), ch, "1001")
	if err != nil {
		t.Fatal(err)
	}
	if u.FirstName != "Ivan" || u.LastName != "Petrov" || u.Username != "ivan.petrov" || !strings.HasPrefix(u.AvatarURL, "https://sun1-1.userapi.com/") {
		t.Errorf("user %+v", u)
	}
	fake.AddUser(vktest.User{ID: 1002, FirstName: "Anna"})
	if u, err := p.GetUserInfo(context.Background(), ch, "1002"); err != nil || u.FirstName != "Anna" || u.AvatarURL != "" {
		t.Errorf("user without a photo: %+v %v (VK's camera placeholder must be dropped)", u, err)
	}
	if _, err := p.GetUserInfo(context.Background(), ch, "999999"); !providers.IsPermanent(err) {
		t.Errorf("unknown user: %v, want Permanent (error 113)", err)
	}
	if g, err := p.GetUserInfo(context.Background(), ch, "-229000001"); err != nil || g.FirstName != vktest.GroupName {
		t.Errorf("community: %+v %v", g, err)
	}
}

func TestAnswerButton(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	p := vk.New()
	ch := fakeChannel(fake)
	ev := providers.Event{Kind: providers.EventButton, ExternalID: "c9e90aab7b38", UserID: "1001", ChatID: "2000000003"}
	if err := p.AnswerButton(context.Background(), ch, ev); err != nil {
		t.Fatal(err)
	}
	if a := fake.Answered(); len(a) != 1 || a[0] != (vktest.Answer{EventID: "c9e90aab7b38", UserID: 1001, PeerID: 2000000003}) {
		t.Errorf("answered %+v", a)
	}
	if err := p.AnswerButton(context.Background(), ch, providers.Event{Kind: providers.EventButton, UserID: "1001"}); err != nil || len(fake.Answered()) != 1 {
		t.Errorf("a press without an id must not call VK: %v, %d answers", err, len(fake.Answered()))
	}
}

func TestCheck(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	p := vk.New()
	ctx := context.Background()
	s := fake.Settings()
	s[vk.SettingGroupID] = "club229000001"
	got, err := p.Check(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if got[vk.SettingGroupName] != vktest.GroupName || got[vk.SettingConfirmationCode] != vktest.ConfirmationCode || got[vk.SettingGroupID] != "229000001" {
		t.Errorf("Check filled %v", got)
	}
	if s[vk.SettingGroupName] != "" {
		t.Error("Check modified its input")
	}

	tests := []struct {
		name  string
		edit  func(providers.Settings)
		field string
	}{
		{"bad token", func(s providers.Settings) { s[vk.SettingGroupToken] = "vk1.a.wrong" }, vk.SettingGroupToken},
		{"another community", func(s providers.Settings) { s[vk.SettingGroupID] = "5" }, vk.SettingGroupID},
		{"not a number", func(s providers.Settings) { s[vk.SettingGroupID] = "my-shop" }, vk.SettingGroupID},
		{"no token", func(s providers.Settings) { delete(s, vk.SettingGroupToken) }, vk.SettingGroupToken},
		{"bad app token", func(s providers.Settings) { s[vk.SettingAppToken] = "vk1.a.wrong-user" }, vk.SettingAppToken},
		{"a user token as community token", func(s providers.Settings) { s[vk.SettingGroupToken] = vktest.DefaultUserToken }, vk.SettingGroupToken},
		{"bad api url", func(s providers.Settings) { s[vk.SettingAPIURL] = "ftp://x" }, vk.SettingAPIURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := fake.Settings()
			tc.edit(s)
			_, err := p.Check(ctx, s)
			var se *providers.SettingsError
			if !errors.As(err, &se) || !contains(se.Fields, tc.field) {
				t.Fatalf("got %v, want a SettingsError naming %s", err, tc.field)
			}
			for _, v := range []string{s[vk.SettingGroupToken], s[vk.SettingAppToken]} {
				if len(v) > 6 && strings.Contains(err.Error(), v) {
					t.Errorf("error %q carries a token", err)
				}
			}
		})
	}

	// With an app token, callback management uses it and Check passes.
	s = fake.Settings()
	s[vk.SettingAppToken] = vktest.DefaultUserToken
	if _, err := p.Check(ctx, s); err != nil {
		t.Errorf("with app token: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestWebhookLifecycle(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	p := vk.New()
	ctx := context.Background()
	ch := fakeChannel(fake)

	extra, err := p.SetWebhook(ctx, ch, ch.WebhookURL)
	if err != nil {
		t.Fatal(err)
	}
	servers := fake.CallbackServers()
	if len(servers) != 1 {
		t.Fatalf("servers %+v", servers)
	}
	cs := servers[0]
	if cs.URL != ch.WebhookURL || cs.SecretKey != vk.CallbackSecret(ch.Secret) || cs.APIVersion != vk.APIVersion || cs.Title != "omnichat" {
		t.Errorf("server %+v", cs)
	}
	for _, ev := range []string{"message_new", "message_edit", "message_allow", "message_deny", "message_event"} {
		if !cs.Events[ev] {
			t.Errorf("not subscribed to %s: %v", ev, cs.Events)
		}
	}
	if cs.Events["message_reply"] || cs.Events["message_typing_state"] {
		t.Errorf("subscribed to events we ignore: %v", cs.Events)
	}
	if extra[vk.SettingCallbackServerID] == "" || extra[vk.SettingConfirmationCode] != vktest.ConfirmationCode {
		t.Errorf("SetWebhook returned %v", extra)
	}

	// Saving again (even with the id lost) updates the same server instead of adding one.
	if _, err := p.SetWebhook(ctx, ch, ch.WebhookURL); err != nil {
		t.Fatal(err)
	}
	ch.Settings = ch.Settings.Merge(extra)
	if _, err := p.SetWebhook(ctx, ch, ch.WebhookURL); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.CallbackServers()); n != 1 {
		t.Errorf("%d servers after saving three times, want 1", n)
	}

	if err := p.DeleteWebhook(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.CallbackServers()); n != 0 {
		t.Errorf("%d servers after DeleteWebhook", n)
	}
	// Deleting again is success.
	if err := p.DeleteWebhook(ctx, ch); err != nil {
		t.Errorf("second DeleteWebhook: %v", err)
	}

	noSecret := ch
	noSecret.Secret = "---"
	if _, err := p.SetWebhook(ctx, noSecret, ch.WebhookURL); err == nil {
		t.Error("SetWebhook registered a channel without a usable secret")
	}
}

// TestCallbackThroughHTTP plays VK against a minimal webhook handler wired like the core:
// confirmation, an event answered "ok", a forged event refused.
func TestCallbackThroughHTTP(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	p := vk.New()
	var mu sync.Mutex
	var stored []providers.Event
	var ch providers.Channel
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := &providers.Request{Method: r.Method, Header: r.Header, Body: body}
		if resp, handled, err := p.CallbackServerConfirmation(r.Context(), ch, req); handled {
			if err != nil {
				http.Error(w, "no", http.StatusForbidden)
				return
			}
			w.Header().Set("Content-Type", resp.ContentType)
			w.WriteHeader(resp.Status)
			w.Write(resp.Body)
			return
		}
		evs, err := p.EventFilter(r.Context(), ch, req)
		if errors.Is(err, providers.ErrUnauthorized) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		if err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		mu.Lock()
		stored = append(stored, evs...)
		mu.Unlock()
		ack := p.Ack(ch, req, evs)
		w.WriteHeader(ack.Status)
		w.Write(ack.Body)
	}))
	defer hook.Close()
	ch = fakeChannel(fake)
	ch.WebhookURL = hook.URL
	ctx := context.Background()

	extra, err := p.SetWebhook(ctx, ch, hook.URL)
	if err != nil {
		t.Fatal(err)
	}
	ch.Settings = ch.Settings.Merge(extra)
	if err := fake.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	if fake.CallbackServers()[0].Status != "ok" {
		t.Errorf("server status %q after confirmation", fake.CallbackServers()[0].Status)
	}
	status, answer, err := fake.DeliverMessage(ctx, "ev-100", 1001, 70, "Привет")
	if err != nil || status != 200 || string(answer) != "ok" {
		t.Fatalf("deliver: %d %q %v", status, answer, err)
	}
	forged, _ := vktest.EventBody(vktest.GroupID, "wrongsecret0123456789abcdef", "message_new", "ev-101",
		vktest.MessageNewObject(1001, 71, "forged", time.Now()))
	if status, _, _ := fake.Deliver(ctx, forged); status != http.StatusForbidden {
		t.Errorf("forged event answered %d, want 403", status)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stored) != 1 || stored[0].ExternalID != "1001:70" || stored[0].Text != "Привет" {
		t.Errorf("stored %+v", stored)
	}
}
