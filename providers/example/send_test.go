package example_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// setup starts a fake platform and returns a provider and a channel pointing at it.
func setup(t *testing.T) (*example.Provider, providers.Channel, *exampletest.Server) {
	t.Helper()
	fake := exampletest.NewServer()
	t.Cleanup(fake.Close)
	return example.New(example.WithTimeout(5 * time.Second)), testChannel(fake.Settings()), fake
}

var visitor = providers.Recipient{UserID: exampletest.UserID}

// noSecret fails the test when err's text contains the channel's token.
func noSecret(t *testing.T, err error, ch providers.Channel) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), ch.Settings[example.SettingToken]) {
		t.Errorf("error %q contains the token", err)
	}
}

func TestCheck(t *testing.T) {
	p, _, fake := setup(t)
	ctx := context.Background()

	in := fake.Settings()
	got, err := p.Check(ctx, in)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	want := fake.Settings()
	want[example.SettingBotID] = "777001"
	want[example.SettingBotName] = exampletest.BotName
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Check = %v, want %v", got, want)
	}
	if _, ok := in[example.SettingBotID]; ok {
		t.Error("Check modified its input settings")
	}
	if calls := fake.CallsTo("GET /me"); len(calls) != 1 {
		t.Errorf("GET /me called %d times, want 1", len(calls))
	}

	tests := []struct {
		name     string
		settings providers.Settings
		field    string
	}{
		{"bad token", providers.Settings{example.SettingToken: "wrong-token-123456", example.SettingAPIURL: fake.URL()}, example.SettingToken},
		{"no token", providers.Settings{example.SettingAPIURL: fake.URL()}, example.SettingToken},
		{"api_url not a URL", providers.Settings{example.SettingToken: "wrong-token-123456", example.SettingAPIURL: "ftp://x"}, example.SettingAPIURL},
		{"api_url without host", providers.Settings{example.SettingToken: "wrong-token-123456", example.SettingAPIURL: "https://"}, example.SettingAPIURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Check(ctx, tc.settings)
			var se *providers.SettingsError
			if !errors.As(err, &se) || len(se.Fields) != 1 || se.Fields[0] != tc.field {
				t.Fatalf("want a SettingsError naming %q, got %v", tc.field, err)
			}
			if strings.Contains(err.Error(), "wrong-token-123456") {
				t.Errorf("error %q contains the token", err)
			}
		})
	}

	// An unreachable platform is not a settings problem: a plain error saying what failed.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	_, err = p.Check(ctx, providers.Settings{example.SettingToken: "some-token-123456", example.SettingAPIURL: down.URL})
	var se *providers.SettingsError
	if err == nil || errors.As(err, &se) || strings.Contains(err.Error(), "some-token-123456") {
		t.Errorf("unreachable platform: want a plain error without the token, got %v", err)
	}
}

func TestSettingsForm(t *testing.T) {
	f := example.New().SettingsForm()
	byName := map[string]providers.Field{}
	for _, fl := range f.Fields {
		byName[fl.Name] = fl
	}
	if fl := byName[example.SettingToken]; fl.Type != providers.FieldSecret || !fl.Required {
		t.Errorf("token must be a required secret: %+v", fl)
	}
	if fl := byName[example.SettingAPIURL]; fl.Type != providers.FieldURL || fl.Required || fl.Default != example.DefaultAPIURL {
		t.Errorf("api_url must be an optional URL defaulting to %s: %+v", example.DefaultAPIURL, fl)
	}
	for _, name := range []string{example.SettingBotID, example.SettingBotName} {
		if fl := byName[name]; !fl.Filled || fl.Type == providers.FieldSecret {
			t.Errorf("%s must be filled by Check and not secret: %+v", name, fl)
		}
	}
	if f.MaxUploadBytes != example.MaxUploadBytes {
		t.Errorf("MaxUploadBytes = %d", f.MaxUploadBytes)
	}
	if err := f.Validate(providers.Settings{example.SettingToken: "x"}); err != nil {
		t.Errorf("a token alone must be enough: %v", err)
	}
}

