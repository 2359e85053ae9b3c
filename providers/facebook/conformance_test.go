package facebook_test

import (
	"net/http"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/facebook"
	"github.com/omnichat/omnichat/providers/facebook/facebooktest"
	"github.com/omnichat/omnichat/providers/providertest"
)

// signed is a delivery as Meta sends it, signed with the channel's app secret.
func signed(ch providers.Channel, body []byte) *providers.Request {
	return &providers.Request{
		Method: http.MethodPost,
		Header: http.Header{
			"Content-Type":        []string{"application/json"},
			"X-Hub-Signature-256": []string{facebooktest.Sign(ch.Settings["app_secret"], body)},
		},
		Body: body,
	}
}

func TestConformance(t *testing.T) {
	fake := facebooktest.NewServer()
	defer fake.Close()

	bad := fake.Settings()
	bad["page_token"] = "EAAVwrongPageToken9876543210"

	providertest.Run(t, providertest.Config{
		Provider:    facebook.New(),
		Platform:    fake,
		Settings:    fake.Settings(),
		BadSettings: bad,
		Recipient:   providers.Recipient{UserID: facebooktest.DefaultPSID},
		Sign:        signed,
		Forge: func(ch providers.Channel, body []byte) *providers.Request {
			// Signed with a secret that is not the channel's.
			return &providers.Request{
				Method: http.MethodPost,
				Header: http.Header{"X-Hub-Signature-256": []string{facebooktest.Sign("not-the-app-secret", body)}},
				Body:   body,
			}
		},
		Kinds: []providers.EventKind{
			providers.EventMessage, providers.EventEdited, providers.EventButton,
			providers.EventDelivered, providers.EventRead, providers.EventConversationStarted,
		},
		SetWebhookCall:    facebooktest.CallSubscribePage,
		DeleteWebhookCall: facebooktest.CallUnsubscribePage,
	})
}
