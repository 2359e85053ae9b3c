package viber_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/viber"
	"github.com/omnichat/omnichat/providers/viber/vibertest"
)

const testToken = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"

func testChannel() providers.Channel {
	return providers.Channel{
		ID: 7, Kind: viber.Kind, Name: "viber",
		Settings:   providers.Settings{viber.SettingToken: testToken, viber.SettingBotName: "Shop Bot"},
		Secret:     "unused-by-viber",
		WebhookURL: "https://omnichat.example/webhooks/7",
	}
}

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	visitor = "pttm25kSGUo1919sBORWyA=="
	avatar  = "https://media-direct.cdn.viber.com/download_photo?dlid=VAE-jwcVJ6cvH4dkPgUGN1PfaEfDdhK2Pj4E4v3oEwMZ_o6Pr7WUwh2Y0OhTJhZPCtDmwDhF8spqQcuBz5y5A&fltp=jpg&imsz=0000"
)

var visitorInfo = providers.UserInfo{FirstName: "Ivan Petrov", Language: "ru", AvatarURL: avatar}

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func TestEventFilterTestdata(t *testing.T) {
	msg := func(token string, at int64, text string, att ...providers.Attachment) providers.Event {
		return providers.Event{
			Kind: providers.EventMessage, ExternalID: token, UserID: visitor, User: visitorInfo,
			Time: ms(at), Text: text, Attachments: att,
		}
	}
	cases := []struct {
		file string
		want []providers.Event
	}{
		{"message_text.json", []providers.Event{msg("5491234567890123001", 1717171717123, "Здравствуйте! Где мой заказ №1234?")}},
		{"message_picture.json", []providers.Event{msg("5491234567890123002", 1717171718001, "Фото чека", providers.Attachment{
			Kind: providers.AttachImage, Name: "IMG_20240531_101500.jpg", Size: 183245,
			URL: "https://dl-media.viber.com/5/share/2/long/bots/generic/image/0x0/9ab1/3f2e0c1b6a9d4e58b7c6d5e4f3a2b1c09ab1.jpg?hash=0c8f2a7e",
		})}},
		{"message_video.json", []providers.Event{msg("5491234567890123003", 1717171719002, "", providers.Attachment{
			Kind: providers.AttachVideo, Size: 5242880,
			URL: "https://dl-media.viber.com/5/share/2/long/bots/generic/video/mp4/5c1d/8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b5c1d.mp4?hash=7b3e",
		})}},
		{"message_file.json", []providers.Event{msg("5491234567890123004", 1717171720003, "", providers.Attachment{
			Kind: providers.AttachFile, Name: "invoice.pdf", Size: 94812,
			URL: "https://dl-media.viber.com/5/share/2/long/bots/generic/file/0x0/44aa/b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e744aa.pdf?hash=19d0",
		})}},
		{"message_sticker.json", []providers.Event{msg("5491234567890123005", 1717171721004, "", providers.Attachment{
			Kind: providers.AttachSticker, Name: "40133", URL: "https://viber.github.io/docs/img/stickers/40133.png",
		})}},
		{"message_sticker-id-only.json", []providers.Event{msg("5491234567890123006", 1717171722005, "", providers.Attachment{
			Kind: providers.AttachSticker, Name: "40122",
		})}},
		{"message_contact.json", []providers.Event{msg("5491234567890123007", 1717171723006, "", providers.Attachment{
			Kind: providers.AttachContact, Phone: "+79161234567", Contact: "Alex",
		})}},
		{"message_location.json", []providers.Event{msg("5491234567890123008", 1717171724007, "", providers.Attachment{
			Kind: providers.AttachLocation, Lat: 55.755826, Lon: 37.6173,
		})}},
		{"message_url.json", []providers.Event{msg("5491234567890123009", 1717171725008, "https://example.com/catalog/item/42", providers.Attachment{
			Kind: providers.AttachLink, URL: "https://example.com/catalog/item/42",
		})}},
		{"button_reply.json", []providers.Event{{
			Kind: providers.EventButton, ExternalID: "5491234567890123010", UserID: visitor, User: visitorInfo,
			Time: ms(1717171726009), Text: "Позвать оператора", Payload: "op:call",
		}}},
		{"delivered_message.json", []providers.Event{{
			Kind: providers.EventDelivered, UserID: visitor, Time: ms(1717171730011), Refs: []string{"5491234567890123456"},
		}}},
		{"read_seen.json", []providers.Event{{
			Kind: providers.EventRead, UserID: visitor, Time: ms(1717171731012), Refs: []string{"5491234567890123456"},
		}}},
		{"failed_message.json", []providers.Event{{
			Kind: providers.EventFailed, UserID: visitor, Time: ms(1717171732013), Refs: []string{"5491234567890123457"},
			Reason: "failure description",
		}}},
		{"subscribed_user.json", []providers.Event{{
			Kind: providers.EventSubscribed, ExternalID: "subscribed:5491234567890122990", UserID: visitor, User: visitorInfo,
			Time: ms(1717171700014),
		}}},
		{"unsubscribed_user.json", []providers.Event{{
			Kind: providers.EventUnsubscribed, ExternalID: "unsubscribed:5491234567890123500", UserID: visitor,
			Time: ms(1717171800015),
		}}},
		{"conversation_started_deeplink.json", []providers.Event{{
			Kind: providers.EventConversationStarted, ExternalID: "conversation_started:5491234567890122980", UserID: visitor,
			User: visitorInfo, Time: ms(1717171690016), Payload: "spring_sale",
		}}},
		{"none_webhook.json", nil},
		{"none_url-button.json", nil},
	}
	p := viber.New()
	ch := testChannel()
	seen := map[string]bool{}
	for _, tc := range cases {
		seen[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			got, err := p.EventFilter(context.Background(), ch, signed(ch, readEvent(t, tc.file)))
			if err != nil {
				t.Fatalf("EventFilter: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("testdata %s has no case in this table", filepath.Base(f))
		}
	}
}

func TestEventFilterRejects(t *testing.T) {
	p := viber.New()
	ch := testChannel()
	body := readEvent(t, "message_text.json")
	cases := []struct {
		name string
		req  func() *providers.Request
		want error
	}{
		{"no signature", func() *providers.Request {
			r := signed(ch, body)
			r.Header.Del(vibertest.SignatureHeader)
			return r
		}, providers.ErrUnauthorized},
		{"another bot's signature", func() *providers.Request { return forged(ch, body) }, providers.ErrUnauthorized},
		{"signature not hex", func() *providers.Request {
			r := signed(ch, body)
			r.Header.Set(vibertest.SignatureHeader, "zz"+r.Header.Get(vibertest.SignatureHeader)[2:])
			return r
		}, providers.ErrUnauthorized},
		{"signature of another body", func() *providers.Request {
			r := signed(ch, body)
			r.Body = []byte(strings.Replace(string(body), "1234", "9999", 1))
			return r
		}, providers.ErrUnauthorized},
		{"signature over a re-encoding", func() *providers.Request {
			r := signed(ch, []byte(strings.ReplaceAll(string(body), ",", ", ")))
			r.Body = body
			return r
		}, providers.ErrUnauthorized},
		{"not JSON", func() *providers.Request { return signed(ch, []byte("event=message")) }, providers.ErrMalformed},
		{"JSON array", func() *providers.Request { return signed(ch, []byte(`[{"event":"message"}]`)) }, providers.ErrMalformed},
		{"two objects", func() *providers.Request { return signed(ch, []byte(`{"event":"seen"}{"event":"seen"}`)) }, providers.ErrMalformed},
		{"no event", func() *providers.Request { return signed(ch, []byte(`{"timestamp":1717171717123}`)) }, providers.ErrMalformed},
		{"message without sender", func() *providers.Request {
			return signed(ch, []byte(`{"event":"message","timestamp":1717171717123,"message_token":1,"message":{"type":"text","text":"hi"}}`))
		}, providers.ErrMalformed},
		{"message without token", func() *providers.Request {
			return signed(ch, []byte(`{"event":"message","timestamp":1717171717123,"sender":{"id":"u"},"message":{"type":"text","text":"hi"}}`))
		}, providers.ErrMalformed},
		{"negative token", func() *providers.Request {
			return signed(ch, []byte(`{"event":"seen","timestamp":1717171717123,"message_token":-5,"user_id":"u"}`))
		}, providers.ErrMalformed},
		{"token is text", func() *providers.Request {
			return signed(ch, []byte(`{"event":"seen","timestamp":1717171717123,"message_token":"abc","user_id":"u"}`))
		}, providers.ErrMalformed},
		{"fractional timestamp", func() *providers.Request {
			return signed(ch, []byte(`{"event":"seen","timestamp":1717171717.5,"message_token":5,"user_id":"u"}`))
		}, providers.ErrMalformed},
		{"subscribed without user", func() *providers.Request {
			return signed(ch, []byte(`{"event":"subscribed","timestamp":1717171717123,"message_token":5}`))
		}, providers.ErrMalformed},
		{"contact without contact", func() *providers.Request {
			return signed(ch, []byte(`{"event":"message","timestamp":1,"message_token":1,"sender":{"id":"u"},"message":{"type":"contact"}}`))
		}, providers.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := p.EventFilter(context.Background(), ch, tc.req())
			if !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got events %+v, err %v", tc.want, evs, err)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}

	t.Run("channel without token", func(t *testing.T) {
		empty := testChannel()
		empty.Settings = providers.Settings{}
		// Signed with the empty key: must still be refused, an empty key is no secret.
		if _, err := p.EventFilter(context.Background(), empty, signed(empty, body)); !errors.Is(err, providers.ErrUnauthorized) {
			t.Fatalf("want ErrUnauthorized, got %v", err)
		}
	})
}

func TestEventFilterEdgeCases(t *testing.T) {
	p := viber.New()
	ch := testChannel()
	cases := []struct {
		name string
		body string
		want []providers.Event
	}{
		{"unknown event", `{"event":"client_status","timestamp":1717171717123,"message_token":5}`, nil},
		{"empty text message", `{"event":"message","timestamp":1717171717123,"message_token":5,"sender":{"id":"u"},"message":{"type":"text","text":""}}`, nil},
		{"text equal to a button but no tracking data", `{"event":"message","timestamp":1717171717123,"message_token":5,"sender":{"id":"u","name":"A"},"message":{"type":"text","text":"Yes"}}`,
			[]providers.Event{{Kind: providers.EventMessage, ExternalID: "5", UserID: "u", User: providers.UserInfo{FirstName: "A"}, Time: ms(1717171717123), Text: "Yes"}}},
		{"someone else's tracking data", `{"event":"message","timestamp":1717171717123,"message_token":5,"sender":{"id":"u"},"message":{"type":"text","text":"Yes","tracking_data":"{\"b\":{\"Yes\":\"y\"}}"}}`,
			[]providers.Event{{Kind: providers.EventMessage, ExternalID: "5", UserID: "u", Time: ms(1717171717123), Text: "Yes"}}},
		{"text not among the buttons", `{"event":"message","timestamp":1717171717123,"message_token":5,"sender":{"id":"u"},"message":{"type":"text","text":"Maybe","tracking_data":"omnichat:{\"b\":{\"Yes\":\"y\"}}"}}`,
			[]providers.Event{{Kind: providers.EventMessage, ExternalID: "5", UserID: "u", Time: ms(1717171717123), Text: "Maybe"}}},
		{"file_size instead of size", `{"event":"message","timestamp":1717171717123,"message_token":5,"sender":{"id":"u"},"message":{"type":"file","media":"https://x/f","file_name":"a.txt","file_size":12}}`,
			[]providers.Event{{Kind: providers.EventMessage, ExternalID: "5", UserID: "u", Time: ms(1717171717123),
				Attachments: []providers.Attachment{{Kind: providers.AttachFile, URL: "https://x/f", Name: "a.txt", Size: 12}}}}},
		{"failed without desc", `{"event":"failed","timestamp":1717171717123,"message_token":18446744073709551615,"user_id":"u"}`,
			[]providers.Event{{Kind: providers.EventFailed, UserID: "u", Time: ms(1717171717123), Refs: []string{"18446744073709551615"}, Reason: "Viber could not deliver the message"}}},
		{"no timestamp", `{"event":"seen","message_token":5,"user_id":"u"}`,
			[]providers.Event{{Kind: providers.EventRead, UserID: "u", Refs: []string{"5"}}}},
		{"ignored fields of odd types", `{"event":"seen","timestamp":1717171717123,"message_token":5,"user_id":"u","chat_hostname":7,"extra":{"a":[1]}}`,
			[]providers.Event{{Kind: providers.EventRead, UserID: "u", Time: ms(1717171717123), Refs: []string{"5"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.EventFilter(context.Background(), ch, signed(ch, []byte(tc.body)))
			if err != nil {
				t.Fatalf("EventFilter: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestSignatureKnownAnswer checks the HMAC against a signature published with a real Viber
// callback (nyaruka/courier's Viber handler tests), so both the provider and the fake are
// tied to Viber's algorithm rather than only to each other.
func TestSignatureKnownAnswer(t *testing.T) {
	token := "44b935abea139fd6-53fa53b32559c4a6-12dbd3d883b06835"
	body := []byte(`{"event":"unsubscribed","timestamp":1516678387902,"user_id":"KMMqtlNTDxIm/5bZhdQ5uA==","message_token":5136431130449316903}`)
	const want = "d84d8648b402a2737838fea4da41d903d1af1aed92466b1758828ad27e31a9f9"
	if got := viber.Sign(token, body); got != want {
		t.Errorf("viber.Sign = %s, want %s", got, want)
	}
	if got := vibertest.Sign(token, body); got != want {
		t.Errorf("vibertest.Sign = %s, want %s", got, want)
	}
	ch := testChannel()
	ch.Settings[viber.SettingToken] = token
	h := http.Header{}
	h.Set(viber.SignatureHeader, want)
	evs, err := viber.New().EventFilter(context.Background(), ch, &providers.Request{Method: http.MethodPost, Header: h, Body: body})
	if err != nil || len(evs) != 1 || evs[0].Kind != providers.EventUnsubscribed || evs[0].UserID != "KMMqtlNTDxIm/5bZhdQ5uA==" {
		t.Fatalf("got %+v, %v", evs, err)
	}
	// Upper-case hex is the same signature.
	h.Set(viber.SignatureHeader, strings.ToUpper(want))
	if _, err := viber.New().EventFilter(context.Background(), ch, &providers.Request{Method: http.MethodPost, Header: h, Body: body}); err != nil {
		t.Errorf("upper-case signature refused: %v", err)
	}
}

func TestCallbackServerConfirmation(t *testing.T) {
	p := viber.New()
	ch := testChannel()
	hook := readEvent(t, "none_webhook.json")

	resp, handled, err := p.CallbackServerConfirmation(context.Background(), ch, signed(ch, hook))
	if err != nil || !handled || resp == nil || resp.Status != http.StatusOK {
		t.Fatalf("signed webhook check: resp %+v, handled %v, err %v", resp, handled, err)
	}
	if _, handled, _ := p.CallbackServerConfirmation(context.Background(), ch, forged(ch, hook)); handled {
		t.Error("a forged webhook check was answered: it must go on to EventFilter, which refuses it")
	}
	if _, handled, _ := p.CallbackServerConfirmation(context.Background(), ch, signed(ch, readEvent(t, "message_text.json"))); handled {
		t.Error("a message was taken for the handshake")
	}
	get := signed(ch, hook)
	get.Method = http.MethodGet
	if _, handled, _ := p.CallbackServerConfirmation(context.Background(), ch, get); handled {
		t.Error("a GET was taken for the handshake")
	}
}

func TestAckWelcomeMessage(t *testing.T) {
	p := viber.New()
	ch := testChannel()
	body := readEvent(t, "conversation_started_deeplink.json")
	req := signed(ch, body)
	evs, err := p.EventFilter(context.Background(), ch, req)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("no welcome text", func(t *testing.T) {
		resp := p.Ack(ch, req, evs)
		if resp.Status != http.StatusOK || len(resp.Body) != 0 {
			t.Errorf("got %+v, want a bare 200", resp)
		}
	})
	t.Run("welcome text", func(t *testing.T) {
		wch := testChannel()
		wch.Settings[viber.SettingWelcomeText] = "Hello! <Write> your question & we answer."
		resp := p.Ack(wch, req, evs)
		want := `{"sender":{"name":"Shop Bot"},"type":"text","text":"Hello! <Write> your question & we answer."}`
		if resp.Status != http.StatusOK || resp.ContentType != "application/json" || string(resp.Body) != want {
			t.Errorf("got %d %q %s\nwant %s", resp.Status, resp.ContentType, resp.Body, want)
		}
		if strings.Contains(string(resp.Body), "receiver") {
			t.Error("a welcome message must not name a receiver")
		}
	})
	t.Run("other events get no welcome", func(t *testing.T) {
		wch := testChannel()
		wch.Settings[viber.SettingWelcomeText] = "Hello!"
		mreq := signed(wch, readEvent(t, "message_text.json"))
		mevs, _ := p.EventFilter(context.Background(), wch, mreq)
		if resp := p.Ack(wch, mreq, mevs); resp.Status != http.StatusOK || len(resp.Body) != 0 {
			t.Errorf("got %+v, want a bare 200", resp)
		}
	})
}
