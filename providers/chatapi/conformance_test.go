package chatapi_test

import (
	"net/http"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/chatapi"
	"github.com/omnichat/omnichat/providers/chatapi/chatapitest"
	"github.com/omnichat/omnichat/providers/providertest"
)

// signed is a webhook request as ChatAPI sends it: POSTed to the URL we registered, whose
// last path segment is the channel's Secret (the core passes what follows
// /webhooks/{id} in Request.Path).
func signed(ch providers.Channel, body []byte) *providers.Request {
	return &providers.Request{
		Method: http.MethodPost,
		Path:   "/" + ch.Secret,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   body,
	}
}

// forged is the same request to a URL with a wrong token.
func forged(ch providers.Channel, body []byte) *providers.Request {
	r := signed(ch, body)
	r.Path = "/" + ch.Secret[:len(ch.Secret)-1] + "x"
	return r
}

func TestConformance(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()

	bad := fake.Settings()
	bad[chatapi.SettingToken] = "not-the-token-42"
	providertest.Run(t, providertest.Config{
		Provider:    chatapi.New(),
		Platform:    fake,
		Settings:    fake.Settings(),
		BadSettings: bad,
		Recipient:   providers.Recipient{UserID: chatapitest.UserChatID},
		Sign:        signed,
		Forge:       forged,
		Kinds: []providers.EventKind{
			providers.EventMessage, providers.EventDelivered, providers.EventRead,
		},
		SetWebhookCall:    "webhook",
		DeleteWebhookCall: "webhook",
	})
}
