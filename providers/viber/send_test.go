package viber_test

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
	"github.com/omnichat/omnichat/providers/viber"
	"github.com/omnichat/omnichat/providers/viber/vibertest"
)

func fakeChannel(fake *vibertest.Server) providers.Channel {
	return providers.Channel{
		ID: 3, Kind: viber.Kind, Name: "viber",
		Settings: providers.Settings{
			viber.SettingToken: fake.Token, viber.SettingAPIURL: fake.URL(),
			viber.SettingBotID: vibertest.BotID, viber.SettingBotName: vibertest.BotName,
		},
		WebhookURL: "https://omnichat.example/webhooks/3",
	}
}

var to = providers.Recipient{UserID: vibertest.UserID}

func TestSendMessage(t *testing.T) {
	ctx := context.Background()
	fake := vibertest.NewServer()
	defer fake.Close()
	p := viber.New()
	ch := fakeChannel(fake)

	sent, err := p.SendMessage(ctx, ch, to, providers.OutMessage{ID: 1, Text: "Hello <b>there</b> & welcome"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := fake.Sent()
	if len(msgs) != 1 {
		t.Fatalf("fake got %d messages", len(msgs))
	}
	m := msgs[0]
	if sent.ExternalID != m.Token || len(sent.Parts) != 1 || sent.Parts[0] != m.Token {
		t.Errorf("Sent %+v does not carry the fake's token %s exactly (64-bit tokens must not go through float64)", sent, m.Token)
	}
	if m.Receiver != vibertest.UserID || m.Type != "text" || m.Text != "Hello <b>there</b> & welcome" || m.SenderName != vibertest.BotName {
		t.Errorf("fake got %+v", m)
	}
	if bytes.Contains(m.Body, []byte(`\u003c`)) {
		t.Errorf("the request escapes HTML (wastes Viber's 30 KB): %s", m.Body)
	}
	if m.Keyboard != nil || m.TrackingData != "" {
		t.Errorf("a message without buttons carries a keyboard %+v or tracking data %q", m.Keyboard, m.TrackingData)
	}

	t.Run("sender name setting", func(t *testing.T) {
		fake.Reset()
		sch := fakeChannel(fake)
		sch.Settings[viber.SettingSenderName] = "Оператор поддержки"
		if _, err := p.SendMessage(ctx, sch, to, providers.OutMessage{ID: 2, Text: "x"}); err != nil {
			t.Fatal(err)
		}
		if got := fake.Sent()[0].SenderName; got != "Оператор поддержки" {
			t.Errorf("sender name %q", got)
		}
	})

	t.Run("long text with buttons", func(t *testing.T) {
		fake.Reset()
		text := strings.Repeat("Строка ответа оператора.\n", 400) // 10000 characters
		sent, err := p.SendMessage(ctx, ch, to, providers.OutMessage{ID: 3, Text: text,
			Buttons: [][]providers.Button{{{Text: "Yes", Data: "yes"}, {Text: "No", Data: "no"}}}})
		if err != nil {
			t.Fatal(err)
		}
		msgs := fake.Sent()
		if len(msgs) != 2 || len(sent.Parts) != 2 {
			t.Fatalf("want 2 messages, fake got %d, Sent.Parts %v", len(msgs), sent.Parts)
		}
		if msgs[0].Text+msgs[1].Text != text {
			t.Error("the parts do not add up to the text")
		}
		if !strings.HasSuffix(msgs[0].Text, "\n") {
			t.Errorf("the first part should end at a line break, ends with %q", msgs[0].Text[len(msgs[0].Text)-10:])
		}
		if msgs[0].Keyboard != nil || msgs[0].TrackingData != "" {
			t.Error("the keyboard must come with the last part only")
		}
		if msgs[1].Keyboard == nil || len(msgs[1].Keyboard.Buttons) != 2 || msgs[1].TrackingData == "" {
			t.Errorf("the last part lacks the keyboard: %+v", msgs[1])
		}
		if sent.ExternalID != msgs[1].Token || sent.Parts[0] != msgs[0].Token {
			t.Errorf("Sent %+v, tokens %s %s", sent, msgs[0].Token, msgs[1].Token)
		}
	})

	t.Run("button press round trip", func(t *testing.T) {
		fake.Reset()
		_, err := p.SendMessage(ctx, ch, to, providers.OutMessage{ID: 4, Text: "Need an operator?",
			Buttons: [][]providers.Button{{{Text: "Позвать оператора", Data: "op:call"}, {Text: "Нет", Data: "no"}}, {{Text: "Site", URL: "https://shop.example.com"}}}})
		if err != nil {
			t.Fatal(err)
		}
		body, err := fake.ButtonCallback(vibertest.UserID, "Позвать оператора")
		if err != nil {
			t.Fatal(err)
		}
		evs, err := p.EventFilter(ctx, ch, signed(ch, body))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Kind != providers.EventButton || evs[0].Payload != "op:call" || evs[0].Text != "Позвать оператора" || evs[0].UserID != vibertest.UserID || evs[0].ExternalID == "" {
			t.Errorf("button press gave %+v", evs)
		}
		// Typing something else while the keyboard is shown is an ordinary message.
		evs, err = p.EventFilter(ctx, ch, signed(ch, fake.TextCallback(vibertest.UserID, "Когда доставка?")))
		if err != nil || len(evs) != 1 || evs[0].Kind != providers.EventMessage {
			t.Errorf("text under a keyboard gave %+v, %v", evs, err)
		}
		// After a message without buttons the keyboard is gone: the same text is a message.
		if _, err := p.SendMessage(ctx, ch, to, providers.OutMessage{ID: 5, Text: "ok"}); err != nil {
			t.Fatal(err)
		}
		evs, err = p.EventFilter(ctx, ch, signed(ch, fake.TextCallback(vibertest.UserID, "Позвать оператора")))
		if err != nil || len(evs) != 1 || evs[0].Kind != providers.EventMessage {
			t.Errorf("text after the keyboard was replaced gave %+v, %v", evs, err)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		if _, err := p.SendMessage(ctx, ch, providers.Recipient{}, providers.OutMessage{Text: "x"}); !providers.IsPermanent(err) {
			t.Errorf("no recipient: %v", err)
		}
		if _, err := p.SendMessage(ctx, ch, to, providers.OutMessage{Text: "  "}); !providers.IsPermanent(err) {
			t.Errorf("empty text: %v", err)
		}
		bad := fakeChannel(fake)
		delete(bad.Settings, viber.SettingToken)
		if _, err := p.SendMessage(ctx, bad, to, providers.OutMessage{Text: "x"}); !providers.IsPermanent(err) {
			t.Errorf("no token: %v", err)
		}
		if err := p.DeleteMessage(ctx, ch, to, "5491234567890123456"); !errors.Is(err, providers.ErrUnsupported) {
			t.Errorf("DeleteMessage: %v", err)
		}
	})
}

func TestSendFile(t *testing.T) {
	ctx := context.Background()
	fake := vibertest.NewServer()
	defer fake.Close()
	p := viber.New()
	ch := fakeChannel(fake)
	content := func(n int) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(make([]byte, n))), nil }
	}
	type want struct {
		types    []string // message types sent, in order
		text     string   // text of the first message
		size     int64
		fileName string
	}
	cases := []struct {
		name string
		f    providers.OutFile
		want want
	}{
		{"picture with caption", providers.OutFile{Name: "photo.jpg", MIME: "image/jpeg", Size: 50_000, Caption: "Ваш чек", URL: "https://omnichat.example/f/1"},
			want{types: []string{"picture"}, text: "Ваш чек"}},
		{"picture with a long caption", providers.OutFile{Name: "photo.png", MIME: "image/png", Size: 50_000, Caption: strings.Repeat("c", 600), URL: "https://omnichat.example/f/2"},
			want{types: []string{"picture", "text"}}},
		{"big picture goes as a file", providers.OutFile{Name: "scan.jpg", MIME: "image/jpeg", Size: 3 << 20, Caption: "scan", URL: "https://omnichat.example/f/3"},
			want{types: []string{"file", "text"}, size: 3 << 20, fileName: "scan.jpg"}},
		{"video", providers.OutFile{Name: "clip.mp4", MIME: "video/mp4", Size: 2 << 20, URL: "https://omnichat.example/f/4"},
			want{types: []string{"video"}, size: 2 << 20}},
		{"document", providers.OutFile{Name: "report.pdf", MIME: "application/pdf", Size: 1234, URL: "https://omnichat.example/f/5"},
			want{types: []string{"file"}, size: 1234, fileName: "report.pdf"}},
		{"size counted when unknown", providers.OutFile{Name: "notes.txt", MIME: "text/plain", Open: content(777), URL: "https://omnichat.example/f/6"},
			want{types: []string{"file"}, size: 777, fileName: "notes.txt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake.Reset()
			sent, err := p.SendFile(ctx, ch, to, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			msgs := fake.Sent()
			var types []string
			for _, m := range msgs {
				types = append(types, m.Type)
			}
			if strings.Join(types, ",") != strings.Join(tc.want.types, ",") {
				t.Fatalf("sent %v, want %v", types, tc.want.types)
			}
			first := msgs[0]
			if first.Media != tc.f.URL || first.Text != tc.want.text || first.Size != tc.want.size || first.FileName != tc.want.fileName {
				t.Errorf("first message %+v", first)
			}
			if len(sent.Parts) != len(msgs) || sent.ExternalID != msgs[len(msgs)-1].Token {
				t.Errorf("Sent %+v for %d messages", sent, len(msgs))
			}
			if len(msgs) == 2 && msgs[1].Text != tc.f.Caption {
				t.Errorf("caption sent as %q", msgs[1].Text)
			}
		})
	}
	t.Run("no public URL", func(t *testing.T) {
		_, err := p.SendFile(ctx, ch, to, providers.OutFile{Name: "a.pdf", Size: 10, Open: content(10)})
		if !providers.IsPermanent(err) {
			t.Errorf("want Permanent, got %v", err)
		}
	})
	t.Run("over 50 MB", func(t *testing.T) {
		_, err := p.SendFile(ctx, ch, to, providers.OutFile{Name: "a.zip", Size: 51 << 20, URL: "https://omnichat.example/f/7"})
		if !providers.IsPermanent(err) {
			t.Errorf("want Permanent, got %v", err)
		}
	})
}

// stub answers every call with the given HTTP status, headers and body.
func stub(t *testing.T, status int, header http.Header, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestErrorMapping(t *testing.T) {
	type class int
	const (
		retry class = iota
		permanent
		rateLimited
	)
	cases := []struct {
		name      string
		status    int
		header    http.Header
		body      string
		want      class
		wantDelay time.Duration
	}{
		{"ok", 200, nil, `{"status":0,"status_message":"ok","message_token":5491234567890123456}`, -1, 0},
		{"5xx html", 503, nil, "<html>Service Unavailable</html>", retry, 0},
		{"502 json", 502, nil, `{"status":0}`, retry, 0},
		{"429 with Retry-After", 429, http.Header{"Retry-After": {"7"}}, "", rateLimited, 7 * time.Second},
		{"429 without Retry-After", 429, nil, "", rateLimited, 30 * time.Second},
		{"200 not JSON", 200, nil, "<html>captive portal</html>", retry, 0},
		{"200 JSON without status", 200, nil, `{"message_token":1}`, retry, 0},
		{"200 ok without token", 200, nil, `{"status":0,"status_message":"ok"}`, retry, 0},
		{"tooManyRequests", 200, nil, `{"status":12,"status_message":"tooManyRequests"}`, rateLimited, 30 * time.Second},
		{"receiverNotSubscribed", 200, nil, `{"status":6,"status_message":"receiverNotSubscribed"}`, permanent, 0},
		{"receiverNotRegistered", 200, nil, `{"status":5,"status_message":"receiverNotRegistered"}`, permanent, 0},
		{"invalidAuthToken", 200, nil, `{"status":2,"status_message":"invalidAuthToken"}`, permanent, 0},
		{"badData", 200, nil, `{"status":3,"status_message":"badData"}`, permanent, 0},
		{"general error", 200, nil, `{"status":99,"status_message":"General error"}`, retry, 0},
	}
	p := viber.New()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := stub(t, tc.status, tc.header, tc.body)
			ch := testChannel()
			ch.Settings[viber.SettingAPIURL] = srv.URL
			_, err := p.SendMessage(context.Background(), ch, to, providers.OutMessage{ID: 1, Text: "x"})
			if tc.want == -1 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q contains the token", err)
			}
			d, limited := providers.RetryDelay(err)
			switch {
			case tc.want == rateLimited:
				if !limited || d != tc.wantDelay {
					t.Errorf("want RetryAfter %s, got %v", tc.wantDelay, err)
				}
			case tc.want == permanent:
				if !providers.IsPermanent(err) || providers.PermanentReason(err) == "" {
					t.Errorf("want Permanent with a reason, got %v", err)
				}
			default:
				if providers.IsPermanent(err) || limited {
					t.Errorf("want a plain retryable error, got %v", err)
				}
			}
		})
	}

	t.Run("network error", func(t *testing.T) {
		srv := stub(t, 200, nil, "")
		srv.Close()
		ch := testChannel()
		ch.Settings[viber.SettingAPIURL] = srv.URL
		_, err := p.SendMessage(context.Background(), ch, to, providers.OutMessage{Text: "x"})
		if err == nil || providers.IsPermanent(err) || strings.Contains(err.Error(), testToken) {
			t.Errorf("want a retryable error without the token, got %v", err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		ch := testChannel()
		ch.Settings[viber.SettingAPIURL] = srv.URL
		start := time.Now()
		_, err := viber.New(viber.WithTimeout(100*time.Millisecond)).SendMessage(context.Background(), ch, to, providers.OutMessage{Text: "x"})
		if err == nil || providers.IsPermanent(err) {
			t.Errorf("want a retryable timeout, got %v", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("the client timeout was not applied (%s)", time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err = viber.New().SendMessage(ctx, ch, to, providers.OutMessage{Text: "x"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the context deadline was not applied: %v", err)
		}
	})

	t.Run("request shape", func(t *testing.T) {
		var got *http.Request
		var body []byte
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = r
			body, _ = io.ReadAll(r.Body)
			_, _ = io.WriteString(w, `{"status":0,"status_message":"ok","message_token":1}`)
		}))
		defer srv.Close()
		ch := testChannel()
		ch.Settings[viber.SettingAPIURL] = srv.URL + "/pa/"
		if _, err := p.SendMessage(context.Background(), ch, to, providers.OutMessage{Text: "x"}); err != nil {
			t.Fatal(err)
		}
		if got.Method != http.MethodPost || got.URL.Path != "/pa/send_message" || got.Header.Get("X-Viber-Auth-Token") != testToken ||
			got.Header.Get("Content-Type") != "application/json" || strings.Contains(got.URL.String(), testToken) {
			t.Errorf("request %s %s headers %v", got.Method, got.URL, got.Header)
		}
		if !json.Valid(body) || strings.Contains(string(body), testToken) {
			t.Errorf("body %s", body)
		}
	})
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	fake := vibertest.NewServer()
	defer fake.Close()
	p := viber.New()

	got, err := p.Check(ctx, providers.Settings{viber.SettingToken: fake.Token, viber.SettingAPIURL: fake.URL(), viber.SettingWelcomeText: "Hi"})
	if err != nil {
		t.Fatal(err)
	}
	if got[viber.SettingBotID] != vibertest.BotID || got[viber.SettingBotName] != vibertest.BotName || got[viber.SettingWelcomeText] != "Hi" {
		t.Errorf("Check returned %v", got)
	}
	if calls := fake.CallsTo("get_account_info"); len(calls) != 1 {
		t.Errorf("get_account_info called %d times", len(calls))
	}

	cases := []struct {
		name     string
		settings providers.Settings
		field    string
	}{
		{"wrong token", providers.Settings{viber.SettingToken: "wrong-token-123456", viber.SettingAPIURL: fake.URL()}, viber.SettingToken},
		{"no token", providers.Settings{viber.SettingAPIURL: fake.URL()}, viber.SettingToken},
		{"bad api_url", providers.Settings{viber.SettingToken: fake.Token, viber.SettingAPIURL: "chatapi.viber.com/pa"}, viber.SettingAPIURL},
		{"api_url with spaces", providers.Settings{viber.SettingToken: fake.Token, viber.SettingAPIURL: "http://a b/"}, viber.SettingAPIURL},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Check(ctx, tc.settings)
			var se *providers.SettingsError
			if !errors.As(err, &se) || len(se.Fields) != 1 || se.Fields[0] != tc.field {
				t.Fatalf("want a SettingsError on %s, got %v", tc.field, err)
			}
			if tok := tc.settings[viber.SettingToken]; tok != "" && strings.Contains(err.Error(), tok) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestWebhook(t *testing.T) {
	ctx := context.Background()
	fake := vibertest.NewServer()
	defer fake.Close()
	p := viber.New()
	ch := fakeChannel(fake)

	if _, err := p.SetWebhook(ctx, ch, ch.WebhookURL); err != nil {
		t.Fatal(err)
	}
	wh := fake.Webhook()
	if wh.URL != ch.WebhookURL || !wh.SendName || !wh.SendPhoto {
		t.Errorf("webhook %+v: want our URL with send_name and send_photo (else Viber sends placeholder names)", wh)
	}
	for _, et := range []string{"delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"} {
		if !strings.Contains(strings.Join(wh.EventTypes, ","), et) {
			t.Errorf("event_types %v lacks %s", wh.EventTypes, et)
		}
	}
	if err := p.DeleteWebhook(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if wh := fake.Webhook(); wh.URL != "" {
		t.Errorf("webhook still set: %+v", wh)
	}
	calls := fake.CallsTo("set_webhook")
	if len(calls) != 2 || !strings.Contains(string(calls[1].Body), `"url":""`) {
		t.Errorf("set_webhook calls %v", calls)
	}

	t.Run("Viber checks the URL", func(t *testing.T) {
		checking := vibertest.NewServer(vibertest.WithWebhookCheck())
		defer checking.Close()
		cch := fakeChannel(checking)
		var refuse atomic.Bool
		// A minimal stand-in for omnichat's /webhooks/{id}: handshake first, then EventFilter.
		omni := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			req := &providers.Request{Method: r.Method, Header: r.Header, Body: body}
			if refuse.Load() {
				http.Error(w, "down", http.StatusInternalServerError)
				return
			}
			if resp, ok, _ := p.CallbackServerConfirmation(r.Context(), cch, req); ok {
				w.WriteHeader(resp.Status)
				return
			}
			if _, err := p.EventFilter(r.Context(), cch, req); errors.Is(err, providers.ErrUnauthorized) {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
		defer omni.Close()
		cch.WebhookURL = omni.URL + "/webhooks/3"

		if _, err := p.SetWebhook(ctx, cch, cch.WebhookURL); err != nil {
			t.Fatalf("SetWebhook with a live route: %v", err)
		}
		if checking.Webhook().URL != cch.WebhookURL {
			t.Error("the fake did not register the checked URL")
		}
		refuse.Store(true)
		_, err := p.SetWebhook(ctx, cch, cch.WebhookURL)
		if !providers.IsPermanent(err) {
			t.Errorf("a URL that does not answer 200 must fail permanently, got %v", err)
		}
		// A webhook check signed with another token is refused by our side.
		refuse.Store(false)
		other := vibertest.NewServer(vibertest.WithToken("another-token"), vibertest.WithWebhookCheck())
		defer other.Close()
		och := fakeChannel(other)
		och.Settings[viber.SettingToken] = "another-token"
		if _, err := p.SetWebhook(ctx, och, cch.WebhookURL); err == nil {
			t.Error("a check signed with a different token was accepted")
		}
	})
}

func TestGetUserInfo(t *testing.T) {
	ctx := context.Background()
	fake := vibertest.NewServer()
	defer fake.Close()
	clock := time.Date(2024, 5, 31, 10, 0, 0, 0, time.UTC)
	p := viber.New(viber.WithClock(func() time.Time { return clock }))
	ch := fakeChannel(fake)

	u, err := p.GetUserInfo(ctx, ch, vibertest.UserID)
	if err != nil {
		t.Fatal(err)
	}
	known, _ := fake.User(vibertest.UserID)
	if u.FirstName != vibertest.UserName || u.Language != "ru" || u.AvatarURL != known.Avatar || u.AvatarURL == "" {
		t.Errorf("GetUserInfo = %+v", u)
	}
	for i := 0; i < 5; i++ {
		if again, err := p.GetUserInfo(ctx, ch, vibertest.UserID); err != nil || !reflect.DeepEqual(again, u) {
			t.Fatalf("cached call %d: %+v, %v", i, again, err)
		}
	}
	if n := len(fake.CallsTo("get_user_details")); n != 1 {
		t.Errorf("get_user_details called %d times for one user: Viber allows 2 per 12 h, cache it", n)
	}

	// After 12 hours the cache expires; the fake's own window (real time) still counts the
	// first call, so this second call is allowed and the third is rate limited.
	clock = clock.Add(13 * time.Hour)
	if _, err := p.GetUserInfo(ctx, ch, vibertest.UserID); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(13 * time.Hour)
	_, err = p.GetUserInfo(ctx, ch, vibertest.UserID)
	if d, ok := providers.RetryDelay(err); !ok || d != time.Hour {
		t.Fatalf("third call in Viber's window: want RetryAfter 1h, got %v", err)
	}
	calls := len(fake.CallsTo("get_user_details"))
	clock = clock.Add(10 * time.Minute)
	_, err = p.GetUserInfo(ctx, ch, vibertest.UserID)
	if d, ok := providers.RetryDelay(err); !ok || d != 50*time.Minute {
		t.Errorf("inside the rate-limit window: want RetryAfter 50m without a call, got %v", err)
	}
	if n := len(fake.CallsTo("get_user_details")); n != calls {
		t.Errorf("a rate-limited user was asked again (%d calls, was %d)", n, calls)
	}

	if _, err := p.GetUserInfo(ctx, ch, "unknown-user=="); !providers.IsPermanent(err) {
		t.Errorf("unknown user: want Permanent, got %v", err)
	}
}

func TestFakeValidatesLikeViber(t *testing.T) {
	fake := vibertest.NewServer()
	defer fake.Close()
	post := func(token, method, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, fake.URL()+"/"+method, strings.NewReader(body))
		if token != "" {
			req.Header.Set("X-Viber-Auth-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a struct {
			Status        int    `json:"status"`
			StatusMessage string `json:"status_message"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&a) != nil {
			t.Fatalf("%s: HTTP %d", method, resp.StatusCode)
		}
		return a.Status, a.StatusMessage
	}
	sender := `"sender":{"name":"Bot"}`
	rcpt := `"receiver":"` + vibertest.UserID + `"`
	cases := []struct {
		name, token, method, body string
		status                    int
	}{
		{"ok", fake.Token, "send_message", `{` + rcpt + `,` + sender + `,"type":"text","text":"hi"}`, 0},
		{"no token", "", "send_message", `{}`, 2},
		{"wrong token", "nope", "get_account_info", `{}`, 2},
		{"no sender", fake.Token, "send_message", `{` + rcpt + `,"type":"text","text":"hi"}`, 4},
		{"sender name too long", fake.Token, "send_message", `{` + rcpt + `,"sender":{"name":"` + strings.Repeat("n", 29) + `"},"type":"text","text":"hi"}`, 3},
		{"unknown receiver", fake.Token, "send_message", `{"receiver":"nobody",` + sender + `,"type":"text","text":"hi"}`, 6},
		{"text too long", fake.Token, "send_message", `{` + rcpt + `,` + sender + `,"type":"text","text":"` + strings.Repeat("a", 7001) + `"}`, 3},
		{"file without size", fake.Token, "send_message", `{` + rcpt + `,` + sender + `,"type":"file","media":"https://x/a.pdf","file_name":"a.pdf"}`, 4},
		{"unknown type", fake.Token, "send_message", `{` + rcpt + `,` + sender + `,"type":"hologram"}`, 3},
		{"keyboard too wide", fake.Token, "send_message", `{` + rcpt + `,` + sender + `,"type":"text","text":"hi","keyboard":{"Type":"keyboard","Buttons":[{"Columns":7,"Rows":1,"ActionType":"reply","ActionBody":"x"}]}}`, 3},
		{"button without body", fake.Token, "send_message", `{` + rcpt + `,` + sender + `,"type":"text","text":"hi","keyboard":{"Type":"keyboard","Buttons":[{"Columns":6,"Rows":1,"ActionType":"reply","ActionBody":""}]}}`, 4},
		{"broken JSON", fake.Token, "send_message", `{`, 3},
		{"webhook not a URL", fake.Token, "set_webhook", `{"url":"omnichat/webhooks/1"}`, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, msg := post(tc.token, tc.method, tc.body); got != tc.status {
				t.Errorf("status %d (%s), want %d", got, msg, tc.status)
			}
		})
	}
}
