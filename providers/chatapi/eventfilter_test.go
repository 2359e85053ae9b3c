package chatapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/chatapi"
	"github.com/omnichat/omnichat/providers/providertest"
)

// testChannel is a channel as the core hands it to the provider.
func testChannel() providers.Channel {
	return providers.Channel{
		ID: 7, Kind: chatapi.Kind, Name: "test", Secret: providertest.Secret,
		Settings:   providers.Settings{chatapi.SettingToken: "t0ken-value", chatapi.SettingChannelID: "777001"},
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

const s3 = "https://s3.eu-central-1.wasabisys.com/incoming-chat-api/2024/11/21/777001/"

var ivan = providers.UserInfo{FirstName: "Ivan Petrov", Phone: "+79161234567"}

// TestEventFilterTestdata pins every field EventFilter produces for each testdata payload.
func TestEventFilterTestdata(t *testing.T) {
	const ivanChat = "79161234567@c.us"
	const annaChat = "79031112233@c.us"
	tests := []struct {
		file string
		want []providers.Event
	}{
		{"message_text.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "false_79161234567@c.us_3EB0C7F2A1D94B6E8F21",
			UserID: ivanChat, ChatID: ivanChat, User: ivan, Time: at(t0),
			Text: "Здравствуйте! Hello, I have a question about my order #1234.",
		}}},
		{"message_reply.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "false_79161234567@c.us_3EB0A41B77C03D2E9F10",
			UserID: ivanChat, ChatID: ivanChat, User: ivan, Time: at(t0 + 60),
			Text: "Yes, that one", ReplyTo: "true_79161234567@c.us_3EB0000000000A000001",
		}}},
		{"message_image-caption.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "false_79161234567@c.us_3EB066E484BABD9F3C69",
			UserID: ivanChat, ChatID: ivanChat, User: ivan, Time: at(t0 + 120), Text: "Here is the receipt",
			Attachments: []providers.Attachment{{
				Kind: providers.AttachImage, URL: s3 + "1c18498a-f953-41c2-9c56-8a22b89510d3.jpeg",
				Name: "1c18498a-f953-41c2-9c56-8a22b89510d3.jpeg", MIME: "image/jpeg",
			}},
		}}},
		{"message_document.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "false_79161234567@c.us_3EB0F00D4C2B1A0E9D8C",
			UserID: ivanChat, ChatID: ivanChat, User: ivan, Time: at(t0 + 180), Text: "contract.pdf",
			Attachments: []providers.Attachment{{
				Kind: providers.AttachFile, URL: s3 + "2e730526-c698-42fe-90d9-bf7d4bcfdb39.pdf",
				Name: "2e730526-c698-42fe-90d9-bf7d4bcfdb39.pdf", MIME: "application/pdf",
			}},
		}}},
		{"message_voice.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "false_79161234567@c.us_3EB0B5D9E0A7C6F54321",
			UserID: ivanChat, ChatID: ivanChat, User: ivan, Time: at(t0 + 240),
			Attachments: []providers.Attachment{{
				Kind: providers.AttachVoice, URL: s3 + "6d293f24-da25-4012-9b23-ad74cf9c1425.oga",
				Name: "6d293f24-da25-4012-9b23-ad74cf9c1425.oga", MIME: "audio/ogg",
			}},
		}}},
		{"message_location.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "false_79161234567@c.us_3EB0D1E2F3A4B5C6D7E8",
			UserID: ivanChat, ChatID: ivanChat, User: ivan, Time: at(t0 + 300),
			Attachments: []providers.Attachment{{Kind: providers.AttachLocation, Lat: 55.751244, Lon: 37.618423}},
		}}},
		{"message_vcard-own.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "false_79161234567@c.us_3EB09A8B7C6D5E4F3A2B",
			UserID: ivanChat, ChatID: ivanChat, User: ivan, Time: at(t0 + 360),
			Attachments: []providers.Attachment{{
				Kind: providers.AttachContact, Phone: "+79161234567", Contact: "Ivan Petrov", OwnPhone: true,
			}},
		}}},
		{"message_vcard-other.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "false_79031112233@c.us_3EB01234ABCD5678EF90",
			// senderName is the bare number: no name. The card is someone else's.
			UserID: annaChat, ChatID: annaChat, User: providers.UserInfo{Phone: "+79031112233"}, Time: at(t0 + 390),
			Attachments: []providers.Attachment{{
				Kind: providers.AttachContact, Phone: "+79265554433", Contact: "Анна Смирнова",
			}},
		}}},
		{"message_batch.json", []providers.Event{
			{
				Kind: providers.EventMessage, ExternalID: "false_79031112233@c.us_AF3E2B1636F9EDB87F80D90CF6A76413",
				UserID: annaChat, ChatID: annaChat, User: providers.UserInfo{FirstName: "Анна", Phone: "+79031112233"},
				Time: at(t0 + 420), Text: "Добрый день",
			},
			// The echo of our reply (fromMe) in between is skipped.
			{
				Kind: providers.EventMessage, ExternalID: "false_79031112233@c.us_A0EED4D0BCBBAB9E57010D7EC3301BB0",
				UserID: annaChat, ChatID: annaChat, User: providers.UserInfo{FirstName: "Анна", Phone: "+79031112233"},
				Time: at(t0 + 425), Text: "Можно вопрос?",
			},
		}},
		{"message_list-format.json", []providers.Event{{
			// fromMe as 0, time as a string, instanceId as a number.
			Kind: providers.EventMessage, ExternalID: "false_6281252244104@c.us_ABGHYoElIkQQTwIQ9",
			UserID: "6281252244104@c.us", ChatID: "6281252244104@c.us",
			User: providers.UserInfo{FirstName: "Andreas Prabudi", Phone: "+6281252244104"}, Time: at(t0 + 480),
			Attachments: []providers.Attachment{{
				Kind: providers.AttachVideo, URL: s3 + "0bc3912c-add3-4345-96ef-9d5e75a4a048.mp4",
				Name: "0bc3912c-add3-4345-96ef-9d5e75a4a048.mp4", MIME: "video/mp4",
			}},
		}}},
		{"delivered_ack.json", []providers.Event{{
			Kind: providers.EventDelivered, UserID: ivanChat, ChatID: ivanChat,
			Refs: []string{"true_79161234567@c.us_3EB0000000000A000001"},
		}}},
		{"read_viewed.json", []providers.Event{
			{Kind: providers.EventRead, UserID: ivanChat, ChatID: ivanChat, Refs: []string{"true_79161234567@c.us_3EB0000000000A000001"}},
			{Kind: providers.EventRead, UserID: ivanChat, ChatID: ivanChat, Refs: []string{"true_79161234567@c.us_3EB0000000000A000002"}},
		}},
		{"none_ack-sent.json", nil},
		{"none_echo.json", nil},
		{"none_group.json", nil},
		{"none_call-log.json", nil},
		{"none_chat-update.json", nil},
		{"none_empty.json", nil},
	}

	p := chatapi.New()
	ch := testChannel()
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
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("testdata %s has no case in TestEventFilterTestdata", filepath.Base(f))
		}
	}
}

