package example_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/providertest"
)

// testChannel is a channel as the core hands it to the provider.
func testChannel(s providers.Settings) providers.Channel {
	return providers.Channel{
		ID: 7, Kind: example.Kind, Name: "test", Settings: s, Secret: providertest.Secret,
		WebhookURL: "https://omnichat.example/webhooks/7", PublicURL: "https://omnichat.example",
	}
}

const t0 = 1732190400 // the time used in testdata

func at(s int64) time.Time { return time.Unix(s, 0).UTC() }

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var ivan = providers.UserInfo{FirstName: "Ivan", LastName: "Petrov", Username: "ivan_petrov", Language: "ru"}

// TestEventFilterTestdata pins every field EventFilter produces for each testdata payload,
// so a change in parsing shows up as a precise diff.
func TestEventFilterTestdata(t *testing.T) {
	tests := []struct {
		file string
		want []providers.Event
	}{
		{"message_text.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "500101", UserID: "u-1001", ChatID: "u-1001", User: ivan,
			Time: at(t0), Text: "Здравствуйте! Hello, I have a question about my order #1234.",
		}}},
		{"message_reply.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "500102", UserID: "u-1001", ChatID: "u-1001", User: ivan,
			Time: at(t0 + 60), Text: "Yes, that one", ReplyTo: "900001",
		}}},
		{"message_photo.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "500103", UserID: "u-1001", ChatID: "u-1001", User: ivan,
			Time: at(t0 + 120), Text: "Here is the receipt",
			Attachments: []providers.Attachment{{
				Kind: providers.AttachImage, URL: "https://files.example-messenger.invalid/p/8f3a2c/receipt.jpg",
				Name: "receipt.jpg", MIME: "image/jpeg", Size: 48213,
			}},
		}}},
		{"message_voice-ref.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "500104", UserID: "u-1001", ChatID: "u-1001", User: ivan,
			Time: at(t0 + 180),
			Attachments: []providers.Attachment{
				{Kind: providers.AttachVoice, Ref: "f-voice-77", MIME: "audio/ogg", Size: 10240},
				{Kind: providers.AttachFile, Ref: "f-doc-78", Name: `contract "final".pdf`, MIME: "application/pdf", Size: 2202009},
			},
		}}},
		{"message_location.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "500105", UserID: "u-1001", ChatID: "u-1001", User: ivan,
			Time:        at(t0 + 240),
			Attachments: []providers.Attachment{{Kind: providers.AttachLocation, Lat: 55.751244, Lon: 37.618423}},
		}}},
		{"message_contact.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "500106", UserID: "u-1001", ChatID: "u-1001",
			// The visitor shared their own number: it becomes their phone.
			User: providers.UserInfo{FirstName: "Ivan", LastName: "Petrov", Username: "ivan_petrov", Language: "ru", Phone: "+79161234567"},
			Time: at(t0 + 300),
			Attachments: []providers.Attachment{{
				Kind: providers.AttachContact, Phone: "+79161234567", Contact: "Ivan Petrov", OwnPhone: true,
			}},
		}}},
		{"message_batch.json", []providers.Event{
			{
				Kind: providers.EventMessage, ExternalID: "500107", UserID: "u-2002", ChatID: "u-2002",
				User: providers.UserInfo{FirstName: "Анна", LastName: "Смирнова"}, Time: at(t0 + 360), Text: "Добрый день",
			},
			{
				Kind: providers.EventMessage, ExternalID: "500108", UserID: "u-2002", ChatID: "u-2002",
				User: providers.UserInfo{FirstName: "Анна", LastName: "Смирнова"}, Time: at(t0 + 361), Text: "Можно вопрос?",
				Attachments: []providers.Attachment{{
					Kind: providers.AttachSticker, URL: "https://files.example-messenger.invalid/s/hello.webp", MIME: "image/webp",
				}},
			},
			{Kind: providers.EventRead, UserID: "u-1001", ChatID: "u-1001", Time: at(t0 + 362), Refs: []string{"900001"}},
		}},
		{"edited_text.json", []providers.Event{{
			Kind: providers.EventEdited, ExternalID: "500101", UserID: "u-1001", ChatID: "u-1001", User: ivan,
			Time: at(t0 + 30), Text: "Hello, I have a question about my order #1235.",
		}}},
		{"button_press.json", []providers.Event{{
			Kind: providers.EventButton, ExternalID: "btn:bp-5f1c2a", UserID: "u-1001", ChatID: "u-1001", User: ivan,
			Time: at(t0 + 420), Payload: "rate:5", ReplyTo: "900002",
		}}},
		{"delivered_ids.json", []providers.Event{{
			Kind: providers.EventDelivered, UserID: "u-1001", ChatID: "u-1001", Time: at(t0 + 430), Refs: []string{"900001", "900002"},
		}}},
		{"read_watermark.json", []providers.Event{{
			Kind: providers.EventRead, UserID: "u-1001", ChatID: "u-1001", Time: at(t0 + 440), Watermark: at(t0 + 435),
		}}},
		{"failed_blocked.json", []providers.Event{{
			Kind: providers.EventFailed, UserID: "u-2002", ChatID: "u-2002", Time: at(t0 + 450), Refs: []string{"900003"},
			Reason: "the user blocked the bot",
		}}},
		{"subscribed_user.json", []providers.Event{{
			Kind: providers.EventSubscribed, ExternalID: "upd:10015", UserID: "u-2002", ChatID: "u-2002",
			User: providers.UserInfo{FirstName: "Анна", LastName: "Смирнова"}, Time: at(t0 + 460),
		}}},
		{"unsubscribed_user.json", []providers.Event{{
			Kind: providers.EventUnsubscribed, ExternalID: "upd:10016", UserID: "u-2002", ChatID: "u-2002", Time: at(t0 + 470),
		}}},
		{"conversation_started_link.json", []providers.Event{{
			Kind: providers.EventConversationStarted, ExternalID: "upd:10017", UserID: "u-3003", ChatID: "u-3003",
			User: providers.UserInfo{FirstName: "Oleg", Username: "oleg"}, Time: at(t0 + 480), Payload: "site-footer",
		}}},
		{"none_typing.json", nil},
		{"none_echo.json", nil},
		{"none_poll.json", nil},
		{"none_empty-batch.json", nil},
	}

	p := example.New()
	ch := testChannel(providers.Settings{example.SettingToken: "t"})
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			got, err := p.EventFilter(context.Background(), ch, signed(ch, readTestdata(t, tc.file)))
			if err != nil {
				t.Fatalf("EventFilter: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events differ\n got: %+v\nwant: %+v", got, tc.want)
			}
		})
	}
	// Every testdata file needs its expectations here: a new payload without them would be
	// checked only loosely by the conformance suite.
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("testdata %s has no case in TestEventFilterTestdata", filepath.Base(f))
		}
	}
}

