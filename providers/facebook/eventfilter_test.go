package facebook_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/facebook"
	"github.com/omnichat/omnichat/providers/facebook/facebooktest"
)

const (
	page  = facebooktest.DefaultPageID
	psid  = "6543210987654321"
	psid2 = "7012345678901234"
)

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

// testChannel is a channel configured like the fake's defaults (no network needed).
func testChannel() providers.Channel {
	return providers.Channel{
		ID: 7, Kind: facebook.Kind, Name: "fb",
		Settings: providers.Settings{
			"page_id": page, "app_id": facebooktest.DefaultAppID, "app_secret": facebooktest.DefaultAppSecret,
			"page_token": facebooktest.DefaultToken,
		},
		Secret:     "verify-secret_0123456789abcdefghijklmnopqrstu",
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

func TestEventFilterTestdata(t *testing.T) {
	const cdnImage = "https://scontent.xx.fbcdn.net/v/t1.15752-9/448519286_1012948727063539_6143012558204939585_n.jpg?_nc_cat=109&ccb=1-7&_nc_sid=fc17b8&_nc_ohc=6bNqQ8Z2h3kQ7kNvgGUK3Qy&_nc_ad=z-m&_nc_cid=0&_nc_ht=scontent.xx&oh=03_Q7cD1QFmY0j0uTQx&oe=668E6B2A"
	const sticker = "https://scontent.xx.fbcdn.net/v/t39.1997-6/39178562_1505197616293642_5411344281094848512_n.png?stp=cp0_dst-png&_nc_cat=1&ccb=1-7&_nc_sid=23dd7b&_nc_ht=scontent.xx&oh=00_AYA&oe=66907A10"
	const textMID = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"
	const echoMID = "m_echo-Zz9Ll8Kk7Jj6Hh5Gg4Ff3Dd2Ss1Aa0Pp9Oo8Ii7Uu6Yy5Tt4Rr3Ee2Ww1Qq0"

	want := map[string][]providers.Event{
		"message_text.json": {{
			Kind: providers.EventMessage, ExternalID: textMID, UserID: psid, Time: ms(1718022841521),
			Text: "Здравствуйте! Сколько стоит доставка в Казань?",
		}},
		"message_reply.json": {{
			Kind: providers.EventMessage, ExternalID: "m_Kq1lT0b3mMUm3yxDgZb9G7u6Zk2l3l2bV8oXo1Rjv1s4Z3uCwQp0Jm8N7rQ3Vb1cWf7yXk2L9hTn0pQa4s5d6f",
			UserID: psid, Time: ms(1718022901234), Text: "Да, этот вариант подходит",
			ReplyTo: "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU",
		}},
		"message_attachments.json": {
			{Kind: providers.EventMessage, ExternalID: "m_photos-aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5zA7bC9dE1fG3hI5jK7lM9nO",
				UserID: psid, Time: ms(1718023000111), Attachments: []providers.Attachment{
					{Kind: providers.AttachImage, URL: cdnImage},
					{Kind: providers.AttachImage, URL: strings.Replace(cdnImage, "448519286", "448519290", 1)},
				}},
			{Kind: providers.EventMessage, ExternalID: "m_file-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7Zx6Yw5Vu4Ts3Rq2Po1Nm0Lk",
				UserID: psid, Time: ms(1718023005222), Attachments: []providers.Attachment{{
					Kind: providers.AttachFile, Name: "Счет-42.pdf",
					URL: "https://cdn.fbsbx.com/v/t59.2708-21/447998521_1172183380701410_3365104935744102217_n.pdf/%D0%A1%D1%87%D0%B5%D1%82-42.pdf?_nc_cat=100&ccb=1-7&_nc_sid=2b0e22&_nc_ohc=Bt3qkPz&_nc_ht=cdn.fbsbx.com&oh=03_Q7cD1QG&oe=668E7D11",
				}}},
			{Kind: providers.EventMessage, ExternalID: "m_voice-Qa1Ws2Ed3Rf4Tg5Yh6Uj7Ik8Ol9Pa0Sd1Fg2Hj3Kl4Zx5Cv6Bn7Mq8We9Rt",
				UserID: psid, Time: ms(1718023010333), Attachments: []providers.Attachment{{
					Kind: providers.AttachAudio,
					URL:  "https://cdn.fbsbx.com/v/t59.3654-21/448109473_471262342118640_2870236745286913305_n.mp4/audioclip-1718023009000-2601.mp4?_nc_cat=104&ccb=1-7&_nc_sid=d61c36&_nc_ht=cdn.fbsbx.com&oh=03_Q7cD1QF&oe=668E8C40",
				}}},
			{Kind: providers.EventMessage, ExternalID: "m_video-Lp0Ok9Ij8Uh7Yg6Tf5Rd4Es3Wa2Qz1Xs0Cd9Vf8Bg7Nh6Mj5Ki4Lo3Pm2Qn1Rb",
				UserID: psid, Time: ms(1718023015444), Attachments: []providers.Attachment{{
					Kind: providers.AttachVideo,
					URL:  "https://video.xx.fbcdn.net/v/t42.3356-2/448213377_1591020241694532_1318853417512397330_n.mp4/video-1718023014.mp4?_nc_cat=102&ccb=1-7&_nc_sid=060d78&_nc_ht=video.xx&oh=03_Q7cD1QE&oe=668E9E21",
				}}},
		},
		// The sticker comes both as "image" with sticker_id and as "sticker": one attachment.
		"message_sticker.json": {{
			Kind: providers.EventMessage, ExternalID: "m_sticker-Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2Yz3Ab4Cd5Ef6Gh7Ij8Kl9Mn0Op",
			UserID: psid, Time: ms(1718023100555),
			Attachments: []providers.Attachment{{Kind: providers.AttachSticker, URL: sticker}},
		}},
		"message_location.json": {{
			Kind: providers.EventMessage, ExternalID: "m_location-Ty6Ui7Op8As9Df0Gh1Jk2Lz3Xc4Vb5Nm6Qw7Er8Ty9Ui0Op1As2Df3Gh4Jk",
			UserID: psid, Time: ms(1718023200666),
			Attachments: []providers.Attachment{{Kind: providers.AttachLocation, Lat: 55.7558, Lon: 37.6173, Name: "Ivan's Location"}},
		}},
		"message_link.json": {{
			Kind: providers.EventMessage, ExternalID: "m_link-Mn0Bv9Cx8Za7Sd6Fg5Hj4Kl3Qw2Er1Ty0Ui9Op8As7Df6Gh5Jk4Lz3Xc2Vb1Nm",
			UserID: psid, Time: ms(1718023300777), Text: "Вот этот товар: https://shop.example/item/42",
			Attachments: []providers.Attachment{{Kind: providers.AttachLink,
				URL:  "https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example%2Fitem%2F42&h=AT1",
				Name: "Кофемашина Lumo 42 — Shop Example"}},
		}},
		// Two entries, five items: the echo is dropped, the rest keep their order.
		"message_batch.json": {
			{Kind: providers.EventMessage, ExternalID: "m_batch1-Qq1Ww2Ee3Rr4Tt5Yy6Uu7Ii8Oo9Pp0Aa1Ss2Dd3Ff4Gg5Hh6Jj7Kk8Ll9Zz",
				UserID: psid, Time: ms(1718023400100), Text: "Первое сообщение"},
			{Kind: providers.EventDelivered, UserID: psid, Time: ms(1718023400500),
				Refs: []string{echoMID}, Watermark: ms(1718023400200)},
			{Kind: providers.EventRead, UserID: psid, Time: ms(1718023410300), Watermark: ms(1718023400200)},
			{Kind: providers.EventMessage, ExternalID: "m_batch2-Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0Kk1Ll2Mm3Nn4Oo5Pp6Qq7Rr8Ss9Tt",
				UserID: psid2, Time: ms(1718023410400), Text: "Hello from another visitor"},
		},
		"button_postback.json": {{
			Kind: providers.EventButton, ExternalID: "m_postback-Hh1Gg2Ff3Ee4Dd5Cc6Bb7Aa8Zz9Yy0Xx1Ww2Vv3Uu4Tt5Ss6Rr7Qq8Pp9Oo0Nn",
			UserID: psid, Time: ms(1718023500888), Text: "Да", Payload: "order:42:confirm",
		}},
		"button_getstarted.json": {{
			Kind: providers.EventButton, ExternalID: "m_getstarted-Oo1Ii2Uu3Yy4Tt5Rr6Ee7Ww8Qq9Aa0Ss1Dd2Ff3Gg4Hh5Jj6Kk7Ll8Zz9Xx0Cc",
			UserID: psid, Time: ms(1718023600999), Text: "Get Started", Payload: "GET_STARTED",
		}},
		"button_quickreply.json": {{
			Kind: providers.EventButton, ExternalID: "m_quickreply-Pp0Oo9Ii8Uu7Yy6Tt5Rr4Ee3Ww2Qq1Aa0Ss9Dd8Ff7Gg6Hh5Jj4Kk3Ll2Zz1Xx",
			UserID: psid, Time: ms(1718023700111), Text: "Курьером", Payload: "delivery:courier",
		}},
		"edited_text.json": {{
			Kind: providers.EventEdited, ExternalID: textMID, UserID: psid, Time: ms(1718023800222),
			Text: "Здравствуйте! Сколько стоит доставка в Казань и Самару?",
		}},
		"delivered_mids.json": {{
			Kind: providers.EventDelivered, UserID: psid, Time: ms(1718023900500), Watermark: ms(1718023900333),
			Refs: []string{
				"m_out1-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90Uv12Wx34Yz56Ab78Cd90Ef12",
				"m_out2-Gh34Ij56Kl78Mn90Op12Qr34St56Uv78Wx90Yz12Ab34Cd56Ef78Gh90Ij12Kl34",
			},
		}},
		"delivered_watermark.json": {{
			Kind: providers.EventDelivered, UserID: psid, Time: ms(1718023950600), Watermark: ms(1718023950444),
		}},
		"read_watermark.json": {{
			Kind: providers.EventRead, UserID: psid, Time: ms(1718024000555), Watermark: ms(1718023950444),
		}},
		"conversation_started_shortlink.json": {{
			Kind: providers.EventConversationStarted, UserID: psid, Time: ms(1718024100666), Payload: "site-footer",
		}},
		"none_echo.json":      nil,
		"none_reaction.json":  nil,
		"none_standby.json":   nil,
		"none_instagram.json": nil,
		"none_otherpage.json": nil,
		"none_optin.json":     nil,
	}

	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := want[filepath.Base(f)]; !ok {
			t.Errorf("testdata %s has no expected events in this table", filepath.Base(f))
		}
	}

	p := facebook.New()
	ch := testChannel()
	for name, exp := range want {
		t.Run(name, func(t *testing.T) {
			body := readEvent(t, name)
			got, err := p.EventFilter(context.Background(), ch, signed(ch, body))
			if err != nil {
				t.Fatalf("EventFilter: %v", err)
			}
			if len(got) != len(exp) {
				t.Fatalf("got %d events, want %d:\n got %+v\nwant %+v", len(got), len(exp), got, exp)
			}
			for i := range exp {
				if !reflect.DeepEqual(got[i], exp[i]) {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], exp[i])
				}
			}
		})
	}
}

