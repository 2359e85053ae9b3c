package viber_test

import (
	"net/http"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/providertest"
	"github.com/omnichat/omnichat/providers/viber"
	"github.com/omnichat/omnichat/providers/viber/vibertest"
)

// signed is a callback as Viber delivers it to the channel.
func signed(ch providers.Channel, body []byte) *providers.Request {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(vibertest.SignatureHeader, vibertest.Sign(ch.Settings[viber.SettingToken], body))
	return &providers.Request{Method: http.MethodPost, Header: h, Body: body}
}

// forged is signed with another bot's token.
func forged(ch providers.Channel, body []byte) *providers.Request {
	r := signed(ch, body)
	r.Header.Set(vibertest.SignatureHeader, vibertest.Sign("a-different-bot-token-0000", body))
	return r
}

func TestConformance(t *testing.T) {
	fake := vibertest.NewServer()
	defer fake.Close()
	providertest.Run(t, providertest.Config{
		Provider:    viber.New(),
		Platform:    fake,
		Settings:    providers.Settings{viber.SettingToken: fake.Token, viber.SettingAPIURL: fake.URL()},
		BadSettings: providers.Settings{viber.SettingToken: "0000000000000000-0000000000000000-bad", viber.SettingAPIURL: fake.URL()},
		Recipient:   providers.Recipient{UserID: vibertest.UserID},
		Sign:        signed,
		Forge:       forged,
		Kinds: []providers.EventKind{
			providers.EventMessage, providers.EventButton, providers.EventDelivered, providers.EventRead,
			providers.EventFailed, providers.EventSubscribed, providers.EventUnsubscribed,
			providers.EventConversationStarted,
		},
		SetWebhookCall:    "set_webhook",
		DeleteWebhookCall: "set_webhook",
	})
}