func TestSendMessage(t *testing.T) {
	p, ch, fake := setup(t)
	ctx := context.Background()

	sent, err := p.SendMessage(ctx, ch, providers.Recipient{UserID: "u-1", ChatID: "c-1"}, providers.OutMessage{
		ID: 1, Text: "Choose", ReplyTo: "500101",
		Buttons: [][]providers.Button{{{Text: "Yes", Data: "yes"}, {Text: "No", Data: "no"}}, {{Text: "Site", URL: "https://example.com"}}},
	})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	got := fake.Sent()
	if len(got) != 1 {
		t.Fatalf("fake received %d messages, want 1", len(got))
	}
	m := got[0]
	if sent.ExternalID == "" || sent.ExternalID != itoa(m.ID) || sent.Parts != nil {
		t.Errorf("Sent = %+v, fake gave id %d", sent, m.ID)
	}
	wantButtons := [][]exampletest.Button{{{Text: "Yes", Data: "yes"}, {Text: "No", Data: "no"}}, {{Text: "Site", URL: "https://example.com"}}}
	if m.ChatID != "c-1" || m.Text != "Choose" || m.ReplyTo != 500101 || !reflect.DeepEqual(m.Buttons, wantButtons) {
		t.Errorf("fake received %+v", m)
	}
	if m.IdempotencyKey != "omnichat-1-0" {
		t.Errorf("idempotency key %q", m.IdempotencyKey)
	}

	// The recipient's chat defaults to the user id.
	if _, err := p.SendMessage(ctx, ch, providers.Recipient{UserID: "u-9"}, providers.OutMessage{ID: 2, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.Sent(); got[len(got)-1].ChatID != "u-9" {
		t.Errorf("chat id %q, want the user id u-9", got[len(got)-1].ChatID)
	}

	// A retry of the same message (same ID) is not sent twice.
	again, err := p.SendMessage(ctx, ch, providers.Recipient{UserID: "u-9"}, providers.OutMessage{ID: 2, Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fake.Sent(); len(got) != 2 || again.ExternalID != itoa(got[1].ID) {
		t.Errorf("retry: sent %d messages (want 2), id %s", len(got), again.ExternalID)
	}
}

func TestSendMessageRefusesBadInput(t *testing.T) {
	p, ch, fake := setup(t)
	tests := []struct {
		name string
		to   providers.Recipient
		m    providers.OutMessage
	}{
		{"no recipient", providers.Recipient{}, providers.OutMessage{ID: 1, Text: "x"}},
		{"empty text", visitor, providers.OutMessage{ID: 1, Text: "  "}},
		{"button without text", visitor, providers.OutMessage{ID: 1, Text: "x", Buttons: [][]providers.Button{{{Data: "d"}}}}},
		{"button data too long", visitor, providers.OutMessage{ID: 1, Text: "x", Buttons: [][]providers.Button{{{Text: "t", Data: strings.Repeat("d", 65)}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.SendMessage(context.Background(), ch, tc.to, tc.m)
			if !providers.IsPermanent(err) || providers.PermanentReason(err) == "" {
				t.Errorf("want a Permanent error with a reason, got %v", err)
			}
		})
	}
	if calls := fake.Calls(); len(calls) != 0 {
		t.Errorf("bad input reached the platform: %v", calls)
	}
}

func TestSendMessageSplitsLongText(t *testing.T) {
	p, ch, fake := setup(t)
	line := strings.Repeat("ж", 99) + "\n" // 100 runes, 199 bytes
	text := strings.Repeat(line, 90)       // 9000 runes: three parts
	sent, err := p.SendMessage(context.Background(), ch, visitor, providers.OutMessage{
		ID: 5, Text: text, ReplyTo: "500101", Buttons: [][]providers.Button{{{Text: "OK", Data: "ok"}}},
	})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	got := fake.Sent()
	if len(got) != 3 || len(sent.Parts) != 3 {
		t.Fatalf("want 3 parts, fake got %d, Sent.Parts %v", len(got), sent.Parts)
	}
	var joined string
	for i, m := range got {
		joined += m.Text
		if sent.Parts[i] != itoa(m.ID) {
			t.Errorf("Parts[%d] = %s, fake id %d", i, sent.Parts[i], m.ID)
		}
		if n := len([]rune(m.Text)); n > example.MaxTextLength {
			t.Errorf("part %d has %d characters", i, n)
		}
		if !strings.HasSuffix(m.Text, "\n") && i < 2 {
			t.Errorf("part %d was not cut at a line end", i)
		}
		if wantKey := "omnichat-5-" + itoa(int64(i)); m.IdempotencyKey != wantKey {
			t.Errorf("part %d key %q, want %q", i, m.IdempotencyKey, wantKey)
		}
		if (i == 0) != (m.ReplyTo == 500101) {
			t.Errorf("part %d reply_to %d: only the first part quotes", i, m.ReplyTo)
		}
		if (i == 2) != (len(m.Buttons) == 1) {
			t.Errorf("part %d buttons %v: only the last part has them", i, m.Buttons)
		}
	}
	if joined != text {
		t.Error("the parts do not add up to the text")
	}
	if sent.ExternalID != sent.Parts[2] {
		t.Errorf("ExternalID %s must be the last part %s", sent.ExternalID, sent.Parts[2])
	}
}

// failingTransport fails the n-th request (counting from 1) with a network error.
type failingTransport struct {
	n     int32
	count atomic.Int32
}

func (f *failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.count.Add(1) == f.n {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errors.New("connection reset by peer")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestSendMessagePartialFailureRetry: part 2 of 2 fails; the job retries the whole send and
// part 1 is not sent twice, thanks to the idempotency keys.
func TestSendMessagePartialFailureRetry(t *testing.T) {
	_, ch, fake := setup(t)
	p := example.New(example.WithHTTPClient(&http.Client{Timeout: 5 * time.Second, Transport: &failingTransport{n: 2}}))
	m := providers.OutMessage{ID: 9, Text: strings.Repeat("a ", 3000)} // 6000 characters: two parts

	_, err := p.SendMessage(context.Background(), ch, visitor, m)
	if err == nil || providers.IsPermanent(err) {
		t.Fatalf("a network failure on part 2 must be a retryable error, got %v", err)
	}
	if !strings.Contains(err.Error(), "part 2 of 2") {
		t.Errorf("error %q does not say which part failed", err)
	}
	sent, err := p.SendMessage(context.Background(), ch, visitor, m)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	got := fake.Sent()
	if len(got) != 2 {
		t.Fatalf("after the retry the fake holds %d messages, want 2 (no duplicate of part 1)", len(got))
	}
	if !reflect.DeepEqual(sent.Parts, []string{itoa(got[0].ID), itoa(got[1].ID)}) {
		t.Errorf("Parts %v, fake ids %d %d", sent.Parts, got[0].ID, got[1].ID)
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		arm       func(*exampletest.Server)
		permanent string        // the reason, when Permanent
		retry     time.Duration // the delay, when RetryAfter
	}{
		{"blocked", func(s *exampletest.Server) { s.FailSends(1, 403) }, "the visitor blocked the bot", 0},
		{"blocked chat", func(s *exampletest.Server) { s.Block(exampletest.UserID) }, "the visitor blocked the bot", 0},
		{"token revoked", func(s *exampletest.Server) { s.FailSends(1, 401) }, "Example Messenger rejected the bot token: check the channel settings", 0},
		{"bad request", func(s *exampletest.Server) { s.FailSends(1, 400) }, "Example Messenger refused the request: Bad Request", 0},
		{"rate limited", func(s *exampletest.Server) { s.RateLimitSends(1, 7*time.Second) }, "", 7 * time.Second},
		{"server error", func(s *exampletest.Server) { s.FailSends(1, 500) }, "", 0},
		{"bad gateway", func(s *exampletest.Server) { s.FailSends(1, 502) }, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, ch, fake := setup(t)
			tc.arm(fake)
			_, err := p.SendMessage(context.Background(), ch, visitor, providers.OutMessage{ID: 1, Text: "x"})
			if err == nil {
				t.Fatal("want an error")
			}
			noSecret(t, err, ch)
			if got := providers.PermanentReason(err); got != tc.permanent {
				t.Errorf("permanent reason %q, want %q (err %v)", got, tc.permanent, err)
			}
			d, ok := providers.RetryDelay(err)
			if ok != (tc.retry > 0) || d != tc.retry {
				t.Errorf("retry delay %v %v, want %v (err %v)", d, ok, tc.retry, err)
			}
			var apiErr *example.APIError
			if !errors.As(err, &apiErr) {
				t.Errorf("the platform's error is not reachable with errors.As: %v", err)
			}
			// The failure was used up (except for a blocked chat): the next send works.
			if tc.name != "blocked chat" {
				if _, err := p.SendMessage(context.Background(), ch, visitor, providers.OutMessage{ID: 2, Text: "x"}); err != nil {
					t.Errorf("the send after the failure: %v", err)
				}
			}
		})
	}
}

func TestFailSendsQueue(t *testing.T) {
	p, ch, fake := setup(t)
	fake.FailSends(2, 503)
	for i := range 2 {
		if _, err := p.SendMessage(context.Background(), ch, visitor, providers.OutMessage{ID: int64(i + 1), Text: "x"}); err == nil {
			t.Errorf("send %d: want the queued failure", i+1)
		}
	}
	if _, err := p.SendMessage(context.Background(), ch, visitor, providers.OutMessage{ID: 3, Text: "x"}); err != nil {
		t.Errorf("third send: %v", err)
	}
	if got := len(fake.Sent()); got != 1 {
		t.Errorf("fake accepted %d messages, want 1", got)
	}
}

// TestTransportErrors covers answers that do not come from the platform itself: a proxy's
// HTML error page, a 429 with only the standard header, an unreachable host.
func TestTransportErrors(t *testing.T) {
	ctx := context.Background()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("case") {
		default:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		}
	}))
	defer proxy.Close()
	limited := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "11")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer limited.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>welcome to the hotel wifi</html>")
	}))
	defer garbage.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	p := example.New(example.WithTimeout(2 * time.Second))
	const token = "secret-token-abcdef"
	for name, tc := range map[string]struct {
		url   string
		retry time.Duration
	}{
		"proxy error page":    {proxy.URL, 0},
		"429 with header":     {limited.URL, 11 * time.Second},
		"2xx not JSON":        {garbage.URL, 0},
		"connection refused":  {down.URL, 0},
		"api_url with slash/": {down.URL + "/", 0},
	} {
		t.Run(name, func(t *testing.T) {
			ch := testChannel(providers.Settings{example.SettingToken: token, example.SettingAPIURL: tc.url})
			_, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{ID: 1, Text: "x"})
			if err == nil || providers.IsPermanent(err) {
				t.Fatalf("want a retryable error, got %v", err)
			}
			noSecret(t, err, ch)
			if d, _ := providers.RetryDelay(err); d != tc.retry {
				t.Errorf("retry delay %v, want %v", d, tc.retry)
			}
		})
	}

	// A cancelled context stops the call at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ch := testChannel(providers.Settings{example.SettingToken: token, example.SettingAPIURL: proxy.URL})
	if _, err := p.SendMessage(cctx, ch, visitor, providers.OutMessage{ID: 1, Text: "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v", err)
	}
}

