package chatapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/chatapi"
	"github.com/omnichat/omnichat/providers/chatapi/chatapitest"
)

// fakeChannel is a channel on the fake instance.
func fakeChannel(fake *chatapitest.Server) providers.Channel {
	ch := testChannel()
	ch.Settings = fake.Settings()
	return ch
}

var ivanTo = providers.Recipient{UserID: chatapitest.UserChatID}

func TestSendMessageWire(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	p := chatapi.New()
	ch := fakeChannel(fake)

	sent, err := p.SendMessage(context.Background(), ch, ivanTo, providers.OutMessage{
		ID: 1, Text: "Pick one", ReplyTo: "false_79161234567@c.us_3EB0C7F2A1D94B6E8F21",
		Buttons: [][]providers.Button{{{Text: "Yes", Data: "yes"}, {Text: "No", Data: "no"}}, {{Text: "Our site", URL: "https://shop.example/"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Sent()
	if len(got) != 1 {
		t.Fatalf("fake got %d messages, want 1", len(got))
	}
	want := chatapitest.SentMessage{
		ID: sent.ExternalID, ChatID: chatapitest.UserChatID,
		Text:        "Pick one\n\n1. Yes\n2. No\n3. Our site: https://shop.example/",
		QuotedMsgID: "false_79161234567@c.us_3EB0C7F2A1D94B6E8F21",
	}
	if got[0].ID != want.ID || got[0].ChatID != want.ChatID || got[0].Text != want.Text || got[0].QuotedMsgID != want.QuotedMsgID || got[0].Phone != "" {
		t.Errorf("fake got %+v\nwant %+v", got[0], want)
	}
	if !strings.HasPrefix(sent.ExternalID, "true_79161234567@c.us_") || sent.Parts != nil {
		t.Errorf("Sent = %+v", sent)
	}
}

func TestSendMessageByPhone(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	_, err := chatapi.New().SendMessage(context.Background(), fakeChannel(fake), providers.Recipient{UserID: "+7 916 123-45-67"}, providers.OutMessage{Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fake.Sent(); len(got) != 1 || got[0].Phone != "79161234567" || got[0].ChatID != chatapitest.UserChatID {
		t.Errorf("fake got %+v", got)
	}
}

func TestSendMessageSplit(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	text := strings.Repeat("Длинный текст. ", 700) // 10,500 runes
	sent, err := chatapi.New().SendMessage(context.Background(), fakeChannel(fake), ivanTo, providers.OutMessage{
		Text: text, ReplyTo: "false_x", Buttons: [][]providers.Button{{{Text: "OK"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Sent()
	if len(got) != 3 || len(sent.Parts) != 3 || sent.ExternalID != got[2].ID {
		t.Fatalf("want 3 parts, got %d sent, Sent %+v", len(got), sent)
	}
	var joined strings.Builder
	for i, m := range got {
		if n := utf8.RuneCountInString(m.Text); n > chatapi.MaxTextLength {
			t.Errorf("part %d has %d runes", i, n)
		}
		if sent.Parts[i] != m.ID {
			t.Errorf("Parts[%d] = %q, fake id %q", i, sent.Parts[i], m.ID)
		}
		if (m.QuotedMsgID != "") != (i == 0) {
			t.Errorf("part %d quotes %q: only the first part quotes", i, m.QuotedMsgID)
		}
		joined.WriteString(m.Text)
	}
	if joined.String() != text+"\n\n1. OK" {
		t.Error("the parts do not join back to the text with its menu at the end")
	}
}

func TestSendMessageRefusesWithoutCall(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	p := chatapi.New()
	ch := fakeChannel(fake)
	tests := []struct {
		name string
		to   providers.Recipient
		m    providers.OutMessage
	}{
		{"empty text", ivanTo, providers.OutMessage{Text: "  "}},
		{"no recipient", providers.Recipient{}, providers.OutMessage{Text: "hi"}},
		{"recipient not a number", providers.Recipient{UserID: "ivan"}, providers.OutMessage{Text: "hi"}},
		{"button without text", ivanTo, providers.OutMessage{Text: "hi", Buttons: [][]providers.Button{{{Data: "x"}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake.Reset()
			_, err := p.SendMessage(context.Background(), ch, tc.to, tc.m)
			if !providers.IsPermanent(err) || providers.PermanentReason(err) == "" {
				t.Errorf("want a Permanent error with a reason, got %v", err)
			}
			if calls := fake.Calls(); len(calls) != 0 {
				t.Errorf("the platform was called: %+v", calls)
			}
		})
	}
}

func TestSendMessageFakeStates(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	p := chatapi.New()
	ch := fakeChannel(fake)
	ctx := context.Background()

	// Not authenticated: ChatAPI queues the message and answers sent:true.
	fake.SetAccountStatus(chatapi.StatusGotQRCode)
	if _, err := p.SendMessage(ctx, ch, ivanTo, providers.OutMessage{Text: "queued"}); err != nil {
		t.Errorf("a send while the phone is not linked is queued, got %v", err)
	}
	if s := fake.Sent(); len(s) != 1 || !s[0].Queued {
		t.Errorf("fake: %+v", s)
	}

	fake.SetAccountStatus(chatapi.StatusNotPaid)
	_, err := p.SendMessage(ctx, ch, ivanTo, providers.OutMessage{Text: "x"})
	if !strings.Contains(providers.PermanentReason(err), "not paid") {
		t.Errorf("not paid: want a Permanent 'not paid', got %v", err)
	}

	fake.SetAccountStatus(chatapi.StatusAuthenticated)
	fake.Block(chatapitest.UserChatID)
	_, err = p.SendMessage(ctx, ch, ivanTo, providers.OutMessage{Text: "x"})
	if !strings.HasPrefix(providers.PermanentReason(err), "WhatsApp did not accept the message") {
		t.Errorf("blocked: got %v", err)
	}
	fake.Unblock(chatapitest.UserChatID)

	fake.FailSends(1, http.StatusServiceUnavailable)
	if _, err := p.SendMessage(ctx, ch, ivanTo, providers.OutMessage{Text: "x"}); err == nil || providers.IsPermanent(err) {
		t.Errorf("503: want a plain error, got %v", err)
	}
	fake.FailSends(1, http.StatusTooManyRequests)
	_, err = p.SendMessage(ctx, ch, ivanTo, providers.OutMessage{Text: "x"})
	if d, ok := providers.RetryDelay(err); !ok || d != time.Second {
		t.Errorf("429 with Retry-After: 1: got %v", err)
	}
	if _, err := p.SendMessage(ctx, ch, ivanTo, providers.OutMessage{Text: "x"}); err != nil {
		t.Errorf("failures must be used up: %v", err)
	}
}

func TestSendFile(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	p := chatapi.New()
	ch := fakeChannel(fake)
	ctx := context.Background()
	content := []byte("%PDF-1.4 \x00\xff binary\n")
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }

	sent, err := p.SendFile(ctx, ch, ivanTo, providers.OutFile{
		Name: "report\nfinal.pdf", MIME: "application/pdf; charset=binary", Size: int64(len(content)), Caption: "The report", Open: open,
		URL: "https://omnichat.example/files/1",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Sent()
	if len(got) != 1 || got[0].ID != sent.ExternalID {
		t.Fatalf("fake got %+v, Sent %+v", got, sent)
	}
	m := got[0]
	if !bytes.Equal(m.File, content) || m.FileMIME != "application/pdf" || m.FileName != "reportfinal.pdf" || m.Caption != "The report" || m.FileURL != "" {
		t.Errorf("fake got file %q mime %q name %q caption %q url %q", m.File, m.FileMIME, m.FileName, m.Caption, m.FileURL)
	}

	// Without content, ChatAPI fetches the URL.
	fake.Reset()
	if _, err := p.SendFile(ctx, ch, ivanTo, providers.OutFile{Name: "a.jpg", URL: "https://omnichat.example/files/2"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.Sent(); len(got) != 1 || got[0].FileURL != "https://omnichat.example/files/2" || got[0].File != nil {
		t.Errorf("fake got %+v", got)
	}

	// Too large: refused before any call, whether Size says so or the content does.
	fake.Reset()
	big := func() (io.ReadCloser, error) {
		return io.NopCloser(io.LimitReader(zeros{}, chatapi.MaxUploadBytes+1)), nil
	}
	for _, f := range []providers.OutFile{
		{Name: "big.bin", Size: chatapi.MaxUploadBytes + 1, Open: open},
		{Name: "big.bin", Open: big},
		{Name: "nothing.bin"},
	} {
		if _, err := p.SendFile(ctx, ch, ivanTo, f); !providers.IsPermanent(err) {
			t.Errorf("%+v: want Permanent, got %v", f.Size, err)
		}
	}
	if len(fake.Calls()) != 0 {
		t.Errorf("the platform was called: %+v", fake.Calls())
	}

	// Our storage failing is worth a retry.
	_, err = p.SendFile(ctx, ch, ivanTo, providers.OutFile{Name: "a", Open: func() (io.ReadCloser, error) { return nil, errors.New("disk busy") }})
	if err == nil || providers.IsPermanent(err) {
		t.Errorf("open failure: want a plain error, got %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestDeleteMessageUnsupported(t *testing.T) {
	err := chatapi.New().DeleteMessage(context.Background(), testChannel(), ivanTo, "true_79161234567@c.us_1")
	if !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("want ErrUnsupported, got %v", err)
	}
}

func TestGetUserInfo(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	fake.AddDialog("79031112233@c.us", "+7 903 111-22-33") // no profile name: only the number
	p := chatapi.New()
	ch := fakeChannel(fake)
	ctx := context.Background()
	tests := []struct {
		id   string
		want providers.UserInfo
	}{
		{chatapitest.UserChatID, providers.UserInfo{FirstName: chatapitest.UserName, Phone: chatapitest.UserPhone}},
		{chatapitest.UserPhone, providers.UserInfo{FirstName: chatapitest.UserName, Phone: chatapitest.UserPhone}},
		{"79031112233@c.us", providers.UserInfo{Phone: "+79031112233"}},
		{"79990000000@c.us", providers.UserInfo{Phone: "+79990000000"}}, // unknown chat: the phone still
	}
	for _, tc := range tests {
		got, err := p.GetUserInfo(ctx, ch, tc.id)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("GetUserInfo(%q) = %+v, %v; want %+v", tc.id, got, err, tc.want)
		}
		if got.AvatarURL != "" {
			t.Errorf("no avatars for this channel, got %q", got.AvatarURL)
		}
	}
	calls := fake.CallsTo("dialog")
	if len(calls) != len(tests) {
		t.Errorf("want one GET dialog per lookup, got %d", len(calls))
	}
	if _, err := p.GetUserInfo(ctx, ch, "79990000000-1622497000@g.us"); err == nil {
		t.Error("an unknown group has neither phone nor name: want an error")
	}
	if _, err := p.GetUserInfo(ctx, ch, ""); !providers.IsPermanent(err) {
		t.Errorf("empty id: want Permanent, got %v", err)
	}
}

func TestCheck(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	p := chatapi.New()
	ctx := context.Background()

	got, err := p.Check(ctx, fake.Settings())
	if err != nil || got[chatapi.SettingAccountStatus] != chatapi.StatusAuthenticated {
		t.Fatalf("Check = %v, %v", got, err)
	}
	fake.SetAccountStatus(chatapi.StatusGotQRCode)
	if got, err := p.Check(ctx, fake.Settings()); err != nil || got[chatapi.SettingAccountStatus] != chatapi.StatusGotQRCode {
		t.Errorf("an instance waiting for its QR code passes Check: %v, %v", got, err)
	}

	settingsErr := func(s providers.Settings, fields string) {
		t.Helper()
		_, err := p.Check(ctx, s)
		var se *providers.SettingsError
		if !errors.As(err, &se) || strings.Join(se.Fields, ",") != fields {
			t.Errorf("want a SettingsError on %s, got %v", fields, err)
		}
		if err != nil && strings.Contains(err.Error(), fake.Token) {
			t.Errorf("error carries the token: %v", err)
		}
	}
	bad := fake.Settings()
	bad[chatapi.SettingToken] = "wrong-token-value"
	settingsErr(bad, chatapi.SettingToken)
	other := fake.Settings()
	other[chatapi.SettingAPIURL] = strings.Replace(fake.URL(), chatapitest.InstanceID, "123", 1)
	other[chatapi.SettingChannelID] = "123"
	settingsErr(other, chatapi.SettingAPIURL+","+chatapi.SettingChannelID)
}

func TestSetAndDeleteWebhook(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	p := chatapi.New()
	ch := fakeChannel(fake)
	ctx := context.Background()

	if _, err := p.SetWebhook(ctx, ch, ch.WebhookURL); err != nil {
		t.Fatal(err)
	}
	st := fake.InstanceSettings()
	if st.WebhookURL != ch.WebhookURL+"/"+ch.Secret || !st.AckNotificationsOn || !st.VideoUploadOn || st.ChatUpdateOn {
		t.Errorf("instance settings after SetWebhook: %+v", st)
	}
	if err := p.DeleteWebhook(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if got := fake.WebhookURL(); got != "" {
		t.Errorf("webhook after DeleteWebhook: %q", got)
	}

	noSecret := ch
	noSecret.Secret = ""
	fake.Reset()
	if _, err := p.SetWebhook(ctx, noSecret, ch.WebhookURL); err == nil || len(fake.Calls()) != 0 {
		t.Errorf("SetWebhook without a secret must fail before calling ChatAPI: %v, calls %+v", err, fake.Calls())
	}
}

// TestThroughFake runs the fake's webhook helpers against a stand-in for omnichat's
// /webhooks/{id} route: what the core's end-to-end test does with the real server.
func TestThroughFake(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	p := chatapi.New()
	ch := fakeChannel(fake)
	ctx := context.Background()

	events := make(chan []providers.Event, 4)
	omnichat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/webhooks/7")
		if !ok {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		evs, err := p.EventFilter(r.Context(), ch, &providers.Request{Method: r.Method, Path: rest, Header: r.Header, Query: r.URL.Query(), Body: body})
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		events <- evs
		w.Write([]byte(`{}`))
	}))
	defer omnichat.Close()
	ch.WebhookURL = omnichat.URL + "/webhooks/7"

	if _, err := p.SetWebhook(ctx, ch, ch.WebhookURL); err != nil {
		t.Fatal(err)
	}
	id, status, err := fake.DeliverText(ctx, chatapitest.UserPhone, "Ivan", "Hello!")
	if err != nil || status != http.StatusOK {
		t.Fatalf("DeliverText: %d %v", status, err)
	}
	evs := <-events
	if len(evs) != 1 || evs[0].ExternalID != id || evs[0].Text != "Hello!" || evs[0].User.Phone != chatapitest.UserPhone {
		t.Errorf("incoming: %+v", evs)
	}

	sent, err := p.SendMessage(ctx, ch, providers.Recipient{UserID: evs[0].UserID}, providers.OutMessage{Text: "Hi Ivan"})
	if err != nil {
		t.Fatal(err)
	}
	if status, err := fake.DeliverAck(ctx, sent.ExternalID, chatapi.AckViewed); err != nil || status != http.StatusOK {
		t.Fatalf("DeliverAck: %d %v", status, err)
	}
	evs = <-events
	if len(evs) != 1 || evs[0].Kind != providers.EventRead || evs[0].Refs[0] != sent.ExternalID {
		t.Errorf("ack: %+v", evs)
	}

	// The same URL without the token is refused.
	req, _ := http.NewRequest(http.MethodPost, ch.WebhookURL, strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("webhook without the token answered %d", resp.StatusCode)
	}
}

// answer is one canned HTTP answer of a hand-made server.
type answer struct {
	status int
	header map[string]string
	body   string
}

func serve(t *testing.T, a answer) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

const secretToken = "Sup3r+Secret/Token_0123456789"

func rawChannel(apiURL string) providers.Channel {
	ch := testChannel()
	ch.Settings = providers.Settings{chatapi.SettingAPIURL: apiURL + "/instance777001/", chatapi.SettingToken: secretToken, chatapi.SettingChannelID: "777001"}
	return ch
}

// TestErrorMapping: every answer class of ChatAPI and what stands in front of it, and that
// no error text carries the token (it is in every URL).
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name   string
		a      answer
		perm   string
		retry  time.Duration
		anyErr bool
	}{
		{"wrong token", answer{401, nil, `{"error":"Wrong token. Please provide token as a GET parameter."}`}, "ChatAPI rejected the token", 0, true},
		{"error echoing the token", answer{400, nil, `{"error":"bad request for token ` + secretToken + `"}`}, "ChatAPI refused the request", 0, true},
		{"not paid at 200", answer{200, nil, `{"error":"Instance is not paid"}`}, "the ChatAPI instance is not paid", 0, true},
		{"not sent", answer{200, nil, `{"sent":false,"message":"Wrong chatId format."}`}, "WhatsApp did not accept the message: Wrong chatId format.", 0, true},
		{"rate limited", answer{429, map[string]string{"Retry-After": "7"}, `{"error":"slow down"}`}, "", 7 * time.Second, true},
		{"rate limited, no header", answer{429, nil, ``}, "", 5 * time.Second, true},
		{"gateway page", answer{502, map[string]string{"Content-Type": "text/html"}, `<html>Bad Gateway</html>`}, "", 0, true},
		{"not JSON at 200", answer{200, nil, `<html>captive portal</html>`}, "", 0, true},
		{"no id", answer{200, nil, `{"sent":true,"message":"ok"}`}, "", 0, true},
		{"redirect is not followed", answer{302, map[string]string{"Location": "https://elsewhere.invalid/steal"}, ``}, "ChatAPI refused the request", 0, true},
		{"success", answer{200, nil, `{"sent":true,"message":"Sent to 79161234567@c.us","id":"true_79161234567@c.us_AB","queueNumber":1}`}, "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, hits := serve(t, tc.a)
			_, err := chatapi.New().SendMessage(context.Background(), rawChannel(srv.URL), ivanTo, providers.OutMessage{Text: "x"})
			if (err != nil) != tc.anyErr {
				t.Fatalf("error %v, want error %v", err, tc.anyErr)
			}
			if hits.Load() != 1 {
				t.Errorf("the server was called %d times", hits.Load())
			}
			if err == nil {
				return
			}
			if got := providers.PermanentReason(err); !strings.HasPrefix(got, tc.perm) || (tc.perm == "") != (got == "") {
				t.Errorf("reason %q, want prefix %q (err %v)", got, tc.perm, err)
			}
			if d, ok := providers.RetryDelay(err); ok != (tc.retry > 0) || d != tc.retry {
				t.Errorf("retry %v %v, want %v", d, ok, tc.retry)
			}
			assertNoToken(t, err)
		})
	}
}

// TestNetworkErrorsHaveNoToken: *url.Error quotes the URL, which holds the token.
func TestNetworkErrorsHaveNoToken(t *testing.T) {
	// A closed server: connection refused.
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	_, err := chatapi.New().SendMessage(context.Background(), rawChannel(srv.URL), ivanTo, providers.OutMessage{Text: "x"})
	if err == nil || providers.IsPermanent(err) {
		t.Fatalf("connection refused: want a plain error, got %v", err)
	}
	assertNoToken(t, err)
	var ue *url.Error
	if !errors.As(err, &ue) || strings.Contains(ue.URL, "token") {
		t.Errorf("want a *url.Error without the query, got %#v", err)
	}

	// A timeout stays recognisable as one.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer slow.Close()
	defer close(release)
	_, err = chatapi.New(chatapi.WithTimeout(50*time.Millisecond)).Check(context.Background(), rawChannel(slow.URL).Settings)
	if err == nil {
		t.Fatal("want a timeout")
	}
	assertNoToken(t, err)
	if !errors.As(err, &ue) || !ue.Timeout() {
		t.Errorf("want a timeout *url.Error, got %v", err)
	}

	// A cancelled context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = chatapi.New().GetUserInfo(ctx, rawChannel(slow.URL), chatapitest.UserChatID)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("want context.Canceled, got %v", err)
	}
	assertNoToken(t, err)
}

func assertNoToken(t *testing.T, err error) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		if strings.Contains(msg, secretToken) || strings.Contains(msg, url.QueryEscape(secretToken)) || strings.Contains(msg, "token=") {
			t.Errorf("error text carries the token: %q", msg)
		}
	}
}

// TestTokenOnlyInQuery: the token goes to ChatAPI in the query string, as ChatAPI wants.
func TestTokenOnlyInQuery(t *testing.T) {
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		io.WriteString(w, `{"accountStatus":"authenticated"}`)
	}))
	defer srv.Close()
	if _, err := chatapi.New().Check(context.Background(), rawChannel(srv.URL).Settings); err != nil {
		t.Fatal(err)
	}
	if got.Get("token") != secretToken {
		t.Errorf("query %v", got)
	}
}