func TestEventFilterSignature(t *testing.T) {
	p := facebook.New()
	ch := testChannel()
	body := readEvent(t, "message_text.json")
	good := facebooktest.Sign(facebooktest.DefaultAppSecret, body)

	cases := []struct {
		name   string
		header http.Header
		body   []byte
		ch     func(providers.Channel) providers.Channel
	}{
		{name: "no signature", header: http.Header{}},
		{name: "legacy sha1 only", header: http.Header{"X-Hub-Signature": []string{"sha1=" + strings.Repeat("ab", 20)}}},
		{name: "wrong secret", header: http.Header{"X-Hub-Signature-256": []string{facebooktest.Sign("another-secret", body)}}},
		{name: "no sha256= prefix", header: http.Header{"X-Hub-Signature-256": []string{strings.TrimPrefix(good, "sha256=")}}},
		{name: "not hex", header: http.Header{"X-Hub-Signature-256": []string{"sha256=zz" + good[9:]}}},
		{name: "truncated signature", header: http.Header{"X-Hub-Signature-256": []string{good[:len(good)-2]}}},
		{name: "body changed after signing", header: http.Header{"X-Hub-Signature-256": []string{good}},
			body: []byte(strings.Replace(string(body), "Kazan", "Moscow", 1) + " ")},
		// Meta signs the raw bytes, escapes included: a re-serialized body is another body.
		{name: "re-encoded body", header: http.Header{"X-Hub-Signature-256": []string{good}},
			body: []byte(strings.ReplaceAll(string(body), `\/`, `/`) + "\n")},
		{name: "channel without app secret", header: http.Header{"X-Hub-Signature-256": []string{facebooktest.Sign("", body)}},
			ch: func(c providers.Channel) providers.Channel {
				c.Settings = c.Settings.Clone()
				delete(c.Settings, "app_secret")
				return c
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ch
			if tc.ch != nil {
				c = tc.ch(ch)
			}
			b := body
			if tc.body != nil {
				b = tc.body
			}
			evs, err := p.EventFilter(context.Background(), c, &providers.Request{Method: http.MethodPost, Header: tc.header, Body: b})
			if !errors.Is(err, providers.ErrUnauthorized) {
				t.Fatalf("want ErrUnauthorized, got %v (events %v)", err, evs)
			}
			if len(evs) != 0 {
				t.Errorf("a rejected request gave events: %v", evs)
			}
		})
	}

	t.Run("good signature, lowercase header name", func(t *testing.T) {
		h := http.Header{}
		h["x-hub-signature-256"] = []string{good} // as a raw map entry: not canonical
		h.Set("X-Hub-Signature-256", good)
		evs, err := p.EventFilter(context.Background(), ch, &providers.Request{Method: http.MethodPost, Header: h, Body: body})
		if err != nil || len(evs) != 1 {
			t.Fatalf("got %v, %v", evs, err)
		}
	})
}