func TestEventFilterRejectsUnauthenticated(t *testing.T) {
	p := chatapi.New()
	body := readTestdata(t, "message_text.json")
	tests := []struct {
		name   string
		path   string
		secret string
	}{
		{"no path", "", providertest.Secret},
		{"root path", "/", providertest.Secret},
		{"token without slash", providertest.Secret, providertest.Secret},
		{"wrong token", "/" + providertest.Secret[:10], providertest.Secret},
		{"token with suffix", "/" + providertest.Secret + "x", providertest.Secret},
		{"token with trailing slash", "/" + providertest.Secret + "/", providertest.Secret},
		{"another channel's token", "/another-secret_0123456789abcdefghijklmnopq", providertest.Secret},
		// A channel without a secret must not accept the bare URL.
		{"channel without secret", "/", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := testChannel()
			ch.Secret = tc.secret
			evs, err := p.EventFilter(context.Background(), ch, &providers.Request{Method: http.MethodPost, Path: tc.path, Body: body})
			if !errors.Is(err, providers.ErrUnauthorized) {
				t.Errorf("want ErrUnauthorized, got %v", err)
			}
			if evs != nil {
				t.Errorf("events returned with an error: %+v", evs)
			}
		})
	}
}

// TestEventFilterOtherInstance: a webhook of another instance is refused even with the
// right path token (the URL was copied to a second instance).
func TestEventFilterOtherInstance(t *testing.T) {
	p := chatapi.New()
	ch := testChannel()
	m := chatapi.NewTextMessage("3EB0AA", "+79161234567", "Ivan", "hi", time.Unix(t0, 0))
	_, err := p.EventFilter(context.Background(), ch, signed(ch, chatapi.NewMessagesWebhook("999999", m)))
	if !errors.Is(err, providers.ErrUnauthorized) {
		t.Errorf("webhook of instance 999999 for channel 777001: want ErrUnauthorized, got %v", err)
	}
	// Written the way admins paste it, the channel id still matches.
	ch.Settings[chatapi.SettingChannelID] = "WhatsApp #777001"
	if evs, err := p.EventFilter(context.Background(), ch, signed(ch, chatapi.NewMessagesWebhook("777001", m))); err != nil || len(evs) != 1 {
		t.Errorf("channel id %q: got %+v, %v", ch.Settings[chatapi.SettingChannelID], evs, err)
	}
}

