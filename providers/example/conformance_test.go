package example_test

import (
	"net/http"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
	"github.com/omnichat/omnichat/providers/providertest"
)

// signed is a webhook request as the platform sends it: body signed with the channel's
// Secret in SignatureHeader.
func signed(ch providers.Channel, body []byte) *providers.Request {
	return &providers.Request{
		Method: http.MethodPost,
		Header: http.Header{
			"Content-Type":          {"application/json"},
			example.SignatureHeader: {example.Sign(ch.Secret, body)},
		},
		Body: body,
	}
}

// forged is the same request signed with a secret that is not the channel's.
func forged(ch providers.Channel, body []byte) *providers.Request {
	r := signed(ch, body)
	r.Header.Set(example.SignatureHeader, example.Sign(ch.Secret+"x", body))
	return r
}

func TestConformance(t *testing.T) {
	fake := exampletest.NewServer()
	defer fake.Close()

	providertest.Run(t, providertest.Config{
		Provider:    example.New(),
		Platform:    fake,
		Settings:    fake.Settings(),
		BadSettings: providers.Settings{example.SettingToken: "not-the-token-42", example.SettingAPIURL: fake.URL()},
		Recipient:   providers.Recipient{UserID: exampletest.UserID},
		Sign:        signed,
		Forge:       forged,
		Kinds: []providers.EventKind{
			providers.EventMessage, providers.EventEdited, providers.EventButton,
			providers.EventDelivered, providers.EventRead, providers.EventFailed,
			providers.EventSubscribed, providers.EventUnsubscribed, providers.EventConversationStarted,
		},
		SetWebhookCall:    "POST /webhook",
		DeleteWebhookCall: "DELETE /webhook",
	})
}