func TestEventFilterMalformed(t *testing.T) {
	p := facebook.New()
	ch := testChannel()
	for name, body := range map[string]string{
		"not json":            `object=page`,
		"truncated":           `{"object":"page","entry":[{"id":"1`,
		"entry not an array":  `{"object":"page","entry":{"id":"104620298745123"}}`,
		"timestamp is a word": `{"object":"page","entry":[{"id":"104620298745123","messaging":[{"sender":{"id":"1"},"timestamp":"soon","message":{"mid":"m_1","text":"x"}}]}]}`,
		"id is an object":     `{"object":"page","entry":[{"id":{"x":1}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := p.EventFilter(context.Background(), ch, signed(ch, []byte(body)))
			if !errors.Is(err, providers.ErrMalformed) {
				t.Fatalf("want ErrMalformed, got %v", err)
			}
		})
	}
}

func TestEventFilterTolerantShapes(t *testing.T) {
	p := facebook.New()
	ch := testChannel()
	cases := []struct {
		name string
		body string
		want []providers.Event
	}{
		{
			// The app dashboard's test notifications send ids and times as strings, times
			// sometimes in seconds.
			name: "string times in seconds",
			body: `{"object":"page","entry":[{"id":104620298745123,"time":"1718022841","messaging":[{"sender":{"id":"6543210987654321"},"recipient":{"id":"104620298745123"},"timestamp":"1718022841","postback":{"title":"Yes","payload":"yes"}}]}]}`,
			want: []providers.Event{{Kind: providers.EventButton, ExternalID: "postback:6543210987654321:1718022841",
				UserID: psid, Time: time.Unix(1718022841, 0).UTC(), Text: "Yes", Payload: "yes"}},
		},
		{
			// An attachment whose payload has a shape of its own (a template) does not
			// make the delivery malformed.
			name: "template attachment",
			body: `{"object":"page","entry":[{"id":"104620298745123","time":1718022841877,"messaging":[{"sender":{"id":"6543210987654321"},"recipient":{"id":"104620298745123"},"timestamp":1718022841521,"message":{"mid":"m_t","attachments":[{"type":"template","payload":{"url":["odd"],"generic":{"elements":[]}}}]}}]}]}`,
			want: []providers.Event{{Kind: providers.EventMessage, ExternalID: "m_t", UserID: psid, Time: ms(1718022841521),
				Attachments: []providers.Attachment{{Kind: providers.AttachLink, Name: "unsupported attachment (template)"}}}},
		},
		{
			name: "chat plugin guest without a psid",
			body: `{"object":"page","entry":[{"id":"104620298745123","time":1718022841877,"messaging":[{"sender":{"user_ref":"guest-1"},"recipient":{"id":"104620298745123"},"timestamp":1718022841521,"message":{"mid":"m_g","text":"hi"}}]}]}`,
		},
		{
			name: "message without text or attachments",
			body: `{"object":"page","entry":[{"id":"104620298745123","time":1718022841877,"messaging":[{"sender":{"id":"6543210987654321"},"recipient":{"id":"104620298745123"},"timestamp":1718022841521,"message":{"mid":"m_u","is_unsupported":true}}]}]}`,
		},
		{name: "empty object", body: `{}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.EventFilter(context.Background(), ch, signed(ch, []byte(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCallbackServerConfirmation(t *testing.T) {
	p := facebook.New()
	ch := testChannel()
	get := func(q url.Values) *providers.Request {
		return &providers.Request{Method: http.MethodGet, Query: q, Header: http.Header{}}
	}
	ctx := context.Background()

	t.Run("right token echoes the challenge", func(t *testing.T) {
		resp, handled, err := p.CallbackServerConfirmation(ctx, ch, get(url.Values{
			"hub.mode": {"subscribe"}, "hub.verify_token": {ch.Secret}, "hub.challenge": {"1158201444"}}))
		if err != nil || !handled {
			t.Fatalf("handled=%v err=%v", handled, err)
		}
		if resp.Status != http.StatusOK || string(resp.Body) != "1158201444" || !strings.HasPrefix(resp.ContentType, "text/plain") {
			t.Errorf("got %d %q %q", resp.Status, resp.ContentType, resp.Body)
		}
	})
	t.Run("stored verify token wins over the secret", func(t *testing.T) {
		c := ch
		c.Settings = ch.Settings.Merge(providers.Settings{"verify_token": "stored-token-123"})
		resp, handled, err := p.CallbackServerConfirmation(ctx, c, get(url.Values{
			"hub.mode": {"subscribe"}, "hub.verify_token": {"stored-token-123"}, "hub.challenge": {"42"}}))
		if err != nil || !handled || string(resp.Body) != "42" {
			t.Fatalf("handled=%v err=%v resp=%+v", handled, err, resp)
		}
		if _, _, err := p.CallbackServerConfirmation(ctx, c, get(url.Values{
			"hub.mode": {"subscribe"}, "hub.verify_token": {ch.Secret}, "hub.challenge": {"42"}})); !errors.Is(err, providers.ErrUnauthorized) {
			t.Errorf("the secret must not work once another token is stored: %v", err)
		}
	})
	for name, q := range map[string]url.Values{
		"wrong token":    {"hub.mode": {"subscribe"}, "hub.verify_token": {"guess"}, "hub.challenge": {"1"}},
		"empty token":    {"hub.mode": {"subscribe"}, "hub.verify_token": {""}, "hub.challenge": {"1"}},
		"other hub.mode": {"hub.mode": {"unsubscribe"}, "hub.verify_token": {ch.Secret}, "hub.challenge": {"1"}},
	} {
		t.Run(name, func(t *testing.T) {
			resp, handled, err := p.CallbackServerConfirmation(ctx, ch, get(q))
			if !handled || !errors.Is(err, providers.ErrUnauthorized) {
				t.Fatalf("handled=%v err=%v", handled, err)
			}
			if resp == nil || resp.Status != http.StatusForbidden || strings.Contains(string(resp.Body), "1") {
				t.Errorf("want a 403 that does not echo the challenge, got %+v", resp)
			}
		})
	}
	t.Run("channel without a secret refuses every token", func(t *testing.T) {
		c := ch
		c.Secret = ""
		if _, handled, err := p.CallbackServerConfirmation(ctx, c, get(url.Values{
			"hub.mode": {"subscribe"}, "hub.verify_token": {""}, "hub.challenge": {"1"}})); !handled || !errors.Is(err, providers.ErrUnauthorized) {
			t.Fatalf("handled=%v err=%v", handled, err)
		}
	})
	t.Run("POST and plain GET are not handshakes", func(t *testing.T) {
		for _, r := range []*providers.Request{
			{Method: http.MethodPost, Query: url.Values{"hub.mode": {"subscribe"}}, Body: []byte("{}")},
			get(url.Values{}),
		} {
			if resp, handled, err := p.CallbackServerConfirmation(ctx, ch, r); handled || resp != nil || err != nil {
				t.Errorf("%s: handled=%v resp=%v err=%v", r.Method, handled, resp, err)
			}
		}
	})
}