func TestBrokenSettingsArePermanent(t *testing.T) {
	p := example.New()
	ch := testChannel(providers.Settings{example.SettingAPIURL: "https://api.example-messenger.invalid"})
	_, err := p.SendMessage(context.Background(), ch, visitor, providers.OutMessage{ID: 1, Text: "x"})
	if !providers.IsPermanent(err) {
		t.Errorf("a channel without a token: want Permanent, got %v", err)
	}
}

// trackedFile is an OutFile content that records whether it was closed.
type trackedFile struct {
	io.Reader
	closed atomic.Bool
}

func (f *trackedFile) Close() error { f.closed.Store(true); return nil }

func TestSendFile(t *testing.T) {
	p, ch, fake := setup(t)
	ctx := context.Background()
	content := bytes.Repeat([]byte("%PDF-1.4 data "), 10000) // 140 kB: more than one pipe write
	var opened []*trackedFile
	f := providers.OutFile{
		ID: 31, Name: `отчёт "Q1".pdf`, MIME: "application/pdf", Size: int64(len(content)), Caption: "The report",
		Open: func() (io.ReadCloser, error) {
			tf := &trackedFile{Reader: bytes.NewReader(content)}
			opened = append(opened, tf)
			return tf, nil
		},
	}
	sent, err := p.SendFile(ctx, ch, providers.Recipient{UserID: "u-1", ChatID: "c-1"}, f)
	if err != nil {
		t.Fatalf("SendFile: %v", err)
	}
	got := fake.Sent()
	if len(got) != 1 {
		t.Fatalf("fake received %d messages", len(got))
	}
	m := got[0]
	if sent.ExternalID != itoa(m.ID) || m.ChatID != "c-1" || m.FileName != `отчёт "Q1".pdf` || m.FileMIME != "application/pdf" ||
		m.Caption != "The report" || !bytes.Equal(m.File, content) || m.IdempotencyKey != "omnichat-31-0" {
		t.Errorf("fake received %+v (file %d bytes), Sent %+v", m, len(m.File), sent)
	}
	if len(opened) != 1 || !opened[0].closed.Load() {
		t.Error("the file was not opened once and closed")
	}

	// A failed upload still closes the file, and the retry opens it again.
	fake.FailSends(1, 500)
	if _, err := p.SendFile(ctx, ch, visitor, f); err == nil || providers.IsPermanent(err) {
		t.Errorf("a 500 must be a retryable error, got %v", err)
	}
	if len(opened) != 2 || !opened[1].closed.Load() {
		t.Error("the file was not closed after a failed upload")
	}

	// Too big for the platform: refused before the upload.
	fake.Reset()
	big := f
	big.Size = example.MaxUploadBytes + 1
	if _, err := p.SendFile(ctx, ch, visitor, big); !providers.IsPermanent(err) {
		t.Errorf("oversized file: want Permanent, got %v", err)
	}
	if len(fake.Calls()) != 0 {
		t.Error("an oversized file reached the platform")
	}

	// Our own storage failing is retryable.
	broken := f
	broken.Open = func() (io.ReadCloser, error) { return nil, errors.New("disk on fire") }
	if _, err := p.SendFile(ctx, ch, visitor, broken); err == nil || providers.IsPermanent(err) {
		t.Errorf("open failure: want a retryable error, got %v", err)
	}
	// A reader failing mid-way aborts the upload without the platform accepting a half file.
	half := f
	half.Open = func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(bytes.NewReader(content[:1000]), errReader{})), nil
	}
	if _, err := p.SendFile(ctx, ch, visitor, half); err == nil {
		t.Error("a failing reader must fail the send")
	}
	if len(fake.Sent()) != 0 {
		t.Error("the platform accepted a truncated file")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("read error") }