func TestEventFilterRejectsUnsigned(t *testing.T) {
	p := example.New()
	ch := testChannel(providers.Settings{example.SettingToken: "t"})
	body := readTestdata(t, "message_text.json")
	good := example.Sign(ch.Secret, body)

	tests := []struct {
		name   string
		header http.Header
		secret string
	}{
		{"no header", nil, ch.Secret},
		{"empty header", http.Header{example.SignatureHeader: {""}}, ch.Secret},
		{"no sha256= prefix", http.Header{example.SignatureHeader: {good[len("sha256="):]}}, ch.Secret},
		{"other algorithm", http.Header{example.SignatureHeader: {"sha1=" + good[len("sha256="):]}}, ch.Secret},
		{"not hex", http.Header{example.SignatureHeader: {"sha256=zz"}}, ch.Secret},
		{"truncated signature", http.Header{example.SignatureHeader: {good[:len(good)-2]}}, ch.Secret},
		{"wrong secret", http.Header{example.SignatureHeader: {example.Sign("another-secret", body)}}, ch.Secret},
		{"signature of another body", http.Header{example.SignatureHeader: {example.Sign(ch.Secret, append(body, ' '))}}, ch.Secret},
		// A channel without a secret must not accept a signature made with the empty key.
		{"channel without secret", http.Header{example.SignatureHeader: {example.Sign("", body)}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ch
			c.Secret = tc.secret
			evs, err := p.EventFilter(context.Background(), c, &providers.Request{Method: http.MethodPost, Header: tc.header, Body: body})
			if !errors.Is(err, providers.ErrUnauthorized) {
				t.Errorf("want ErrUnauthorized, got %v", err)
			}
			if evs != nil {
				t.Errorf("events returned with an error: %+v", evs)
			}
		})
	}
}