func TestEventFilterMalformed(t *testing.T) {
	p := chatapi.New()
	ch := testChannel()
	tests := []struct{ name, body string }{
		{"empty", ``},
		{"not JSON", `hello`},
		{"array", `[{"messages":[]}]`},
		{"truncated", `{"messages":[{"id":"false_1@c.us_A","body":"x"`},
		{"trailing garbage", `{"instanceId":"777001"} {}`},
		{"messages not a list", `{"messages":{"id":"x"}}`},
		{"fromMe not a bool", `{"messages":[{"id":"false_1@c.us_A","chatId":"1@c.us","fromMe":"maybe","type":"chat","body":"x"}]}`},
		{"time not a number", `{"messages":[{"id":"false_1@c.us_A","chatId":"1@c.us","time":"noon","type":"chat","body":"x"}]}`},
		{"message without id", `{"messages":[{"chatId":"79161234567@c.us","type":"chat","body":"x"}]}`},
		{"message without chat", `{"messages":[{"id":"false_1@c.us_A","type":"chat","body":"x"}]}`},
		{"instanceId an object", `{"instanceId":{"id":1}}`},
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

func TestEventFilterIgnores(t *testing.T) {
	p := chatapi.New()
	ch := testChannel()
	for _, body := range []string{
		`{}`,
		`null`,
		`{"status":"authenticated","instanceId":"777001"}`,
		`{"ack":[{"id":"","chatId":"1@c.us","status":"delivered"}]}`,
		`{"ack":[{"id":"true_1@c.us_A","chatId":"1@c.us","status":"pending"}]}`,
		`{"messages":[{"id":"false_79161234567@c.us_A","chatId":"79161234567@c.us","type":"chat","body":"   "}]}`,
		`{"messages":[{"id":"false_status@broadcast_A","chatId":"status@broadcast","type":"chat","body":"story"}]}`,
		// An image whose body is no URL and without caption: nothing to show.
		`{"messages":[{"id":"false_79161234567@c.us_A","chatId":"79161234567@c.us","type":"image","body":"/9j/4AAQSkZJRg"}]}`,
	} {
		evs, err := p.EventFilter(context.Background(), ch, signed(ch, []byte(body)))
		if err != nil || len(evs) != 0 {
			t.Errorf("%s: want no events and no error, got %+v, %v", body, evs, err)
		}
	}
}

// TestEventFilterFallbacks: content EventFilter cannot structure still reaches the operator.
func TestEventFilterFallbacks(t *testing.T) {
	p := chatapi.New()
	ch := testChannel()
	tests := []struct {
		name, body string
		wantText   string
		wantAtt    []providers.Attachment
	}{
		{"bad location is text", `{"messages":[{"id":"false_7@c.us_A","chatId":"79161234567@c.us","type":"location","body":"somewhere"}]}`, "somewhere", nil},
		{"vcard without phone is text", `{"messages":[{"id":"false_7@c.us_A","chatId":"79161234567@c.us","type":"vcard","body":"BEGIN:VCARD\nFN:Nobody\nEND:VCARD"}]}`, "BEGIN:VCARD\nFN:Nobody\nEND:VCARD", nil},
		{"unknown type with URL is a file", `{"messages":[{"id":"false_7@c.us_A","chatId":"79161234567@c.us","type":"gif","body":"https://s3.example/x/a.gif","caption":"lol"}]}`, "lol",
			[]providers.Attachment{{Kind: providers.AttachFile, URL: "https://s3.example/x/a.gif", Name: "a.gif", MIME: "image/gif"}}},
		{"multi_vcard gives every contact", `{"messages":[{"id":"false_7@c.us_A","chatId":"79161234567@c.us","type":"multi_vcard","body":"BEGIN:VCARD\nFN:A\nTEL:+1 555 0100\nEND:VCARD\nBEGIN:VCARD\nFN:B\nTEL;waid=15550101:+1 555 0101\nTEL:+1 555 0102\nEND:VCARD"}]}`, "",
			[]providers.Attachment{
				{Kind: providers.AttachContact, Phone: "+1 555 0100", Contact: "A"},
				{Kind: providers.AttachContact, Phone: "+15550101", Contact: "B"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := p.EventFilter(context.Background(), ch, signed(ch, []byte(tc.body)))
			if err != nil || len(evs) != 1 {
				t.Fatalf("want one event, got %+v, %v", evs, err)
			}
			if evs[0].Text != tc.wantText || !reflect.DeepEqual(evs[0].Attachments, tc.wantAtt) {
				t.Errorf("got text %q attachments %+v, want %q %+v", evs[0].Text, evs[0].Attachments, tc.wantText, tc.wantAtt)
			}
		})
	}
}

func TestBuilders(t *testing.T) {
	p := chatapi.New()
	ch := testChannel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	m := chatapi.NewTextMessage("3EB0ABCDEF", "+7 (916) 123-45-67", "Ivan", `He said "<hi>" & left`, now)
	got, err := p.EventFilter(context.Background(), ch, signed(ch, chatapi.NewMessagesWebhook("777001", m)))
	want := []providers.Event{{
		Kind: providers.EventMessage, ExternalID: "false_79161234567@c.us_3EB0ABCDEF", UserID: "79161234567@c.us",
		ChatID: "79161234567@c.us", User: providers.UserInfo{FirstName: "Ivan", Phone: "+79161234567"}, Time: now,
		Text: `He said "<hi>" & left`,
	}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("message webhook: got %+v, %v\nwant %+v", got, err, want)
	}

	ack := chatapi.NewAckWebhook("777001", chatapi.Ack{ID: "true_79161234567@c.us_1", ChatID: "79161234567@c.us", Status: chatapi.AckViewed})
	got, err = p.EventFilter(context.Background(), ch, signed(ch, ack))
	if err != nil || len(got) != 1 || got[0].Kind != providers.EventRead || got[0].Refs[0] != "true_79161234567@c.us_1" {
		t.Errorf("ack webhook: got %+v, %v", got, err)
	}
}

func TestNewWebhookRequest(t *testing.T) {
	body := []byte(`{"instanceId":"777001"}`)
	req, err := chatapi.NewWebhookRequest(context.Background(), "https://omnichat.example/webhooks/7/", "s3cret-value", body)
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.URL.String() != "https://omnichat.example/webhooks/7/s3cret-value" {
		t.Errorf("request %s %s", req.Method, req.URL)
	}
	if req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", req.Header.Get("Content-Type"))
	}
	got, _ := io.ReadAll(req.Body)
	if string(got) != string(body) {
		t.Errorf("body %q", got)
	}
}

func TestCallbackServerConfirmationNone(t *testing.T) {
	p := chatapi.New()
	ch := testChannel()
	resp, handled, err := p.CallbackServerConfirmation(context.Background(), ch, signed(ch, readTestdata(t, "message_text.json")))
	if resp != nil || handled || err != nil {
		t.Errorf("ChatAPI has no handshake: got %+v %v %v", resp, handled, err)
	}
}

func BenchmarkEventFilter(b *testing.B) {
	p := chatapi.New()
	ch := testChannel()
	req := signed(ch, readTestdata(b, "message_text.json"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.EventFilter(context.Background(), ch, req); err != nil {
			b.Fatal(err)
		}
	}
}
