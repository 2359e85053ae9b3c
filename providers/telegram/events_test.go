package telegram_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/telegram"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

const testSecret = "channel-secret_0123456789abcdefghijklmnopq"

func testChannel(extra providers.Settings) providers.Channel {
	s := providers.Settings{telegram.SettingToken: telegramtest.DefaultToken, telegram.SettingBotName: telegramtest.BotUsername}
	return providers.Channel{ID: 7, Kind: telegram.Kind, Settings: s.Merge(extra), Secret: testSecret,
		WebhookURL: "https://omnichat.example/webhooks/7"}
}

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var ivan = providers.UserInfo{FirstName: "Иван", LastName: "Петров", Username: "ivan_petrov", Language: "ru"}

func at(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// TestEventFilterTestdata pins every field EventFilter produces for each payload.
func TestEventFilterTestdata(t *testing.T) {
	msg := func(id string, sec int64) providers.Event {
		return providers.Event{Kind: providers.EventMessage, ExternalID: "111222333:" + id, UserID: "111222333",
			ChatID: "111222333", User: ivan, Time: at(sec)}
	}
	with := func(ev providers.Event, f func(*providers.Event)) providers.Event { f(&ev); return ev }

	tests := []struct {
		file     string
		settings providers.Settings
		want     []providers.Event
	}{
		{file: "message_text.json", want: []providers.Event{with(msg("1042", 1717171717), func(e *providers.Event) {
			e.Text = "Здравствуйте! Сколько стоит доставка в Казань?"
		})}},
		{file: "message_reply.json", want: []providers.Event{with(msg("1045", 1717171800), func(e *providers.Event) {
			e.Text, e.ReplyTo = "Да, подходит", "111222333:1044"
		})}},
		{file: "message_photo.json", want: []providers.Event{with(msg("1046", 1717171900), func(e *providers.Event) {
			e.Text = "Вот фото повреждённой коробки"
			e.Attachments = []providers.Attachment{{Kind: providers.AttachImage, Ref: "AgACAgIAAxkBAAIEFmZbLarge_1280", MIME: "image/jpeg", Size: 154211}}
		})}},
		{file: "message_document.json", want: []providers.Event{with(msg("1047", 1717172000), func(e *providers.Event) {
			e.Attachments = []providers.Attachment{{Kind: providers.AttachFile, Ref: "BQACAgIAAxkBAAIEF2ZbDocument42",
				Name: "Счёт №42.pdf", MIME: "application/pdf", Size: 48213}}
		})}},
		{file: "message_video.json", want: []providers.Event{with(msg("1048", 1717172100), func(e *providers.Event) {
			e.Text = "Распаковка"
			e.Attachments = []providers.Attachment{{Kind: providers.AttachVideo, Ref: "BAACAgIAAxkBAAIEGGZbVideo7s",
				Name: "unpacking.mp4", MIME: "video/mp4", Size: 2385120}}
		})}},
		{file: "message_audio.json", want: []providers.Event{with(msg("1049", 1717172200), func(e *providers.Event) {
			e.Attachments = []providers.Attachment{{Kind: providers.AttachAudio, Ref: "CQACAgIAAxkBAAIEGWZbAudio184",
				Name: "Хор сотрудников - Гимн компании", MIME: "audio/mpeg", Size: 2953122}}
		})}},
		{file: "message_voice.json", want: []providers.Event{with(msg("1050", 1717172300), func(e *providers.Event) {
			e.Attachments = []providers.Attachment{{Kind: providers.AttachVoice, Ref: "AwACAgIAAxkBAAIEGmZbVoice4s", MIME: "audio/ogg", Size: 12840}}
		})}},
		{file: "message_sticker.json", want: []providers.Event{with(msg("1051", 1717172400), func(e *providers.Event) {
			e.Attachments = []providers.Attachment{{Kind: providers.AttachSticker, Ref: "CAACAgIAAxkBAAIEG2ZbStickerTgs",
				Name: "sticker.tgs", MIME: "application/x-tgsticker", Size: 31245}}
		})}},
		{file: "message_location.json", want: []providers.Event{with(msg("1052", 1717172500), func(e *providers.Event) {
			e.Attachments = []providers.Attachment{{Kind: providers.AttachLocation, Lat: 55.796127, Lon: 49.106414}}
		})}},
		{file: "message_venue.json", want: []providers.Event{with(msg("1053", 1717172600), func(e *providers.Event) {
			e.Attachments = []providers.Attachment{{Kind: providers.AttachLocation, Lat: 55.751244, Lon: 37.618423, Name: "ГУМ, Красная пл., 3, Москва"}}
		})}},
		{file: "message_contact-own.json", want: []providers.Event{with(msg("1054", 1717172700), func(e *providers.Event) {
			e.User.Phone = "+79161234567"
			e.Attachments = []providers.Attachment{{Kind: providers.AttachContact, Phone: "79161234567", OwnPhone: true, Contact: "Иван Петров"}}
		})}},
		{file: "message_contact-other.json", want: []providers.Event{with(msg("1055", 1717172800), func(e *providers.Event) {
			e.Attachments = []providers.Attachment{{Kind: providers.AttachContact, Phone: "+7 (843) 555-12-34", Contact: "Бухгалтерия"}}
		})}},
		{file: "message_animation.json", want: []providers.Event{with(msg("1056", 1717172900), func(e *providers.Event) {
			e.Attachments = []providers.Attachment{{Kind: providers.AttachFile, Ref: "CgACAgIAAxkBAAIEHGZbGif",
				Name: "ok.gif.mp4", MIME: "video/mp4", Size: 95123}}
		})}},
		{file: "edited_text.json", want: []providers.Event{with(msg("1042", 1717171777), func(e *providers.Event) {
			e.Kind, e.Text = providers.EventEdited, "Здравствуйте! Сколько стоит доставка в Казань и Уфу?"
		})}},
		{file: "button_callback.json", want: []providers.Event{{Kind: providers.EventButton, ExternalID: "cb:4382906327418234871",
			UserID: "111222333", ChatID: "111222333", User: ivan, Payload: "rate:5", ReplyTo: "111222333:1057"}}},
		{file: "button_inaccessible.json", want: []providers.Event{{Kind: providers.EventButton, ExternalID: "cb:4382906327418234872",
			UserID: "111222333", ChatID: "111222333", User: ivan, Payload: "rate:1", ReplyTo: "111222333:12"}}},
		{file: "unsubscribed_blocked.json", want: []providers.Event{{Kind: providers.EventUnsubscribed, ExternalID: "upd:702345017",
			UserID: "111222333", ChatID: "111222333", User: ivan, Time: at(1717173100)}}},
		{file: "subscribed_unblocked.json", want: []providers.Event{{Kind: providers.EventSubscribed, ExternalID: "upd:702345018",
			UserID: "111222333", ChatID: "111222333", User: ivan, Time: at(1717173200)}}},
		{file: "conversation_started_deeplink.json", want: []providers.Event{with(msg("1", 1717170000), func(e *providers.Event) {
			e.Kind, e.Text, e.Payload = providers.EventConversationStarted, "/start promo_spring24", "promo_spring24"
		})}},
		{file: "conversation_started_plain.json", want: []providers.Event{with(msg("2", 1717170005), func(e *providers.Event) {
			e.Kind, e.Text = providers.EventConversationStarted, "/start"
		})}},
		{file: "none_group-text.json"},
		{file: "none_group-text.json", settings: providers.Settings{telegram.SettingAllowGroups: "true"},
			want: []providers.Event{{Kind: providers.EventMessage, ExternalID: "-1001987654321:311", UserID: "111222333",
				ChatID: "-1001987654321", User: ivan, Time: at(1717173300), Text: "Всем привет"}}},
		{file: "none_bot-added-to-group.json", settings: providers.Settings{telegram.SettingAllowGroups: "true"}},
		{file: "none_bot-echo.json"},
		{file: "none_channel-post.json", settings: providers.Settings{telegram.SettingAllowGroups: "true"}},
		{file: "none_dice.json"},
		{file: "none_inline-query.json"},
		{file: "none_reaction.json"},
		{file: "none_unknown-member-status.json"},
	}
	p := telegram.New()
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ch := testChannel(tc.settings)
			got, err := p.EventFilter(context.Background(), ch, telegramtest.ProviderRequest(ch.Secret, readEvent(t, tc.file)))
			if err != nil {
				t.Fatalf("EventFilter: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestEventFilterCoversTestdata makes sure no payload file is left out of the table above.
func TestEventFilterCoversTestdata(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil || len(files) < 20 {
		t.Fatalf("testdata: %d files, %v", len(files), err)
	}
	p := telegram.New()
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ch := testChannel(nil)
		if _, err := p.EventFilter(context.Background(), ch, telegramtest.ProviderRequest(ch.Secret, body)); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}

func TestEventFilterRejectsUnsigned(t *testing.T) {
	body := readEvent(t, "message_text.json")
	p := telegram.New()
	tests := []struct {
		name   string
		secret string // the channel's
		header http.Header
	}{
		{"no header", testSecret, http.Header{}},
		{"nil header", testSecret, nil},
		{"wrong secret", testSecret, http.Header{telegram.SecretTokenHeader: {testSecret + "x"}}},
		{"prefix of the secret", testSecret, http.Header{telegram.SecretTokenHeader: {testSecret[:10]}}},
		{"empty header value", testSecret, http.Header{telegram.SecretTokenHeader: {""}}},
		{"channel without a secret", "", http.Header{telegram.SecretTokenHeader: {""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := testChannel(nil)
			ch.Secret = tc.secret
			evs, err := p.EventFilter(context.Background(), ch, &providers.Request{Method: "POST", Header: tc.header, Body: body})
			if !errors.Is(err, providers.ErrUnauthorized) || evs != nil {
				t.Errorf("got %v, %v; want ErrUnauthorized and no events", evs, err)
			}
		})
	}
	// Verification comes before parsing: a forged malformed body is unauthorized, not malformed.
	ch := testChannel(nil)
	if _, err := p.EventFilter(context.Background(), ch, &providers.Request{Body: []byte("{")}); !errors.Is(err, providers.ErrUnauthorized) {
		t.Errorf("unsigned malformed body: got %v, want ErrUnauthorized", err)
	}
}

func TestEventFilterMalformed(t *testing.T) {
	p := telegram.New()
	ch := testChannel(nil)
	for _, body := range []string{
		``, `{`, `null`, `[]`, `"update"`, `{}`, `{"update_id":"1"}`,
		`{"update_id":1,"message":{"message_id":"x"}}`,
		`{"update_id":1,"message":{"message_id":5,"chat":{"type":"private"},"from":{"id":1},"text":"hi"}}`,
		`{"update_id":1,"callback_query":{"from":{"id":1},"data":"x"}}`,
		`{"update_id":1,"my_chat_member":{"chat":{"id":1,"type":"private"},"new_chat_member":{"status":"kicked"}}}`,
	} {
		_, err := p.EventFilter(context.Background(), ch, telegramtest.ProviderRequest(ch.Secret, []byte(body)))
		if !errors.Is(err, providers.ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", body, err)
		}
	}
}

func TestEventFilterStartForAnotherBot(t *testing.T) {
	p := telegram.New()
	ch := testChannel(nil)
	body := []byte(`{"update_id":9,"message":{"message_id":3,"from":{"id":5,"is_bot":false,"first_name":"A"},
		"chat":{"id":5,"type":"private"},"date":1717170000,"text":"/start@other_bot x",
		"entities":[{"offset":0,"length":16,"type":"bot_command"}]}}`)
	evs, err := p.EventFilter(context.Background(), ch, telegramtest.ProviderRequest(ch.Secret, body))
	if err != nil || len(evs) != 1 || evs[0].Kind != providers.EventMessage {
		t.Fatalf("got %+v, %v; want one plain message", evs, err)
	}
	body = []byte(`{"update_id":9,"message":{"message_id":3,"from":{"id":5,"is_bot":false,"first_name":"A"},
		"chat":{"id":5,"type":"private"},"date":1717170000,"text":"/start@Omnichat_Test_Bot x",
		"entities":[{"offset":0,"length":24,"type":"bot_command"}]}}`)
	evs, err = p.EventFilter(context.Background(), ch, telegramtest.ProviderRequest(ch.Secret, body))
	if err != nil || len(evs) != 1 || evs[0].Kind != providers.EventConversationStarted || evs[0].Payload != "x" {
		t.Fatalf("got %+v, %v; want conversation_started with payload x", evs, err)
	}
}

// TestEventFilterOnFakeUpdates checks that the fake's update builders produce what the
// provider understands, so end-to-end tests built on them are realistic.
func TestEventFilterOnFakeUpdates(t *testing.T) {
	fake := telegramtest.NewServer()
	defer fake.Close()
	p := telegram.New()
	ch := testChannel(nil)
	filter := func(body []byte) providers.Event {
		t.Helper()
		evs, err := p.EventFilter(context.Background(), ch, telegramtest.ProviderRequest(ch.Secret, body))
		if err != nil || len(evs) != 1 {
			t.Fatalf("EventFilter: %+v, %v", evs, err)
		}
		return evs[0]
	}
	if ev := filter(fake.TextUpdate(telegramtest.UserID, "hello")); ev.Kind != providers.EventMessage || ev.Text != "hello" ||
		ev.UserID != "111222333" || ev.User.FirstName != "Ivan" || ev.ExternalID != "111222333:1" {
		t.Errorf("text: %+v", ev)
	}
	if ev := filter(fake.TextUpdate(42, "/start promo")); ev.Kind != providers.EventConversationStarted || ev.Payload != "promo" || ev.UserID != "42" {
		t.Errorf("start: %+v", ev)
	}
	if ev := filter(fake.ContactUpdate(telegramtest.UserID)); ev.User.Phone != "+79161234567" || !ev.Attachments[0].OwnPhone {
		t.Errorf("contact: %+v", ev)
	}
	if ev := filter(fake.PhotoUpdate(telegramtest.UserID, "look", telegramtest.SampleJPEG())); ev.Attachments[0].Kind != providers.AttachImage ||
		ev.Attachments[0].Ref == "" || ev.Text != "look" {
		t.Errorf("photo: %+v", ev)
	}
	if ev := filter(fake.DocumentUpdate(telegramtest.UserID, "a.pdf", "application/pdf", []byte("%PDF"))); ev.Attachments[0].Name != "a.pdf" {
		t.Errorf("document: %+v", ev)
	}
	if ev := filter(fake.EditUpdate(telegramtest.UserID, 1, "hello again")); ev.Kind != providers.EventEdited || ev.ExternalID != "111222333:1" {
		t.Errorf("edit: %+v", ev)
	}
	if ev := filter(fake.ButtonUpdate(telegramtest.UserID, "yes")); ev.Kind != providers.EventButton || ev.Payload != "yes" {
		t.Errorf("button: %+v", ev)
	}
	if ev := filter(fake.BlockUpdate(telegramtest.UserID)); ev.Kind != providers.EventUnsubscribed {
		t.Errorf("block: %+v", ev)
	}
	if ev := filter(fake.UnblockUpdate(telegramtest.UserID)); ev.Kind != providers.EventSubscribed {
		t.Errorf("unblock: %+v", ev)
	}
}

func TestSimulatedUpdate(t *testing.T) {
	p := telegram.New()
	ch := testChannel(nil)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	req := &providers.Request{Method: "POST", Header: telegram.SimulatedHeader(ch.Secret),
		Body: telegram.SimulatedUpdate(500, 42, "Демо", "Привет!", now)}
	evs, err := p.EventFilter(context.Background(), ch, req)
	want := []providers.Event{{Kind: providers.EventMessage, ExternalID: "42:500", UserID: "42", ChatID: "42",
		User: providers.UserInfo{FirstName: "Демо", Language: "en"}, Time: now, Text: "Привет!"}}
	if err != nil || !reflect.DeepEqual(evs, want) {
		t.Fatalf("got %+v, %v\nwant %+v", evs, err, want)
	}

	req.Body = telegram.SimulatedUpdate(501, 42, "Демо", "/start promo", now)
	evs, err = p.EventFilter(context.Background(), ch, req)
	if err != nil || len(evs) != 1 || evs[0].Kind != providers.EventConversationStarted || evs[0].Payload != "promo" {
		t.Fatalf("start: got %+v, %v", evs, err)
	}

	req.Header = telegram.SimulatedHeader("not-the-secret")
	if _, err := p.EventFilter(context.Background(), ch, req); !errors.Is(err, providers.ErrUnauthorized) {
		t.Errorf("wrong secret: got %v, want ErrUnauthorized", err)
	}
}