func TestEventFilterMalformed(t *testing.T) {
	p := example.New()
	ch := testChannel(providers.Settings{example.SettingToken: "t"})
	tests := []struct{ name, body string }{
		{"empty", ``},
		{"not JSON", `hello`},
		{"array", `[{"type":"message"}]`},
		{"truncated", `{"update_id":1,"type":"message","message":{"id":5`},
		{"trailing garbage", `{"update_id":1,"type":"typing"} {}`},
		{"wrong field type", `{"update_id":"one","type":"message"}`},
		{"message without message", `{"update_id":1,"type":"message"}`},
		{"message without id", `{"update_id":1,"type":"message","message":{"chat_id":"c","from":{"id":"u"},"text":"x"}}`},
		{"message without sender", `{"update_id":1,"type":"message","message":{"id":5,"chat_id":"c","text":"x"}}`},
		{"edited without message", `{"update_id":1,"type":"edited"}`},
		{"button without id", `{"update_id":1,"type":"button","button":{"from":{"id":"u"},"data":"x"}}`},
		{"receipt without receipt", `{"update_id":1,"type":"read"}`},
		{"member without user", `{"update_id":1,"type":"subscribed","member":{"chat_id":"c"}}`},
		{"bad update in batch", `{"updates":[{"update_id":1,"type":"typing"},{"update_id":2,"type":"message"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := p.EventFilter(context.Background(), ch, signed(ch, []byte(tc.body)))
			if !errors.Is(err, providers.ErrMalformed) {
				t.Errorf("want ErrMalformed, got %v (events %+v)", err, evs)
			}
		})
	}
}

func TestEventFilterIgnoresUnknown(t *testing.T) {
	p := example.New()
	ch := testChannel(providers.Settings{example.SettingToken: "t"})
	for _, body := range []string{
		`{}`,
		`{"update_id":1,"type":"poll_answer","poll":{"id":"p1"}}`,
		`{"updates":null}`,
		`{"update_id":1,"type":"delivered","receipt":{"chat_id":"c","user_id":"u","date":1732190400}}`,
		`{"update_id":1,"type":"message","message":{"id":5,"chat_id":"c","from":{"id":"u"},"date":1732190400}}`,
	} {
		evs, err := p.EventFilter(context.Background(), ch, signed(ch, []byte(body)))
		if err != nil || len(evs) != 0 {
			t.Errorf("%s: want no events and no error, got %+v, %v", body, evs, err)
		}
	}
}

func TestBuilders(t *testing.T) {
	p := example.New()
	ch := testChannel(providers.Settings{example.SettingToken: "t"})
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	body := example.NewBatch(
		example.NewMessageUpdate(1, 101, "u-1", "", "Ivan", "Petrov", `He said "<hi>" & left`, now),
		example.NewButtonUpdate(2, "bp-1", "u-1", "c-1", 900001, "yes", now),
		example.NewReceiptUpdate(3, example.TypeDelivered, "u-1", "", []int64{900001, 900002}, now),
		example.NewReceiptUpdate(4, example.TypeRead, "u-1", "", []int64{900002}, now),
	)
	got, err := p.EventFilter(context.Background(), ch, signed(ch, body))
	if err != nil {
		t.Fatalf("EventFilter on built updates: %v", err)
	}
	want := []providers.Event{
		{
			Kind: providers.EventMessage, ExternalID: "101", UserID: "u-1", ChatID: "u-1",
			User: providers.UserInfo{FirstName: "Ivan", LastName: "Petrov"}, Time: now, Text: `He said "<hi>" & left`,
		},
		{Kind: providers.EventButton, ExternalID: "btn:bp-1", UserID: "u-1", ChatID: "c-1", Time: now, Payload: "yes", ReplyTo: "900001"},
		{Kind: providers.EventDelivered, UserID: "u-1", ChatID: "u-1", Time: now, Refs: []string{"900001", "900002"}},
		{Kind: providers.EventRead, UserID: "u-1", ChatID: "u-1", Time: now, Refs: []string{"900002"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events differ\n got: %+v\nwant: %+v", got, want)
	}

	// A single update (not batched) parses the same way.
	one := example.NewMessageUpdate(5, 102, "u-2", "c-2", "Anna", "", "hi", now)
	got, err = p.EventFilter(context.Background(), ch, signed(ch, one))
	if err != nil || len(got) != 1 || got[0].ExternalID != "102" || got[0].ChatID != "c-2" || got[0].User.Name() != "Anna" {
		t.Errorf("single update: got %+v, %v", got, err)
	}
}

func TestNewWebhookRequest(t *testing.T) {
	body := example.NewMessageUpdate(1, 101, "u-1", "", "Ivan", "", "hi", time.Now())
	req, err := example.NewWebhookRequest(context.Background(), "https://omnichat.example/webhooks/7", "s3cret-value", body)
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.URL.String() != "https://omnichat.example/webhooks/7" {
		t.Errorf("request %s %s", req.Method, req.URL)
	}
	if got, want := req.Header.Get(example.SignatureHeader), example.Sign("s3cret-value", body); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
}

// TestSignKnownVector pins the signature format against a value computed independently
// (printf '{"update_id":1}' | openssl dgst -sha256 -hmac secret), so Sign and verify cannot
// drift together.
func TestSignKnownVector(t *testing.T) {
	got := example.Sign("secret", []byte(`{"update_id":1}`))
	const want = "sha256=87ce8d9465f6dbbda0c76ca571afbf8b2893e7a32369d738ba52bbc1b4deae05"
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestCallbackServerConfirmation(t *testing.T) {
	p := example.New()
	ch := testChannel(providers.Settings{example.SettingToken: "t"})
	ctx := context.Background()
	challenge := "c-12345"
	handshake := func(sig string) *providers.Request {
		h := http.Header{}
		if sig != "" {
			h.Set(example.SignatureHeader, sig)
		}
		return &providers.Request{Method: http.MethodGet, Header: h, Query: url.Values{example.ChallengeParam: {challenge}}}
	}

	resp, handled, err := p.CallbackServerConfirmation(ctx, ch, handshake(example.Sign(ch.Secret, []byte(challenge))))
	if err != nil || !handled {
		t.Fatalf("signed handshake: handled=%v err=%v", handled, err)
	}
	if resp.Status != http.StatusOK || string(resp.Body) != challenge || resp.ContentType != "text/plain; charset=utf-8" {
		t.Errorf("handshake answer %d %q %q, want 200 %q text/plain", resp.Status, resp.Body, resp.ContentType, challenge)
	}

	for name, sig := range map[string]string{
		"unsigned":     "",
		"wrong secret": example.Sign("nope", []byte(challenge)),
		"other text":   example.Sign(ch.Secret, []byte("something else")),
	} {
		resp, handled, err := p.CallbackServerConfirmation(ctx, ch, handshake(sig))
		if !handled || !errors.Is(err, providers.ErrUnauthorized) || resp != nil {
			t.Errorf("%s handshake: want handled with ErrUnauthorized and no answer, got %v %v %+v", name, handled, err, resp)
		}
	}

	// Ordinary updates and other GETs go on to EventFilter.
	body := readTestdata(t, "message_text.json")
	if _, handled, err := p.CallbackServerConfirmation(ctx, ch, signed(ch, body)); handled || err != nil {
		t.Errorf("a POST update was taken for a handshake: handled=%v err=%v", handled, err)
	}
	if _, handled, err := p.CallbackServerConfirmation(ctx, ch, &providers.Request{Method: http.MethodGet}); handled || err != nil {
		t.Errorf("a GET without challenge was taken for a handshake: handled=%v err=%v", handled, err)
	}
}

func TestAck(t *testing.T) {
	p := example.New()
	ch := testChannel(providers.Settings{example.SettingToken: "t"})
	r := p.Ack(ch, &providers.Request{}, nil)
	if r.Status != http.StatusOK || r.ContentType != "application/json" || string(r.Body) != `{"ok":true}` {
		t.Errorf("Ack = %d %q %q", r.Status, r.ContentType, r.Body)
	}
	// The body is a fresh slice each time: a caller that modifies it must not change the next answer.
	r.Body[0] = 'X'
	if r2 := p.Ack(ch, &providers.Request{}, nil); string(r2.Body) != `{"ok":true}` {
		t.Errorf("Ack body changed to %q", r2.Body)
	}
}

func BenchmarkEventFilter(b *testing.B) {
	p := example.New()
	ch := testChannel(providers.Settings{example.SettingToken: "t"})
	req := signed(ch, example.NewMessageUpdate(1, 101, "u-1", "", "Ivan", "Petrov", "Hello, I have a question about my order", time.Now()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.EventFilter(context.Background(), ch, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewMessageUpdate(b *testing.B) {
	now := time.Now()
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		body := example.NewMessageUpdate(i, i, "u-1", "", "Ivan", "Petrov", "Hello, I have a question about my order", now)
		_ = example.Sign("secret", body)
	}
}

// TestEventFilterNoUpdateID: without an update id a membership event gets no ExternalID,
// never a constant one that would make later events look like retries.
func TestEventFilterNoUpdateID(t *testing.T) {
	p := example.New()
	ch := testChannel(providers.Settings{example.SettingToken: "t"})
	body := []byte(`{"type":"started","member":{"chat_id":"u-1","user":{"id":"u-1"},"date":1732190400,"payload":"p"}}`)
	evs, err := p.EventFilter(context.Background(), ch, signed(ch, body))
	if err != nil || len(evs) != 1 {
		t.Fatalf("EventFilter: %+v %v", evs, err)
	}
	if evs[0].ExternalID != "" || evs[0].Kind != providers.EventConversationStarted || evs[0].Payload != "p" {
		t.Errorf("event %+v", evs[0])
	}
}
