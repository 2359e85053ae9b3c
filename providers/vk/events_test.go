package vk_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/providertest"
	"github.com/omnichat/omnichat/providers/vk"
)

const testGroupID = 229000001

// testChannel is a channel of the testdata's community with the conformance secret.
func testChannel() providers.Channel {
	return providers.Channel{
		ID: 7, Kind: vk.Kind, Secret: providertest.Secret,
		Settings: providers.Settings{
			vk.SettingGroupID: "229000001", vk.SettingGroupToken: "vk1.a.token", vk.SettingConfirmationCode: "5f2b9e1c",
		},
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

func unix(s int64) time.Time { return time.Unix(s, 0).UTC() }

func TestEventFilterTestdata(t *testing.T) {
	tests := []struct {
		file string
		want []providers.Event
	}{
		{"message_text.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "1001:48", UserID: "1001", ChatID: "1001",
			User: providers.UserInfo{Language: "ru"}, Time: unix(1732190400),
			Text: "Здравствуйте! Подскажите, когда доставка?",
		}}},
		{"message_photo.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "1001:49", UserID: "1001", ChatID: "1001",
			User: providers.UserInfo{Language: "ru"}, Time: unix(1732190460), Text: "Вот фото товара",
			Attachments: []providers.Attachment{{Kind: providers.AttachImage, MIME: "image/jpeg", Name: "photo1001_457239017.jpg",
				URL: "https://sun9-12.userapi.com/impg/abc/orig.jpg?size=1200x1600&quality=95&sign=1e&type=album"}},
		}}},
		{"message_doc.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "1001:50", UserID: "1001", ChatID: "1001",
			User: providers.UserInfo{Language: "ru"}, Time: unix(1732190520),
			Attachments: []providers.Attachment{{Kind: providers.AttachFile, Name: "Счёт №17.pdf", MIME: "application/pdf", Size: 184320,
				URL: "https://vk.com/doc1001_672345123?hash=9b3f&dl=GE2TCMBV&api=1&no_preview=1"}},
		}}},
		{"message_voice.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "1001:51", UserID: "1001", ChatID: "1001",
			User: providers.UserInfo{Language: "ru"}, Time: unix(1732190580),
			Attachments: []providers.Attachment{{Kind: providers.AttachVoice, Name: "voice.ogg", MIME: "audio/ogg",
				URL: "https://psv4.userapi.com/s/v1/amsg/ogg/abcdef.ogg"}},
		}}},
		{"message_sticker.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "1001:52", UserID: "1001", ChatID: "1001",
			User: providers.UserInfo{Language: "ru"}, Time: unix(1732190640),
			Attachments: []providers.Attachment{{Kind: providers.AttachSticker, Name: "sticker9046.png", MIME: "image/png",
				URL: "https://vk.com/sticker/1-9046-512"}},
		}}},
		{"message_geo.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "1001:53", UserID: "1001", ChatID: "1001",
			User: providers.UserInfo{Language: "ru"}, Time: unix(1732190700),
			Attachments: []providers.Attachment{{Kind: providers.AttachLocation, Lat: 55.751244, Lon: 37.618423, Name: "Москва, Россия"}},
		}}},
		{"message_chat.json", []providers.Event{{
			// In a conversation message.id is 0: the id is peer and conversation_message_id.
			Kind: providers.EventMessage, ExternalID: "2000000005:147833", UserID: "1001", ChatID: "2000000005",
			User: providers.UserInfo{Language: "ru"}, Time: unix(1732190760),
			Text: "@club229000001 а можно оплатить картой?",
		}}},
		{"message_forwarded.json", []providers.Event{{
			Kind: providers.EventMessage, ExternalID: "1001:54", UserID: "1001", ChatID: "1001",
			User: providers.UserInfo{Language: "ru"}, Time: unix(1732190820),
			Text: "Вот что мне прислали\n\n> Заказ 4471 готов к выдаче\n> Пункт выдачи: ул. Ленина, 5",
			Attachments: []providers.Attachment{{Kind: providers.AttachLink, Name: "Как забрать заказ",
				URL: "https://vk.com/video-180000_456239100"}},
			// A reply to our message 509 (from_id = -group): messages.send's id.
			ReplyTo: "509",
		}}},
		{"edited_text.json", []providers.Event{{
			Kind: providers.EventEdited, ExternalID: "1001:48", UserID: "1001", ChatID: "1001",
			Time: unix(1732190495), Text: "Здравствуйте! Подскажите, когда будет доставка заказа 4471?",
		}}},
		{"button_callback.json", []providers.Event{{
			Kind: providers.EventButton, ExternalID: "c9e90aab7b38", UserID: "1001", ChatID: "1001", Payload: "call_operator",
		}}},
		{"button_unsupported.json", []providers.Event{{
			Kind: providers.EventButton, UserID: "1001", ChatID: "1001", User: providers.UserInfo{Language: "en"},
			Time: unix(1732190880), Payload: "call_operator",
		}}},
		{"conversation_started_start.json", []providers.Event{
			{Kind: providers.EventConversationStarted, ExternalID: "5fc2bcdbadbe6d94c5c6e7bc2d3e4f5a6b7c8d90", UserID: "3003", ChatID: "3003",
				User: providers.UserInfo{Language: "ru"}, Time: unix(1732190940), Payload: "site_footer"},
			{Kind: providers.EventMessage, ExternalID: "3003:1", UserID: "3003", ChatID: "3003",
				User: providers.UserInfo{Language: "ru"}, Time: unix(1732190940), Text: "Начать"},
		}},
		{"subscribed_allow.json", []providers.Event{{
			Kind: providers.EventSubscribed, ExternalID: "6ad3cdecbecf7ea5d6d7f8cd3e4f5a6b7c8d9e01", UserID: "3003", Payload: "landing_widget",
		}}},
		{"unsubscribed_deny.json", []providers.Event{{
			Kind: providers.EventUnsubscribed, ExternalID: "7be4defdcfd08fb6e7e809de4f5a6b7c8d9e0f12", UserID: "1001",
		}}},
		{"read_receipt.json", []providers.Event{{
			Kind: providers.EventRead, ExternalID: "8cf5ef0ed0e190c7f8f91aef5a6b7c8d9e0f1a23", UserID: "1001", ChatID: "1001",
			Refs: []string{"521"},
		}}},
		{"none_echo.json", nil},
		{"none_typing.json", nil},
		{"none_wallpost.json", nil},
		{"none_chatinvite.json", nil},
		{"none_confirmation.json", nil},
	}
	p := vk.New()
	ch := testChannel()
	seen := map[string]bool{}
	for _, tc := range tests {
		seen[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			got, err := p.EventFilter(context.Background(), ch, signedRequest(readEvent(t, tc.file)))
			if err != nil {
				t.Fatalf("EventFilter: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d events, want %d: %+v", len(got), len(tc.want), got)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tc.want[i]) {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no expectations in this table", f)
		}
	}
}

