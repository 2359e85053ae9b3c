package facebook_test

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

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/facebook"
	"github.com/omnichat/omnichat/providers/facebook/facebooktest"
)

// urlRecorder records every outbound request URL and Authorization header.
type urlRecorder struct {
	mu   sync.Mutex
	urls []string
	auth []string
}

func (u *urlRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	u.mu.Lock()
	u.urls = append(u.urls, r.URL.String())
	u.auth = append(u.auth, r.Header.Get("Authorization"))
	u.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// fakeChannel returns a provider whose requests are recorded, the fake, and a channel on it.
func fakeChannel(t *testing.T) (*facebook.Provider, *facebooktest.Server, providers.Channel, *urlRecorder) {
	t.Helper()
	fake := facebooktest.NewServer()
	t.Cleanup(fake.Close)
	rec := &urlRecorder{}
	p := facebook.New(facebook.WithHTTPClient(&http.Client{Transport: rec, Timeout: 5 * time.Second}))
	ch := testChannel()
	ch.Settings = fake.Settings()
	return p, fake, ch, rec
}

// assertNoTokenOnTheWire checks that credentials travelled only in the Authorization header.
func assertNoTokenOnTheWire(t *testing.T, fake *facebooktest.Server, rec *urlRecorder) {
	t.Helper()
	for _, u := range rec.urls {
		if strings.Contains(u, fake.Token) || strings.Contains(u, fake.AppSecret) || strings.Contains(u, "access_token") {
			t.Errorf("a URL carries a credential: %s", u)
		}
	}
	for _, c := range fake.Calls() {
		if bytes.Contains(c.Body, []byte(fake.Token)) || bytes.Contains(c.Body, []byte(fake.AppSecret)) {
			t.Errorf("%s body carries a credential: %s", c.Method, c.Body)
		}
	}
	for _, a := range rec.auth {
		if !strings.HasPrefix(a, "Bearer ") {
			t.Errorf("a request without the bearer token: %q", a)
		}
	}
}

func TestSendMessageWire(t *testing.T) {
	p, fake, ch, rec := fakeChannel(t)
	ctx := context.Background()
	to := providers.Recipient{UserID: facebooktest.DefaultPSID}

	sent, err := p.SendMessage(ctx, ch, to, providers.OutMessage{ID: 1, Text: "Добрый день! Доставка — 300 ₽."})
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Sent()
	if len(got) != 1 || got[0].MID != sent.ExternalID || sent.Parts != nil {
		t.Fatalf("sent %+v, fake has %+v", sent, got)
	}
	if got[0].Recipient != facebooktest.DefaultPSID || got[0].MessagingType != "RESPONSE" || got[0].Tag != "" ||
		got[0].Text != "Добрый день! Доставка — 300 ₽." {
		t.Errorf("fake received %+v", got[0])
	}
	if calls := fake.CallsTo(facebooktest.CallSend); len(calls) != 1 {
		t.Errorf("want one %s call, got %d", facebooktest.CallSend, len(calls))
	}
	if !strings.Contains(rec.urls[0], "/v23.0/me/messages") {
		t.Errorf("the Graph version is not pinned: %s", rec.urls[0])
	}
	assertNoTokenOnTheWire(t, fake, rec)

	t.Run("long text is split", func(t *testing.T) {
		fake.Reset()
		sent, err := p.SendMessage(ctx, ch, to, providers.OutMessage{ID: 2, Text: strings.Repeat("Очень длинный ответ. ", 250)})
		if err != nil {
			t.Fatal(err)
		}
		got := fake.Sent()
		if len(got) != 3 || len(sent.Parts) != 3 || sent.ExternalID != got[2].MID || sent.Parts[0] != got[0].MID {
			t.Fatalf("sent %+v, fake %d messages", sent, len(got))
		}
	})

	t.Run("buttons reach the platform", func(t *testing.T) {
		fake.Reset()
		_, err := p.SendMessage(ctx, ch, to, providers.OutMessage{ID: 3, Text: "Подтвердить заказ?",
			Buttons: [][]providers.Button{{{Text: "Да", Data: "yes"}, {Text: "Нет", Data: "no"}}}})
		if err != nil {
			t.Fatal(err)
		}
		got := fake.Sent()[0]
		if got.AttachmentType != "template" || got.Text != "Подтвердить заказ?" || len(got.Buttons) != 2 ||
			got.Buttons[0] != (facebooktest.TemplateButton{Type: "postback", Title: "Да", Payload: "yes"}) {
			t.Errorf("fake received %+v", got)
		}

		_, err = p.SendMessage(ctx, ch, to, providers.OutMessage{ID: 4, Text: "Выберите время",
			Buttons: [][]providers.Button{{{Text: "10:00"}, {Text: "12:00"}, {Text: "14:00"}, {Text: "16:00"}}}})
		if err != nil {
			t.Fatal(err)
		}
		got = fake.Sent()[1]
		if got.Text != "Выберите время" || len(got.QuickReplies) != 4 || got.QuickReplies[3].Payload != "16:00" {
			t.Errorf("fake received %+v", got)
		}
	})

	t.Run("human agent tag", func(t *testing.T) {
		fake.Reset()
		hch := ch
		hch.Settings = ch.Settings.Merge(providers.Settings{"human_agent": "true"})
		if _, err := p.SendMessage(ctx, hch, to, providers.OutMessage{ID: 5, Text: "later answer"}); err != nil {
			t.Fatal(err)
		}
		if got := fake.Sent()[0]; got.MessagingType != "MESSAGE_TAG" || got.Tag != "HUMAN_AGENT" {
			t.Errorf("fake received %+v", got)
		}
	})

	t.Run("ChatID wins over UserID", func(t *testing.T) {
		fake.Reset()
		fake.AddUser(facebooktest.User{PSID: "7012345678901234", FirstName: "Anna"})
		if _, err := p.SendMessage(ctx, ch, providers.Recipient{UserID: "1", ChatID: "7012345678901234"}, providers.OutMessage{Text: "x"}); err != nil {
			t.Fatal(err)
		}
		if got := fake.Sent()[0].Recipient; got != "7012345678901234" {
			t.Errorf("recipient %s", got)
		}
	})
}

func TestSendErrorsThroughFake(t *testing.T) {
	p, fake, ch, _ := fakeChannel(t)
	ctx := context.Background()
	to := providers.Recipient{UserID: facebooktest.DefaultPSID}

	t.Run("person unavailable", func(t *testing.T) {
		fake.FailNextWith(facebooktest.ErrUnavailable)
		_, err := p.SendMessage(ctx, ch, to, providers.OutMessage{Text: "x"})
		if !strings.Contains(providers.PermanentReason(err), "isn't available") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("outside the window", func(t *testing.T) {
		fake.FailNextWith(facebooktest.ErrOutsideWindow)
		_, err := p.SendMessage(ctx, ch, to, providers.OutMessage{Text: "x"})
		if !strings.Contains(providers.PermanentReason(err), "24-hour") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("rate limit delay from the usage header", func(t *testing.T) {
		fake.FailNextWith(facebooktest.ErrRateLimited(fake.PageID, 5))
		_, err := p.SendMessage(ctx, ch, to, providers.OutMessage{Text: "x"})
		if d, ok := providers.RetryDelay(err); !ok || d != 5*time.Minute {
			t.Fatalf("got %v (%s)", err, d)
		}
	})
	t.Run("unknown visitor", func(t *testing.T) {
		_, err := p.SendMessage(ctx, ch, providers.Recipient{UserID: "1111111111"}, providers.OutMessage{Text: "x"})
		if !providers.IsPermanent(err) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("revoked token", func(t *testing.T) {
		bad := ch
		bad.Settings = ch.Settings.Merge(providers.Settings{"page_token": "EAAVrevokedToken0000000"})
		_, err := p.SendMessage(ctx, bad, to, providers.OutMessage{Text: "x"})
		if !strings.Contains(providers.PermanentReason(err), "page access token") || strings.Contains(err.Error(), "EAAVrevokedToken0000000") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("incomplete settings", func(t *testing.T) {
		fake.Reset()
		bad := ch
		bad.Settings = ch.Settings.Merge(providers.Settings{"page_token": ""})
		_, err := p.SendMessage(ctx, bad, to, providers.OutMessage{Text: "x"})
		if !providers.IsPermanent(err) || len(fake.Calls()) != 0 {
			t.Fatalf("got %v after %d calls", err, len(fake.Calls()))
		}
	})
	t.Run("no recipient", func(t *testing.T) {
		fake.Reset()
		_, err := p.SendMessage(ctx, ch, providers.Recipient{}, providers.OutMessage{Text: "x"})
		if !providers.IsPermanent(err) || len(fake.Calls()) != 0 {
			t.Fatalf("got %v after %d calls", err, len(fake.Calls()))
		}
	})
}

// TestSendHTTPStatuses covers answers the library alone would misread: it never looks at the
// HTTP status.
func TestSendHTTPStatuses(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header http.Header
		body   string
		check  func(t *testing.T, err error)
	}{
		{"proxy 502 page", 502, nil, "<html>Bad Gateway</html>", func(t *testing.T, err error) {
			if err == nil || providers.IsPermanent(err) {
				t.Fatalf("want retryable, got %v", err)
			}
			if _, ok := providers.RetryDelay(err); ok {
				t.Fatalf("a 502 is not a rate limit: %v", err)
			}
		}},
		{"5xx with an empty JSON object", 503, nil, "{}", func(t *testing.T, err error) {
			if err == nil || providers.IsPermanent(err) {
				t.Fatalf("want retryable, got %v", err)
			}
		}},
		{"bare 429", 429, http.Header{"Retry-After": []string{"3"}}, "slow down", func(t *testing.T, err error) {
			if d, ok := providers.RetryDelay(err); !ok || d != 3*time.Second {
				t.Fatalf("want RetryAfter(3s), got %v", err)
			}
		}},
		{"200 without message_id", 200, nil, `{"recipient_id":"6543210987654321"}`, func(t *testing.T, err error) {
			if err == nil || providers.IsPermanent(err) {
				t.Fatalf("want retryable, got %v", err)
			}
		}},
		{"200 that is not JSON", 200, nil, "OK", func(t *testing.T, err error) {
			if err == nil || providers.IsPermanent(err) {
				t.Fatalf("want retryable, got %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			ch := testChannel()
			ch.Settings = ch.Settings.Merge(providers.Settings{"api_url": srv.URL})
			_, err := facebook.New().SendMessage(context.Background(), ch, providers.Recipient{UserID: psid}, providers.OutMessage{Text: "x"})
			tc.check(t, err)
			if err != nil && strings.Contains(err.Error(), facebooktest.DefaultToken) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	fake := facebooktest.NewServer()
	defer fake.Close()
	fake.Delay = 5 * time.Second
	ch := testChannel()
	ch.Settings = fake.Settings()

	start := time.Now()
	_, err := facebook.New(facebook.WithTimeout(100*time.Millisecond)).SendMessage(context.Background(), ch,
		providers.Recipient{UserID: psid}, providers.OutMessage{Text: "x"})
	if err == nil || providers.IsPermanent(err) || time.Since(start) > 2*time.Second {
		t.Fatalf("client timeout: err=%v after %s", err, time.Since(start))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = facebook.New().GetUserInfo(ctx, ch, psid)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("context deadline: err=%v after %s", err, time.Since(start))
	}
}

func TestSendFile(t *testing.T) {
	p, fake, ch, rec := fakeChannel(t)
	ctx := context.Background()
	to := providers.Recipient{UserID: facebooktest.DefaultPSID}
	content := []byte("%PDF-1.4 invoice\n")
	opens := 0
	file := providers.OutFile{ID: 9, Name: "Счёт №42.pdf", MIME: "application/pdf", Size: int64(len(content)),
		Caption: "Ваш счёт",
		Open:    func() (io.ReadCloser, error) { opens++; return io.NopCloser(bytes.NewReader(content)), nil }}

	sent, err := p.SendFile(ctx, ch, to, file)
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Sent()
	if len(got) != 2 {
		t.Fatalf("want the file and its caption, got %+v", got)
	}
	if got[0].AttachmentType != "file" || got[0].FileName != "Счёт №42.pdf" || got[0].FileType != "application/pdf" || !bytes.Equal(got[0].FileData, content) {
		t.Errorf("upload: %+v", got[0])
	}
	if got[1].Text != "Ваш счёт" {
		t.Errorf("caption: %+v", got[1])
	}
	if sent.ExternalID != got[1].MID || len(sent.Parts) != 2 || sent.Parts[0] != got[0].MID {
		t.Errorf("sent %+v", sent)
	}
	if opens != 1 {
		t.Errorf("Open called %d times", opens)
	}
	assertNoTokenOnTheWire(t, fake, rec)

	t.Run("photo without caption", func(t *testing.T) {
		fake.Reset()
		img := providers.OutFile{Name: "photo.jpg", MIME: "image/jpeg", Size: 3,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("jpg")), nil }}
		sent, err := p.SendFile(ctx, ch, to, img)
		if err != nil {
			t.Fatal(err)
		}
		if got := fake.Sent(); len(got) != 1 || got[0].AttachmentType != "image" || sent.ExternalID != got[0].MID || sent.Parts != nil {
			t.Errorf("got %+v, sent %+v", got, sent)
		}
	})
	t.Run("too large", func(t *testing.T) {
		fake.Reset()
		big := file
		big.Size = facebook.MaxUploadBytes + 1
		if _, err := p.SendFile(ctx, ch, to, big); !providers.IsPermanent(err) || len(fake.Calls()) != 0 {
			t.Fatalf("got %v after %d calls", err, len(fake.Calls()))
		}
	})
	t.Run("blocked", func(t *testing.T) {
		fake.FailNextWith(facebooktest.ErrUnavailable)
		if _, err := p.SendFile(ctx, ch, to, file); !providers.IsPermanent(err) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestGetUserInfo(t *testing.T) {
	p, fake, ch, rec := fakeChannel(t)
	ctx := context.Background()
	u, err := p.GetUserInfo(ctx, ch, facebooktest.DefaultPSID)
	if err != nil {
		t.Fatal(err)
	}
	if u.FirstName != "Ivan" || u.LastName != "Petrov" || u.AvatarURL == "" {
		t.Fatalf("got %+v", u)
	}
	resp, err := http.Get(u.AvatarURL)
	if err != nil {
		t.Fatal(err)
	}
	pic, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.HasPrefix(pic, []byte("\x89PNG")) {
		t.Errorf("avatar: %d %q", resp.StatusCode, pic)
	}
	if q := fake.CallsTo(facebooktest.CallUser); len(q) != 1 || !strings.Contains(string(q[0].Body), "first_name") {
		t.Errorf("calls %+v", fake.Calls())
	}
	assertNoTokenOnTheWire(t, fake, rec)

	if _, err := p.GetUserInfo(ctx, ch, "1111111111"); err == nil {
		t.Error("an unknown user must be an error")
	}
	calls := len(fake.Calls())
	for _, id := range []string{"me", "../104620298745123/subscribed_apps", ""} {
		if _, err := p.GetUserInfo(ctx, ch, id); !providers.IsPermanent(err) {
			t.Errorf("GetUserInfo(%q): want Permanent, got %v", id, err)
		}
	}
	if len(fake.Calls()) != calls {
		t.Error("invalid user ids reached the platform")
	}
}

func TestDeleteMessageUnsupported(t *testing.T) {
	err := facebook.New().DeleteMessage(context.Background(), testChannel(), providers.Recipient{UserID: psid}, "m_1")
	if !errors.Is(err, providers.ErrUnsupported) {
		t.Fatalf("got %v", err)
	}
}

func TestCheck(t *testing.T) {
	p, fake, ch, rec := fakeChannel(t)
	ctx := context.Background()

	got, err := p.Check(ctx, ch.Settings)
	if err != nil {
		t.Fatal(err)
	}
	if got["page_name"] != facebooktest.DefaultPageName || got["page_token"] != fake.Token {
		t.Errorf("got %v", got)
	}
	if len(fake.CallsTo(facebooktest.CallMe)) != 1 || len(fake.CallsTo(facebooktest.CallApp)) != 1 {
		t.Errorf("calls %v", fake.Calls())
	}
	assertNoTokenOnTheWire(t, fake, rec)

	cases := []struct {
		name   string
		change providers.Settings
		fields []string // SettingsError fields, nil for any error
	}{
		{"token of another page", providers.Settings{"page_id": "209876543210987"}, []string{"page_id", "page_token"}},
		{"wrong page token", providers.Settings{"page_token": "EAAVwrong0000000000"}, []string{"page_token"}},
		{"wrong app secret", providers.Settings{"app_secret": "wrong-secret-123456"}, []string{"app_id", "app_secret"}},
		{"missing token", providers.Settings{"page_token": ""}, []string{"page_token"}},
		{"page id not a number", providers.Settings{"page_id": "my-page"}, []string{"page_id"}},
		{"app id not a number", providers.Settings{"app_id": "12/../me"}, []string{"app_id"}},
		{"bad api url", providers.Settings{"api_url": "ftp://graph.example"}, []string{"api_url"}},
		{"bad graph version", providers.Settings{"graph_version": "23"}, []string{"graph_version"}},
		{"bad human agent flag", providers.Settings{"human_agent": "maybe"}, []string{"human_agent"}},
		{"unreachable api", providers.Settings{"api_url": "http://127.0.0.1:1"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := ch.Settings.Merge(tc.change)
			_, err := p.Check(ctx, s)
			if err == nil {
				t.Fatal("Check accepted bad settings")
			}
			for _, secret := range []string{s["page_token"], s["app_secret"]} {
				if len(secret) >= 6 && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks a secret", err)
				}
			}
			if tc.fields == nil {
				return
			}
			var se *providers.SettingsError
			if !errors.As(err, &se) || strings.Join(se.Fields, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("want SettingsError on %v, got %v", tc.fields, err)
			}
		})
	}
}

func TestSetAndDeleteWebhook(t *testing.T) {
	p, fake, ch, rec := fakeChannel(t)
	ctx := context.Background()

	extra, err := p.SetWebhook(ctx, ch, ch.WebhookURL)
	if err != nil {
		t.Fatal(err)
	}
	if extra["verify_token"] != ch.Secret {
		t.Errorf("SetWebhook must return the verify token to store, got %v", extra)
	}
	sub, ok := fake.Subscription()
	if !ok || sub.Object != "page" || sub.CallbackURL != ch.WebhookURL || sub.VerifyToken != ch.Secret {
		t.Errorf("app subscription %+v", sub)
	}
	fields, subscribed := fake.PageSubscribed()
	if !subscribed || strings.Join(fields, ",") != strings.Join(facebook.WebhookFields, ",") ||
		strings.Join(sub.Fields, ",") != strings.Join(facebook.WebhookFields, ",") {
		t.Errorf("page fields %v, app fields %v", fields, sub.Fields)
	}
	assertNoTokenOnTheWire(t, fake, rec)

	if err := p.DeleteWebhook(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if _, subscribed := fake.PageSubscribed(); subscribed {
		t.Error("the page is still subscribed")
	}
	if len(fake.CallsTo(facebooktest.CallUnsubscribePage)) != 1 {
		t.Errorf("calls %v", fake.Calls())
	}
}

// TestSetWebhookHandshake lets the fake call the verify handshake during the subscription,
// as Meta does, against a server that answers with CallbackServerConfirmation.
func TestSetWebhookHandshake(t *testing.T) {
	p, fake, ch, _ := fakeChannel(t)
	fake.VerifyCallback = true
	served := ch
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, handled, _ := p.CallbackServerConfirmation(r.Context(), served, &providers.Request{
			Method: r.Method, Query: r.URL.Query(), Header: r.Header})
		if !handled {
			http.Error(w, "not a handshake", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", resp.ContentType)
		w.WriteHeader(resp.Status)
		w.Write(resp.Body)
	}))
	defer hook.Close()
	ch.WebhookURL = hook.URL + "/webhooks/7"

	if _, err := p.SetWebhook(context.Background(), ch, ch.WebhookURL); err != nil {
		t.Fatalf("SetWebhook with a working handshake: %v", err)
	}

	served.Secret = "a-different-secret-than-registered-0123456789"
	_, err := p.SetWebhook(context.Background(), ch, ch.WebhookURL)
	if err == nil || !strings.Contains(err.Error(), "2200") {
		t.Fatalf("a failing handshake must fail SetWebhook with Meta's error, got %v", err)
	}
}

func TestActions(t *testing.T) {
	p := facebook.New()
	ch := testChannel()
	acts := p.Actions(ch)
	if len(acts) != 1 || acts[0].Name != facebook.ActionWebhook || acts[0].Label.Ru == "" {
		t.Fatalf("actions %+v", acts)
	}
	res, err := p.RunAction(context.Background(), ch, facebook.ActionWebhook)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Code, ch.WebhookURL) || !strings.Contains(res.Code, ch.Secret) || res.Text == "" {
		t.Errorf("got %+v", res)
	}
	if _, err := p.RunAction(context.Background(), ch, "qr"); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("unknown action: %v", err)
	}
}

func TestSettingsFormContract(t *testing.T) {
	f := facebook.New().SettingsForm()
	byName := map[string]providers.Field{}
	for _, fl := range f.Fields {
		byName[fl.Name] = fl
	}
	for name, want := range map[string]struct {
		typ                        providers.FieldType
		required, filled, internal bool
	}{
		"page_id":      {providers.FieldText, true, false, false},
		"app_id":       {providers.FieldText, true, false, false},
		"app_secret":   {providers.FieldSecret, true, false, false},
		"page_token":   {providers.FieldSecret, true, false, false},
		"api_url":      {providers.FieldURL, false, false, false},
		"page_name":    {providers.FieldText, false, true, false},
		"verify_token": {providers.FieldSecret, false, false, true},
	} {
		fl, ok := byName[name]
		if !ok {
			t.Errorf("no field %q", name)
			continue
		}
		if fl.Type != want.typ || fl.Required != want.required || fl.Filled != want.filled || fl.Internal != want.internal {
			t.Errorf("field %q = %+v", name, fl)
		}
		if fl.Help.En == "" || fl.Help.Ru == "" {
			t.Errorf("field %q needs help in both languages", name)
		}
	}
	if f.MaxUploadBytes != facebook.MaxUploadBytes {
		t.Errorf("MaxUploadBytes %d", f.MaxUploadBytes)
	}
	if err := f.Validate(providers.Settings{"page_id": "1", "app_id": "2", "app_secret": "s", "page_token": "t"}); err != nil {
		t.Errorf("complete settings rejected: %v", err)
	}
}

// TestFakeSpeaksGraph pins the fake's wire format to Meta's for what e2e tests rely on.
func TestFakeSpeaksGraph(t *testing.T) {
	fake := facebooktest.NewServer()
	defer fake.Close()

	resp, err := http.Get(fake.URL() + "/v23.0/me?fields=id,name&access_token=" + url.QueryEscape("nope"))
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Error struct {
			Code      int    `json:"code"`
			Type      string `json:"type"`
			FBTraceID string `json:"fbtrace_id"`
		} `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 400 || e.Error.Code != 190 || e.Error.Type != "OAuthException" || e.Error.FBTraceID == "" {
		t.Errorf("bad token answer: %d %+v", resp.StatusCode, e)
	}
	for _, c := range fake.Calls() {
		if strings.Contains(string(c.Body), "nope") {
			t.Errorf("the fake recorded a token: %s", c.Body)
		}
	}

	// Webhook helpers: a delivery the provider accepts, and the handshake request.
	body := facebooktest.Update(fake.PageID,
		facebooktest.TextMessage(fake.PageID, psid, "m_e2e-1", "hi", time.Now()),
		facebooktest.Echo(fake.PageID, psid, fake.AppID, "m_e2e-echo", "operator", time.Now()),
		facebooktest.Postback(fake.PageID, psid, "m_e2e-2", "Yes", "yes", time.Now()),
		facebooktest.Delivery(fake.PageID, psid, []string{"m_out"}, time.Now()),
		facebooktest.Read(fake.PageID, psid, time.Now(), time.Now()),
		facebooktest.ImageMessage(fake.PageID, psid, "m_e2e-3", fake.AddFile("a.png", "image/png", []byte("png")), time.Now()),
	)
	req, err := facebooktest.WebhookRequest(context.Background(), "https://omnichat.example/webhooks/7", fake.AppSecret, body)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(req.Body)
	ch := testChannel()
	evs, err := facebook.New().EventFilter(context.Background(), ch, &providers.Request{Method: req.Method, Header: req.Header, Body: raw})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, string(ev.Kind))
	}
	if strings.Join(kinds, ",") != "message,button,delivered,read,message" {
		t.Errorf("kinds %v", kinds)
	}

	vr, err := facebooktest.VerifyRequest(context.Background(), "https://omnichat.example/webhooks/7", ch.Secret, "12345")
	if err != nil {
		t.Fatal(err)
	}
	r, handled, err := facebook.New().CallbackServerConfirmation(context.Background(), ch,
		&providers.Request{Method: vr.Method, Query: vr.URL.Query(), Header: vr.Header})
	if err != nil || !handled || string(r.Body) != "12345" {
		t.Errorf("handshake: %v %v %+v", handled, err, r)
	}
}
