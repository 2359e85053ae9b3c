package channels

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/chatapi"
	"github.com/omnichat/omnichat/providers/chatapi/chatapitest"
	"github.com/omnichat/omnichat/providers/providertest"
)

func TestChatAPIEndToEnd(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	enableAutoAdd(t, admin)
	fake := chatapitest.NewServer()
	t.Cleanup(fake.Close)
	ctx := context.Background()

	settings := map[string]string{}
	for k, v := range fake.Settings() {
		settings[k] = v
	}
	ch := createChannel(t, admin, "chatapi", settings)
	if ch.Settings["account_status"] == "" {
		t.Fatalf("Check did not fill account_status: %+v", ch.Settings)
	}
	if _, leaked := ch.Settings["token"]; leaked {
		t.Fatalf("the token is sent back to the browser: %+v", ch.Settings)
	}
	// ChatAPI signs nothing: the registered webhook carries an unguessable path token.
	hook := fake.WebhookURL()
	token, ok := strings.CutPrefix(hook, ch.WebhookURL+"/")
	if !ok || len(token) < 20 {
		t.Fatalf("webhook registered at %q, want %s/<token>", hook, ch.WebhookURL)
	}
	// The settings page's QR authorization (the phone is not linked yet): a PNG, then the
	// account status once it is.
	fake.SetAccountStatus(chatapi.StatusGotQRCode)
	var qr providers.ActionResult
	admin.Must(t, "POST", apptest.Path("/api/v1/channels/%d/actions/%s", ch.ID, chatapi.ActionQR), nil, &qr)
	if qr.ImageType != "image/png" || len(qr.Image) < 8 || string(qr.Image[1:4]) != "PNG" {
		t.Fatalf("QR action: type %q, %d bytes", qr.ImageType, len(qr.Image))
	}
	fake.SetAccountStatus(chatapi.StatusAuthenticated)
	var status providers.ActionResult
	admin.Must(t, "POST", apptest.Path("/api/v1/channels/%d/actions/%s", ch.ID, chatapi.ActionStatus), nil, &status)
	if !strings.Contains(status.Text, chatapi.StatusAuthenticated) {
		t.Fatalf("status action shows %q", status.Text)
	}

	// A client already in the base with the visitor's phone: the new dialog is linked to it
	// (the seed's "search by phone at dialog start").
	var existing struct {
		ID int64 `json:"id"`
	}
	admin.Must(t, "POST", "/api/v1/clients", map[string]any{"type": "client", "name": "Ivan from the CRM", "phones": []string{chatapitest.UserPhone}}, &existing)

	stream := admin.Stream(t)
	first := chatapi.NewMessagesWebhook(chatapitest.InstanceID,
		chatapi.NewTextMessage("3EB0AAAA000000000001", chatapitest.UserPhone, chatapitest.UserName, "Hello from WhatsApp", time.Now()))
	if code, body, err := fake.Deliver(ctx, first); err != nil || code != 200 {
		t.Fatalf("deliver: %d %s %v", code, body, err)
	}
	p := decodePush(t, stream.Next(t, "dialog.created", 10*time.Second))
	if code, _, _ := fake.Deliver(ctx, first); code != 200 {
		t.Fatalf("redeliver: %d", code)
	}
	// Without the path token, or with a wrong one: rejected, nothing stored.
	forged := chatapi.NewMessagesWebhook(chatapitest.InstanceID,
		chatapi.NewTextMessage("3EB0AAAA000000000002", chatapitest.UserPhone, chatapitest.UserName, "forged", time.Now()))
	for _, u := range []string{ch.WebhookURL, ch.WebhookURL + "/" + strings.Repeat("x", len(token))} {
		resp, err := http.Post(u, "application/json", strings.NewReader(string(forged)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 && resp.StatusCode != 403 {
			t.Fatalf("webhook without the right token: HTTP %d, want 401/403", resp.StatusCode)
		}
	}
	// A message sent from the phone itself (fromMe) is not a visitor message.
	mine := chatapi.NewTextMessage("3EB0AAAA000000000003", chatapitest.UserPhone, "Operator phone", "typed on the phone", time.Now())
	mine.FromMe = true
	mine.ID = "true_" + chatapitest.UserChatID + "_3EB0AAAA000000000003"
	if code, _, _ := fake.Deliver(ctx, chatapi.NewMessagesWebhook(chatapitest.InstanceID, mine)); code != 200 {
		t.Fatalf("fromMe: %d", code)
	}
	in := inbound(messages(t, admin, p.DialogID))
	if len(in) != 1 || in[0].Text != "Hello from WhatsApp" {
		t.Fatalf("inbound after retry, forgery and fromMe: %+v", in)
	}
	// An image: ChatAPI puts the file's URL in the body; the core downloads and stores it.
	media := cdn(t)
	image := chatapi.NewTextMessage("3EB0AAAA000000000004", chatapitest.UserPhone, chatapitest.UserName, media.URL+"/receipt.jpeg", time.Now())
	image.Type = "image"
	caption := "Here is the receipt"
	image.Caption = &caption
	if code, _, _ := fake.Deliver(ctx, chatapi.NewMessagesWebhook(chatapitest.InstanceID, image)); code != 200 {
		t.Fatalf("image: %d", code)
	}
	if m := waitInboundFile(t, admin, p.DialogID, "image", pngBytes); m.Text != caption {
		t.Errorf("image caption %q", m.Text)
	}
	// The platform retries while the first attempt is still running: five copies of one
	// message at once are stored once, and every copy gets a 2xx or a 5xx to retry later.
	same := chatapi.NewMessagesWebhook(chatapitest.InstanceID,
		chatapi.NewTextMessage("3EB0AAAA000000000005", chatapitest.UserPhone, chatapitest.UserName, "sent five times at once", time.Now()))
	var wg sync.WaitGroup
	codes := make([]int, 5)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _, _ = fake.Deliver(ctx, same)
		}()
	}
	wg.Wait()
	for _, c := range codes {
		if c != 200 && c < 500 {
			t.Fatalf("concurrent copies answered %v", codes)
		}
	}
	copies := 0
	for _, m := range inbound(messages(t, admin, p.DialogID)) {
		if m.Text == "sent five times at once" {
			copies++
		}
	}
	if copies != 1 {
		t.Fatalf("concurrent copies stored %d times (answers %v)", copies, codes)
	}
	// The sender's phone comes from the chat id and links the existing client.
	v := getDialog(t, admin, p.DialogID).Visitor
	if v.Phone != chatapitest.UserPhone {
		t.Fatalf("visitor phone %q, want %q", v.Phone, chatapitest.UserPhone)
	}
	apptest.Eventually(t, 15*time.Second, "the visitor linked to the client with that phone", func() bool {
		c := getDialog(t, admin, p.DialogID).Visitor.ClientID
		return c != nil && *c == existing.ID
	})
	if n := len(clientsByPhone(t, admin, "79161234567")); n != 1 {
		t.Fatalf("%d clients with the phone, want the one that existed", n)
	}
	apptest.Eventually(t, 15*time.Second, "the visitor's name", func() bool {
		return strings.Contains(getDialog(t, admin, p.DialogID).Visitor.FirstName, "Ivan")
	})
	if getDialog(t, admin, p.DialogID).Visitor.AvatarFileID != nil {
		t.Error("an avatar was stored for a WhatsApp visitor (ChatAPI channels have none)")
	}

	// The operator answers (buttons become text WhatsApp can show): one send to the chat.
	fake.Reset()
	m := reply(t, admin, p.DialogID, map[string]any{"text": "Shall we call you?",
		"buttons": [][]map[string]string{{{"text": "Yes", "data": "call-yes"}}}})
	waitStatus(t, admin, p.DialogID, m.ID, "sent")
	sent := fake.Sent()
	if len(sent) != 1 || sent[0].ChatID != chatapitest.UserChatID || !strings.HasPrefix(sent[0].Text, "Shall we call you?") {
		t.Fatalf("sent %+v", sent)
	}
	if !strings.Contains(sent[0].Text, "Yes") {
		t.Errorf("the buttons are lost: %q", sent[0].Text)
	}
	// Acks move the status.
	if code, err := fake.DeliverAck(ctx, sent[0].ID, chatapi.AckDelivered); err != nil || code != 200 {
		t.Fatalf("ack: %d %v", code, err)
	}
	waitStatus(t, admin, p.DialogID, m.ID, "delivered")
	fake.DeliverAck(ctx, sent[0].ID, chatapi.AckViewed)
	waitStatus(t, admin, p.DialogID, m.ID, "read")

	// A file reply.
	fake.Reset()
	fm := replyFile(t, admin, p.DialogID, "report.pdf", []byte("%PDF-1.4 omnichat test file\n"), "the report")
	fm = waitStatusOrFailed(t, admin, p.DialogID, fm.ID)
	if fm.Status != "sent" {
		t.Fatalf("file reply: %s (%s)", fm.Status, fm.Error)
	}
	if s := fake.Sent(); len(s) != 1 || s[0].FileName != "report.pdf" || !strings.HasPrefix(string(s[0].File), "%PDF") {
		t.Fatalf("file sent as %+v", s)
	}

	// Rate limited (429): retried later, sent once.
	fake.Reset()
	fake.FailNext(providertest.FailRateLimited)
	m = reply(t, admin, p.DialogID, map[string]any{"text": "after the pause"})
	apptest.Eventually(t, 15*time.Second, "the rate-limited send retried", func() bool {
		hurrySnoozed(t, inst, "send_message")
		return message(t, admin, p.DialogID, m.ID).Status == "sent"
	})
	if s := fake.Sent(); len(s) != 1 || s[0].Text != "after the pause" {
		t.Fatalf("after the retry: %+v", s)
	}

	// The number is not on WhatsApp or blocked us: failed with a readable reason.
	fake.FailNext(providertest.FailBlocked)
	m = reply(t, admin, p.DialogID, map[string]any{"text": "are you there?"})
	m = waitStatus(t, admin, p.DialogID, m.ID, "failed")
	if m.Error == "" {
		t.Error("failed without a reason")
	}

	assertNoSecret(t, inst, fake.Token, token)

	// Removing the channel clears the webhook at the instance.
	admin.Must(t, "DELETE", apptest.Path("/api/v1/channels/%d", ch.ID), nil, nil)
	if u := fake.WebhookURL(); u != "" {
		t.Fatalf("webhook still %q after delete", u)
	}
}