func TestEventFilterRejects(t *testing.T) {
	p := vk.New()
	ch := testChannel()
	good := readEvent(t, "message_text.json")
	key := vk.CallbackSecret(ch.Secret)
	tests := []struct {
		name string
		ch   providers.Channel
		body string
		want error
	}{
		{"no secret", ch, strings.Replace(string(good), `"secret": "`+key+`"`, `"x": ""`, 1), providers.ErrUnauthorized},
		{"wrong secret", ch, strings.Replace(string(good), key, "a"+key[1:], 1), providers.ErrUnauthorized},
		{"secret prefix", ch, strings.Replace(string(good), key, key[:20], 1), providers.ErrUnauthorized},
		{"raw channel secret is not the key", ch, strings.Replace(string(good), key, providertest.Secret, 1), providers.ErrUnauthorized},
		{"another community", ch, strings.Replace(string(good), `"group_id": 229000001`, `"group_id": 1`, 1), providers.ErrUnauthorized},
		{"channel without a secret", func() providers.Channel { c := ch; c.Secret = ""; return c }(),
			`{"type":"message_new","group_id":229000001,"secret":"","object":{}}`, providers.ErrUnauthorized},
		{"channel secret without letters", func() providers.Channel { c := ch; c.Secret = "-_-_-_-_-_-_-_-_-_-_-_-_"; return c }(),
			`{"type":"message_new","group_id":229000001,"secret":"","object":{}}`, providers.ErrUnauthorized},
		{"not JSON", ch, `type=message_new`, providers.ErrMalformed},
		{"empty", ch, ``, providers.ErrMalformed},
		{"message without peer", ch, `{"type":"message_new","group_id":229000001,"secret":"` + key + `","object":{"message":{"from_id":5,"conversation_message_id":1,"text":"x"}}}`, providers.ErrMalformed},
		{"object missing", ch, `{"type":"message_event","group_id":229000001,"secret":"` + key + `"}`, providers.ErrMalformed},
		{"wrong types", ch, `{"type":"message_new","group_id":229000001,"secret":"` + key + `","object":{"message":{"from_id":"five"}}}`, providers.ErrMalformed},
		{"attachment without type", ch, `{"type":"message_new","group_id":229000001,"secret":"` + key + `","object":{"message":{"from_id":5,"peer_id":5,"conversation_message_id":1,"attachments":[{"photo":{}}]}}}`, providers.ErrMalformed},
		{"geo out of range", ch, `{"type":"message_new","group_id":229000001,"secret":"` + key + `","object":{"message":{"from_id":5,"peer_id":5,"conversation_message_id":1,"geo":{"coordinates":{"latitude":95,"longitude":0}}}}}`, providers.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := p.EventFilter(context.Background(), tc.ch, signedRequest([]byte(tc.body)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v (events %+v), want %v", err, evs, tc.want)
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error %q carries the secret", err)
			}
		})
	}
}

