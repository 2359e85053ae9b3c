package telegram_test

import (
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/providertest"
	"github.com/omnichat/omnichat/providers/telegram"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

// signed is a webhook request as Telegram sends it: the channel's secret in
// X-Telegram-Bot-Api-Secret-Token.
func signed(ch providers.Channel, body []byte) *providers.Request {
	return telegramtest.ProviderRequest(ch.Secret, body)
}

// forged carries a secret that is not the channel's.
func forged(ch providers.Channel, body []byte) *providers.Request {
	return telegramtest.ProviderRequest(ch.Secret[:len(ch.Secret)-1]+"X", body)
}

func TestConformance(t *testing.T) {
	fake := telegramtest.NewServer()
	defer fake.Close()

	providertest.Run(t, providertest.Config{
		Provider: telegram.New(),
		Platform: fake,
		Settings: fake.Settings(),
		// Well-formed, but not the token the fake was built with: Telegram answers 401.
		BadSettings: providers.Settings{telegram.SettingToken: "987654321:AAHwrong-token_0123456789abcdefghij", telegram.SettingAPIURL: fake.URL()},
		Recipient:   providers.Recipient{UserID: "111222333"},
		Sign:        signed,
		Forge:       forged,
		Kinds: []providers.EventKind{
			providers.EventMessage, providers.EventEdited, providers.EventButton,
			providers.EventSubscribed, providers.EventUnsubscribed, providers.EventConversationStarted,
		},
		SetWebhookCall:    "setWebhook",
		DeleteWebhookCall: "deleteWebhook",
	})
}
