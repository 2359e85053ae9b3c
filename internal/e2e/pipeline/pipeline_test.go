package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

type channelView struct {
	ID         int64             `json:"id"`
	WebhookURL string            `json:"webhook_url"`
	Settings   map[string]string `json:"settings"`
}

// exampleChannel creates an example channel against a fresh fake platform.
func exampleChannel(t *testing.T, inst *apptest.Instance, admin *apptest.Client) (*exampletest.Server, channelView) {
	t.Helper()
	fake := exampletest.NewServer()
	t.Cleanup(fake.Close)
	var ch channelView
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Example", "settings": fake.Settings()}, &ch)
	apptest.Eventually(t, 10*time.Second, "the webhook registration", func() bool { return fake.Webhook().URL != "" })
	if want := fmt.Sprintf("%s/webhooks/%d", inst.URL, ch.ID); fake.Webhook().URL != want {
		t.Fatalf("webhook registered at %q, want %q", fake.Webhook().URL, want)
	}
	return fake, ch
}

func TestInboundMessageIsStoredOncePushedAndAnswered(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)

	update := example.NewMessageUpdate(1001, 501, "u-42", "", "Anna", "Petrova", "Hello, I need help", time.Now())
	code, body, err := fake.Deliver(context.Background(), update)
	if err != nil || code != 200 {
		t.Fatalf("deliver: %d %s %v", code, body, err)
	}
	// A visitor's first message opens a dialog: one dialog.created carrying the message.
	ev := stream.Next(t, "dialog.created", 10*time.Second)
	var pushed struct {
		DialogID  int64 `json:"d"`
		MessageID int64 `json:"m"`
	}
	if err := json.Unmarshal(ev.Data, &pushed); err != nil || pushed.DialogID == 0 {
		t.Fatalf("message.created data %s: %v", ev.Data, err)
	}

	// The platform retries the same update: stored once.
	if code, body, _ := fake.Deliver(context.Background(), update); code != 200 {
		t.Fatalf("redeliver: %d %s", code, body)
	}
	var list struct {
		Dialogs []store.Dialog `json:"dialogs"`
	}
	admin.Must(t, "GET", "/api/v1/dialogs?status=open", nil, &list)
	if len(list.Dialogs) != 1 || list.Dialogs[0].Visitor.FirstName != "Anna" || list.Dialogs[0].Visitor.ExternalID != "u-42" {
		t.Fatalf("dialogs: %+v", list.Dialogs)
	}
	d := list.Dialogs[0]
	var msgs struct {
		Messages []store.Message `json:"messages"`
	}
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages", d.ID), nil, &msgs)
	inbound := 0
	for _, m := range msgs.Messages {
		if m.Direction == "in" {
			inbound++
			if m.Text != "Hello, I need help" {
				t.Errorf("stored text %q", m.Text)
			}
		}
	}
	if inbound != 1 {
		t.Fatalf("inbound messages stored: %d, want 1: %+v", inbound, msgs.Messages)
	}

	// The operator answers: sent to the platform exactly once, even when the request is
	// repeated with the same Idempotency-Key.
	fake.Reset()
	for range 2 {
		code, raw := admin.CallWithHeader(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages", d.ID),
			map[string]string{"text": "Good afternoon! How can I help?"}, map[string]string{"Idempotency-Key": "k-1"}, nil)
		if code != 201 && code != 200 {
			t.Fatalf("send: %d %s", code, raw)
		}
	}
	apptest.Eventually(t, 10*time.Second, "the reply at the platform", func() bool { return len(fake.Sent()) >= 1 })
	ev = stream.Next(t, "message.updated", 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if n := len(fake.Sent()); n != 1 {
		t.Fatalf("platform got %d sends, want 1", n)
	}
	if s := fake.Sent()[0]; s.ChatID != "u-42" || s.Text != "Good afternoon! How can I help?" {
		t.Fatalf("sent %+v", s)
	}
}