func TestDeleteMessage(t *testing.T) {
	p, ch, fake := setup(t)
	ctx := context.Background()
	sent, err := p.SendMessage(ctx, ch, visitor, providers.OutMessage{ID: 1, Text: "oops"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.DeleteMessage(ctx, ch, visitor, sent.ExternalID); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	if got := fake.Deleted(); len(got) != 1 || itoa(got[0]) != sent.ExternalID {
		t.Errorf("fake deleted %v, want %s", got, sent.ExternalID)
	}

	old, _ := p.SendMessage(ctx, ch, visitor, providers.OutMessage{ID: 2, Text: "old"})
	fake.MarkOld(atoi(t, old.ExternalID))
	for name, id := range map[string]string{"too old": old.ExternalID, "already deleted": sent.ExternalID} {
		err := p.DeleteMessage(ctx, ch, visitor, id)
		if got := providers.PermanentReason(err); got != "Example Messenger deletes only messages younger than 24 hours" {
			t.Errorf("%s: reason %q (err %v)", name, got, err)
		}
	}
	fake.Reset()
	for _, id := range []string{"", "abc", "-5", "1/../../webhook"} {
		if err := p.DeleteMessage(ctx, ch, visitor, id); !providers.IsPermanent(err) {
			t.Errorf("id %q: want Permanent, got %v", id, err)
		}
	}
	if len(fake.Calls()) != 0 {
		t.Errorf("invalid ids reached the platform: %v", fake.Calls())
	}
}

func TestGetUserInfo(t *testing.T) {
	p, ch, fake := setup(t)
	ctx := context.Background()
	u, err := p.GetUserInfo(ctx, ch, exampletest.UserID)
	if err != nil {
		t.Fatal(err)
	}
	want := providers.UserInfo{FirstName: "Ivan", LastName: "Petrov", Username: "ivan_petrov", Language: "ru",
		AvatarURL: fake.URL() + "/avatars/u-1001.png"}
	if !reflect.DeepEqual(u, want) {
		t.Errorf("GetUserInfo = %+v, want %+v", u, want)
	}
	// The avatar is a real image the core can download.
	resp, err := http.Get(u.AvatarURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("avatar: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	fake.AddUser(exampletest.User{ID: "u/2", FirstName: "Slash"})
	if u, err := p.GetUserInfo(ctx, ch, "u/2"); err != nil || u.FirstName != "Slash" {
		t.Errorf("an id with a slash must be escaped into one path segment: %+v %v", u, err)
	}
	if _, err := p.GetUserInfo(ctx, ch, "u-404"); !providers.IsPermanent(err) {
		t.Errorf("unknown user: want Permanent, got %v", err)
	}
}

func TestWebhookLifecycle(t *testing.T) {
	p, ch, fake := setup(t)
	ctx := context.Background()

	extra, err := p.SetWebhook(ctx, ch, ch.WebhookURL)
	if err != nil || extra != nil {
		t.Fatalf("SetWebhook = %v, %v", extra, err)
	}
	wh := fake.Webhook()
	if wh.URL != ch.WebhookURL || wh.Secret != ch.Secret {
		t.Errorf("registered %q with secret %q, want %q with the channel's secret", wh.URL, wh.Secret, ch.WebhookURL)
	}
	if len(wh.Types) != 9 {
		t.Errorf("subscribed types %v", wh.Types)
	}

	noSecretCh := ch
	noSecretCh.Secret = ""
	if _, err := p.SetWebhook(ctx, noSecretCh, ch.WebhookURL); err == nil {
		t.Error("SetWebhook without a channel secret must fail")
	}

	if err := p.DeleteWebhook(ctx, ch); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if fake.Webhook().URL != "" {
		t.Error("the webhook is still registered")
	}
	// Deleting twice is fine: the channel is going away either way.
	if err := p.DeleteWebhook(ctx, ch); err != nil {
		t.Errorf("second DeleteWebhook: %v", err)
	}
	// But a bad token is still an error.
	bad := testChannel(providers.Settings{example.SettingToken: "wrong-token-123456", example.SettingAPIURL: fake.URL()})
	if err := p.DeleteWebhook(ctx, bad); !providers.IsPermanent(err) {
		t.Errorf("DeleteWebhook with a bad token: want Permanent, got %v", err)
	}
}

// TestDeliverEndToEnd plays a minimal core: a webhook endpoint that runs the provider the
// way the core does (handshake, EventFilter, Ack). The fake registers it, verifies it, and
// delivers signed updates to it.
func TestDeliverEndToEnd(t *testing.T) {
	p, ch, fake := setup(t)
	ctx := context.Background()
	var got []providers.Event
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := &providers.Request{Method: r.Method, Header: r.Header, Query: r.URL.Query(), Body: body}
		if resp, handled, err := p.CallbackServerConfirmation(ctx, ch, req); err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		} else if handled {
			w.Header().Set("Content-Type", resp.ContentType)
			w.WriteHeader(resp.Status)
			w.Write(resp.Body)
			return
		}
		evs, err := p.EventFilter(ctx, ch, req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		got = append(got, evs...)
		ack := p.Ack(ch, req, evs)
		w.Header().Set("Content-Type", ack.ContentType)
		w.WriteHeader(ack.Status)
		w.Write(ack.Body)
	}))
	defer hook.Close()
	ch.WebhookURL = hook.URL + "/webhooks/7"

	if _, err := p.SetWebhook(ctx, ch, ch.WebhookURL); err != nil {
		t.Fatal(err)
	}
	if err := fake.VerifyWebhook(ctx); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	status, body, err := fake.Deliver(ctx, example.NewMessageUpdate(1, 77, "u-5", "", "Olga", "", "hello", time.Now()))
	if err != nil || status != 200 || string(body) != `{"ok":true}` {
		t.Fatalf("Deliver = %d %q %v", status, body, err)
	}
	if len(got) != 1 || got[0].ExternalID != "77" || got[0].Text != "hello" {
		t.Errorf("events %+v", got)
	}
	res, err := p.RunAction(ctx, ch, example.ActionWebhookStatus)
	if err != nil || !strings.Contains(res.Text, "Webhook: "+ch.WebhookURL) || strings.Contains(res.Text, "error") {
		t.Errorf("webhook status after a good delivery: %q %v", res.Text, err)
	}

	// A delivery our endpoint refuses shows up in the webhook status.
	wrong := ch
	wrong.Secret = "another-secret-0123456789"
	if _, err := p.SetWebhook(ctx, wrong, ch.WebhookURL); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := fake.Deliver(ctx, example.NewMessageUpdate(2, 78, "u-5", "", "Olga", "", "again", time.Now())); status != http.StatusUnauthorized {
		t.Errorf("an update signed with the wrong secret was answered %d", status)
	}
	res, err = p.RunAction(ctx, ch, example.ActionWebhookStatus)
	if err != nil || !strings.Contains(res.Text, "Last delivery error: webhook answered 401") {
		t.Errorf("webhook status after a refused delivery: %q %v", res.Text, err)
	}
}

func TestRunAction(t *testing.T) {
	p, ch, fake := setup(t)
	ctx := context.Background()
	if a := p.Actions(ch); len(a) != 1 || a[0].Name != example.ActionWebhookStatus || a[0].Label.Ru == "" {
		t.Errorf("Actions = %+v", a)
	}
	res, err := p.RunAction(ctx, ch, example.ActionWebhookStatus)
	if err != nil || !strings.HasPrefix(res.Text, "No webhook is registered") {
		t.Errorf("before SetWebhook: %q %v", res.Text, err)
	}
	if _, err := p.SetWebhook(ctx, ch, "https://elsewhere.example/hook"); err != nil {
		t.Fatal(err)
	}
	res, err = p.RunAction(ctx, ch, example.ActionWebhookStatus)
	if err != nil || !strings.Contains(res.Text, "points elsewhere: https://elsewhere.example/hook") {
		t.Errorf("foreign webhook: %q %v", res.Text, err)
	}
	if strings.Contains(res.Text, ch.Secret) || strings.Contains(res.Text, fake.Token) {
		t.Errorf("action text shows a secret: %q", res.Text)
	}
	if _, err := p.RunAction(ctx, ch, "reboot"); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("unknown action: want ErrUnsupported, got %v", err)
	}
}

