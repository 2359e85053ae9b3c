package widget_test

import (
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/providertest"
	"github.com/omnichat/omnichat/providers/widget"
	"github.com/omnichat/omnichat/providers/widget/widgettest"
)

// visitor is the conformance suite's visitor (a fixed id, so testdata stays stable).
const visitor = "Zm9vYmFyYmF6cXV4MTIzNA"

func TestConformance(t *testing.T) {
	pub := widgettest.NewPublisher()
	p := widget.New()
	p.SetPublisher(pub)
	providertest.Run(t, providertest.Config{
		Provider:    p,
		Platform:    pub,
		Settings:    providers.Settings{widget.SettingAllowedOrigins: "https://shop.example"},
		BadSettings: providers.Settings{widget.SettingAllowedOrigins: "not an origin"},
		Recipient:   providers.Recipient{UserID: visitor},
		Sign: func(ch providers.Channel, body []byte) *providers.Request {
			return widgettest.RawRequest(widget.Token(ch, visitor), body)
		},
		Forge: func(ch providers.Channel, body []byte) *providers.Request {
			other := ch
			other.Secret = "another-channel-secret_0123456789abcdefghij"
			return widgettest.RawRequest(widget.Token(other, visitor), body)
		},
		Kinds:        []providers.EventKind{providers.EventMessage, providers.EventButton},
		NoWebhookAPI: "the widget is served by omnichat itself: visitors post to omnichat directly",
	})
}
