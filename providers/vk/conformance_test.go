package vk_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/providertest"
	"github.com/omnichat/omnichat/providers/vk"
	"github.com/omnichat/omnichat/providers/vk/vktest"
)

// signedRequest is how VK posts an event: the credential is the "secret" inside the body,
// which the testdata files carry literally (vk.CallbackSecret(providertest.Secret)).
func signedRequest(body []byte) *providers.Request {
	return &providers.Request{
		Method: http.MethodPost,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   body,
	}
}

// forge replaces the body's secret with another of the same length.
func forge(t *testing.T, ch providers.Channel, body []byte) *providers.Request {
	secret := []byte(vk.CallbackSecret(ch.Secret))
	if !bytes.Contains(body, secret) {
		t.Fatalf("testdata body does not carry the channel's secret %q", secret)
	}
	return signedRequest(bytes.ReplaceAll(body, secret, bytes.Repeat([]byte("x"), len(secret))))
}

func TestConformance(t *testing.T) {
	fake := vktest.NewServer()
	defer fake.Close()
	bad := fake.Settings()
	bad[vk.SettingGroupToken] = "vk1.a.revoked-community-token-000000"

	providertest.Run(t, providertest.Config{
		Provider:    vk.New(),
		Platform:    fake,
		Settings:    fake.Settings(),
		BadSettings: bad,
		Recipient:   providers.Recipient{UserID: "1001"},
		Sign:        func(ch providers.Channel, body []byte) *providers.Request { return signedRequest(body) },
		Forge:       func(ch providers.Channel, body []byte) *providers.Request { return forge(t, ch, body) },
		Kinds: []providers.EventKind{
			providers.EventMessage, providers.EventEdited, providers.EventButton, providers.EventRead,
			providers.EventSubscribed, providers.EventUnsubscribed, providers.EventConversationStarted,
		},
		SetWebhookCall:    "groups.addCallbackServer",
		DeleteWebhookCall: "groups.deleteCallbackServer",
	})
}