func TestResolveFile(t *testing.T) {
	p, ch, fake := setup(t)
	ctx := context.Background()
	fake.AddFile("f-voice-77", "voice.ogg", "audio/ogg", []byte("OggS voice"))

	// The attachment's Ref comes from EventFilter; the download happens in a job.
	evs, err := p.EventFilter(ctx, ch, signed(ch, readTestdata(t, "message_voice-ref.json")))
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.ResolveFile(ctx, ch, evs[0].Attachments[0].Ref)
	if err != nil {
		t.Fatalf("ResolveFile: %v", err)
	}
	if !strings.HasPrefix(d.URL, fake.URL()+"/") || strings.Contains(d.URL, fake.Token) {
		t.Errorf("download URL %q", d.URL)
	}
	req, _ := http.NewRequest(http.MethodGet, d.URL, nil)
	for k, vs := range d.Header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(data) != "OggS voice" || resp.Header.Get("Content-Type") != "audio/ogg" {
		t.Errorf("download: %d %q %s", resp.StatusCode, data, resp.Header.Get("Content-Type"))
	}
	// Without the Download's header the platform refuses: the header is what authorizes it.
	if resp, err := http.Get(d.URL); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("download without the header: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}

	if _, err := p.ResolveFile(ctx, ch, "f-missing"); !providers.IsPermanent(err) {
		t.Errorf("unknown file: want Permanent, got %v", err)
	}
}

// TestResolveFileForeignHost: a file URL on another host never gets our token.
func TestResolveFileForeignHost(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"f1","url":"https://cdn.elsewhere.example/f1"}`)
	}))
	defer api.Close()
	ch := testChannel(providers.Settings{example.SettingToken: "tok-123456", example.SettingAPIURL: api.URL})
	d, err := example.New().ResolveFile(context.Background(), ch, "f1")
	if err != nil {
		t.Fatal(err)
	}
	if d.URL != "https://cdn.elsewhere.example/f1" || d.Header != nil {
		t.Errorf("Download = %+v: a foreign host must not get the Authorization header", d)
	}
}

func TestAnswerButton(t *testing.T) {
	p, ch, fake := setup(t)
	ctx := context.Background()
	evs, err := p.EventFilter(ctx, ch, signed(ch, readTestdata(t, "button_press.json")))
	if err != nil || len(evs) != 1 {
		t.Fatalf("EventFilter: %v %v", evs, err)
	}
	if err := p.AnswerButton(ctx, ch, evs[0]); err != nil {
		t.Fatalf("AnswerButton: %v", err)
	}
	if got := fake.Answered(); !reflect.DeepEqual(got, []string{"bp-5f1c2a"}) {
		t.Errorf("answered %v", got)
	}
	if err := p.AnswerButton(ctx, ch, providers.Event{Kind: providers.EventButton, ExternalID: "500101"}); !providers.IsPermanent(err) {
		t.Errorf("an event without a press id: want Permanent, got %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