func TestEventFilterOldAPIShapes(t *testing.T) {
	// A callback server left on an old API version: message_new's object is the message
	// itself and geo coordinates are a string.
	p := vk.New()
	ch := testChannel()
	body := `{"type":"message_new","group_id":229000001,"event_id":"e1","secret":"` + vk.CallbackSecret(ch.Secret) + `",` +
		`"object":{"id":7,"date":1600000000,"peer_id":42,"from_id":42,"text":"","conversation_message_id":3,` +
		`"geo":{"type":"point","coordinates":"59.93 30.31"}}}`
	evs, err := p.EventFilter(context.Background(), ch, signedRequest([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].ExternalID != "42:3" || len(evs[0].Attachments) != 1 ||
		evs[0].Attachments[0].Lat != 59.93 || evs[0].Attachments[0].Lon != 30.31 || !evs[0].Time.Equal(unix(1600000000)) {
		t.Fatalf("got %+v", evs)
	}
}

func TestCallbackServerConfirmation(t *testing.T) {
	p := vk.New()
	ch := testChannel()
	ctx := context.Background()

	secret := vk.CallbackSecret(ch.Secret)
	resp, handled, err := p.CallbackServerConfirmation(ctx, ch, signedRequest(vk.NewConfirmationUpdate(testGroupID, secret)))
	if err != nil || !handled {
		t.Fatalf("confirmation: handled=%v err=%v", handled, err)
	}
	if resp.Status != 200 || string(resp.Body) != "5f2b9e1c" || !strings.HasPrefix(resp.ContentType, "text/plain") {
		t.Errorf("confirmation answer %d %q %q, want 200 text/plain 5f2b9e1c", resp.Status, resp.ContentType, resp.Body)
	}

	// The confirmation code is the key to the callback server: it is answered only to a
	// request carrying the channel's secret, as VK sends it.
	withSecret := readEvent(t, "none_confirmation.json")
	if _, handled, err := p.CallbackServerConfirmation(ctx, ch, signedRequest(withSecret)); err != nil || !handled {
		t.Errorf("confirmation with the right secret: handled=%v err=%v", handled, err)
	}
	if resp, handled, err := p.CallbackServerConfirmation(ctx, ch, forge(t, ch, withSecret)); !handled || !errors.Is(err, providers.ErrUnauthorized) || resp != nil {
		t.Errorf("confirmation with a wrong secret: handled=%v err=%v, want ErrUnauthorized", handled, err)
	}
	for _, body := range [][]byte{vk.NewConfirmationUpdate(testGroupID, ""), []byte(`{"type":"confirmation","group_id":229000001,"secret":""}`),
		[]byte(`{"type":"confirmation","group_id":229000001,"secret":null}`)} {
		if resp, handled, err := p.CallbackServerConfirmation(ctx, ch, signedRequest(body)); !handled || !errors.Is(err, providers.ErrUnauthorized) || resp != nil {
			t.Errorf("confirmation without the secret %s: handled=%v err=%v resp=%v, want ErrUnauthorized and no code", body, handled, err, resp)
		}
	}
	// Another community's confirmation is refused.
	if _, handled, err := p.CallbackServerConfirmation(ctx, ch, signedRequest(vk.NewConfirmationUpdate(1, secret))); !handled || !errors.Is(err, providers.ErrUnauthorized) {
		t.Errorf("foreign confirmation: handled=%v err=%v", handled, err)
	}
	// No code stored yet: an error, not an empty answer VK would reject anyway.
	noCode := ch
	noCode.Settings = ch.Settings.Clone()
	delete(noCode.Settings, vk.SettingConfirmationCode)
	if _, handled, err := p.CallbackServerConfirmation(ctx, noCode, signedRequest(vk.NewConfirmationUpdate(testGroupID, secret))); !handled || err == nil {
		t.Errorf("confirmation without a code: handled=%v err=%v", handled, err)
	}
	// Ordinary events and garbage are not handshakes.
	for _, body := range [][]byte{readEvent(t, "message_text.json"), []byte("not json"), nil} {
		if resp, handled, err := p.CallbackServerConfirmation(ctx, ch, signedRequest(body)); handled || err != nil || resp != nil {
			t.Errorf("%.30q: handled=%v err=%v resp=%v, want not handled", body, handled, err, resp)
		}
	}
}

func TestAck(t *testing.T) {
	r := vk.New().Ack(testChannel(), signedRequest(nil), nil)
	if r.Status != 200 || string(r.Body) != "ok" {
		t.Fatalf("Ack = %d %q, want 200 \"ok\"", r.Status, r.Body)
	}
}

func TestBuildersRoundTrip(t *testing.T) {
	p := vk.New()
	ch := testChannel()
	now := time.Unix(1732200000, 0).UTC()
	evs, err := p.EventFilter(context.Background(), ch, signedRequest(vk.NewMessageUpdate(testGroupID, ch.Secret, "ev-1", 1001, 60, "hello", now)))
	if err != nil || len(evs) != 1 || evs[0].ExternalID != "1001:60" || evs[0].Text != "hello" || !evs[0].Time.Equal(now) {
		t.Fatalf("NewMessageUpdate: %+v, %v", evs, err)
	}
	evs, err = p.EventFilter(context.Background(), ch, signedRequest(vk.NewButtonUpdate(testGroupID, ch.Secret, "ev-2", 1001, 61, "press-1", "yes")))
	if err != nil || len(evs) != 1 || evs[0].Kind != providers.EventButton || evs[0].ExternalID != "press-1" || evs[0].Payload != "yes" {
		t.Fatalf("NewButtonUpdate: %+v, %v", evs, err)
	}
	other := ch
	other.Secret = "another-channel-secret_0123456789abcdefghijkl"
	if _, err := p.EventFilter(context.Background(), other, signedRequest(vk.NewMessageUpdate(testGroupID, ch.Secret, "ev-1", 1001, 60, "hello", now))); !errors.Is(err, providers.ErrUnauthorized) {
		t.Fatalf("an update signed for another channel: %v, want ErrUnauthorized", err)
	}
}
