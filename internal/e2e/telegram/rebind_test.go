package telegram

import (
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

// An admin points a channel at another bot: the new bot gets the webhook and the old one
// stops sending to us (its webhook is deleted with the old token).
func TestNewBotTokenMovesTheWebhook(t *testing.T) {
	e := setup(t)
	other := telegramtest.NewServer()
	other.AllowHTTPWebhook = true
	t.Cleanup(other.Close)

	e.admin.Must(t, "PUT", apptest.Path("/api/v1/channels/%d", e.ch.ID), map[string]any{"settings": other.Settings()}, nil)
	apptest.Eventually(t, 10*time.Second, "setWebhook at the new bot", func() bool { return other.Webhook().URL == e.ch.WebhookURL })
	apptest.Eventually(t, 10*time.Second, "deleteWebhook at the old bot", func() bool { return e.fake.Webhook().URL == "" })

	// Renaming only touches no webhook.
	e.admin.Must(t, "PUT", apptest.Path("/api/v1/channels/%d", e.ch.ID), map[string]any{"name": "Renamed"}, nil)
	if other.Webhook().URL != e.ch.WebhookURL {
		t.Fatalf("a rename changed the webhook: %+v", other.Webhook())
	}
}
