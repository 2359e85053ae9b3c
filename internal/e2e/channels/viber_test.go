package channels

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mviber "github.com/mileusna/viber"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/providertest"
	"github.com/omnichat/omnichat/providers/viber/vibertest"
)

func viberDeliver(t *testing.T, fake *vibertest.Server, url string, body []byte) int {
	t.Helper()
	resp, err := fake.Deliver(context.Background(), url, body)
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestViberEndToEnd(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	enableAutoAdd(t, admin)
	// Like Viber, the fake checks the webhook URL by calling it before accepting it.
	fake := vibertest.NewServer(vibertest.WithWebhookCheck())
	t.Cleanup(fake.Close)

	// The admin saves the channel with the public-contract setting names; Check fills the
	// read-only fields and the webhook is registered (Viber's check call answered).
	ch := createChannel(t, admin, "viber", map[string]string{"token": fake.Token, "api_url": fake.URL(),
		"welcome_text": "Hi! Write your question, an operator will answer."})
	if ch.Settings["bot_id"] != vibertest.BotID || ch.Settings["bot_name"] != vibertest.BotName {
		t.Fatalf("Check did not fill bot_id/bot_name: %+v", ch.Settings)
	}
	if _, leaked := ch.Settings["token"]; leaked {
		t.Fatalf("the token is sent back to the browser: %+v", ch.Settings)
	}
	if got := getChannel(t, admin, ch.ID); got.WebhookState != "set" || fake.Webhook().URL != ch.WebhookURL {
		t.Fatalf("webhook: state %q (%s), registered %q, want %q", got.WebhookState, got.WebhookError, fake.Webhook().URL, ch.WebhookURL)
	}

	// A visitor opens the chat: Viber's conversation_started is answered with the welcome
	// message, in the webhook answer itself.
	resp0, err := fake.Deliver(context.Background(), ch.WebhookURL, fake.ConversationStartedCallback(vibertest.UserID, "", false))
	if err != nil {
		t.Fatal(err)
	}
	welcome, _ := io.ReadAll(resp0.Body)
	resp0.Body.Close()
	if resp0.StatusCode != 200 || !strings.Contains(string(welcome), "an operator will answer") || !strings.Contains(string(welcome), `"type":"text"`) {
		t.Fatalf("conversation_started answered %d %s", resp0.StatusCode, welcome)
	}

	stream := admin.Stream(t)
	hello := fake.TextCallback(vibertest.UserID, "Hello from Viber")
	if code := viberDeliver(t, fake, ch.WebhookURL, hello); code != 200 {
		t.Fatalf("deliver: HTTP %d", code)
	}
	p := decodePush(t, stream.Next(t, "dialog.created", 10*time.Second))
	// Viber retries the same callback: stored once.
	if code := viberDeliver(t, fake, ch.WebhookURL, hello); code != 200 {
		t.Fatalf("redeliver: HTTP %d", code)
	}
	// A forged signature is rejected and stores nothing.
	forged := fake.TextCallback(vibertest.UserID, "forged")
	req, _ := http.NewRequest("POST", ch.WebhookURL, strings.NewReader(string(forged)))
	req.Header.Set(vibertest.SignatureHeader, vibertest.Sign("not-the-token", forged))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 && resp.StatusCode != 403 {
		t.Fatalf("forged callback: HTTP %d, want 401/403", resp.StatusCode)
	}
	in := inbound(messages(t, admin, p.DialogID))
	if len(in) != 1 || in[0].Text != "Hello from Viber" {
		t.Fatalf("inbound after retry and forgery: %+v", in)
	}

	// A picture: the core downloads it from Viber's media URL and stores it.
	viberDeliver(t, fake, ch.WebhookURL, fake.PictureCallback(vibertest.UserID, fake.AddMedia("photo.png", "image/png", pngBytes), "my receipt"))
	if m := waitInboundFile(t, admin, p.DialogID, "image", pngBytes); m.Text != "my receipt" {
		t.Errorf("picture caption %q", m.Text)
	}

	// User info: the background job fetches the name and avatar with get_user_details.
	apptest.Eventually(t, 15*time.Second, "the visitor's name and avatar", func() bool {
		d := getDialog(t, admin, p.DialogID)
		return strings.Contains(d.Visitor.FirstName+" "+d.Visitor.LastName, "Ivan") && d.Visitor.AvatarFileID != nil
	})

	// get_user_details is rate limited by Viber: one call for this visitor, however many
	// messages they write.
	viberDeliver(t, fake, ch.WebhookURL, fake.TextCallback(vibertest.UserID, "one more"))
	stream.Next(t, "message.created", 10*time.Second)
	if n := len(fake.CallsTo("get_user_details")); n != 1 {
		t.Fatalf("get_user_details called %d times, want 1", n)
	}

	// The operator answers with buttons: exactly one send_message to the visitor.
	fake.Reset()
	m := reply(t, admin, p.DialogID, map[string]any{"text": "Shall we call you?",
		"buttons": [][]map[string]string{{{"text": "Yes", "data": "call-yes"}, {"text": "No", "data": "call-no"}}}})
	waitStatus(t, admin, p.DialogID, m.ID, "sent")
	sent := fake.Sent()
	if len(sent) != 1 || sent[0].Receiver != vibertest.UserID || sent[0].SenderName != vibertest.BotName || sent[0].Text != "Shall we call you?" || sent[0].Keyboard == nil || len(sent[0].Keyboard.Buttons) != 2 {
		t.Fatalf("sent %+v", sent)
	}
	// Receipts move the status: delivered, then seen (read).
	viberDeliver(t, fake, ch.WebhookURL, fake.ReceiptCallback("delivered", vibertest.UserID, sent[0].Token))
	waitStatus(t, admin, p.DialogID, m.ID, "delivered")
	viberDeliver(t, fake, ch.WebhookURL, fake.ReceiptCallback("seen", vibertest.UserID, sent[0].Token))
	waitStatus(t, admin, p.DialogID, m.ID, "read")

	// The visitor presses a button: stored as a button message with its data.
	btn, err := fake.ButtonCallback(vibertest.UserID, "Yes")
	if err != nil {
		t.Fatal(err)
	}
	viberDeliver(t, fake, ch.WebhookURL, btn)
	apptest.Eventually(t, 10*time.Second, "the button press", func() bool {
		for _, m := range inbound(messages(t, admin, p.DialogID)) {
			if m.Kind == "button" && strings.Contains(string(m.Data), "call-yes") {
				return true
			}
		}
		return false
	})

	// Viber's "failed" receipt marks the message failed with Viber's reason.
	fake.Reset()
	m2 := reply(t, admin, p.DialogID, map[string]any{"text": "this one will not arrive"})
	waitStatus(t, admin, p.DialogID, m2.ID, "sent")
	viberDeliver(t, fake, ch.WebhookURL, fake.ReceiptCallback("failed", vibertest.UserID, fake.Sent()[0].Token))
	if m2 = waitStatus(t, admin, p.DialogID, m2.ID, "failed"); m2.Error == "" {
		t.Error("failed receipt without a reason")
	}

	// A file from the operator: Viber fetches it by URL, so it must be reachable.
	fake.Reset()
	fm := replyFile(t, admin, p.DialogID, "report.pdf", []byte("%PDF-1.4 omnichat test file\n"), "")
	fm = waitStatusOrFailed(t, admin, p.DialogID, fm.ID)
	if fm.Status != "sent" {
		t.Errorf("file reply: %s (%s)", fm.Status, fm.Error)
	} else if s := fake.Sent(); len(s) != 1 || s[0].Type != "file" || s[0].Media == "" {
		t.Errorf("file sent as %+v", s)
	} else {
		r, err := http.Get(s[0].Media)
		if err != nil {
			t.Errorf("Viber cannot fetch the file: %v", err)
		} else {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode != 200 || !strings.HasPrefix(string(b), "%PDF") {
				t.Errorf("Viber fetches the file: HTTP %d %q", r.StatusCode, b)
			}
			// The link is the only key: a tampered token or another file id finds nothing.
			media := s[0].Media
			i := strings.Index(media, "/public/files/")
			parts := strings.Split(media[i+len("/public/files/"):], "/")
			for _, bad := range []string{
				media[:i] + "/public/files/" + parts[0] + "/" + flipMiddle(parts[1]),
				media[:i] + "/public/files/" + parts[0] + "9/" + parts[1],
			} {
				r, err := http.Get(bad)
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				if r.StatusCode != 404 {
					t.Errorf("tampered public link %s: HTTP %d, want 404", bad, r.StatusCode)
				}
			}
		}
	}

	// unsubscribed / subscribed: the visitor's reachability follows.
	viberDeliver(t, fake, ch.WebhookURL, fake.UnsubscribedCallback(vibertest.UserID))
	apptest.Eventually(t, 10*time.Second, "the visitor unreachable", func() bool { return getDialog(t, admin, p.DialogID).Visitor.Unreachable })
	viberDeliver(t, fake, ch.WebhookURL, fake.SubscribedCallback(vibertest.UserID))
	apptest.Eventually(t, 10*time.Second, "the visitor reachable again", func() bool { return !getDialog(t, admin, p.DialogID).Visitor.Unreachable })

	// Rate limited: the send waits and is retried, not failed.
	fake.Reset()
	fake.FailNext(providertest.FailRateLimited)
	m = reply(t, admin, p.DialogID, map[string]any{"text": "after the pause"})
	apptest.Eventually(t, 10*time.Second, "the rate-limited send put off", func() bool {
		return hurrySnoozed(t, inst, "send_message") > 0
	})
	waitStatus(t, admin, p.DialogID, m.ID, "sent")
	if s := fake.Sent(); len(s) != 1 || s[0].Text != "after the pause" {
		t.Fatalf("after the retry: %+v", s)
	}

	// The visitor unsubscribed: failed with a readable reason.
	fake.FailNext(providertest.FailBlocked)
	m = reply(t, admin, p.DialogID, map[string]any{"text": "are you there?"})
	m = waitStatus(t, admin, p.DialogID, m.ID, "failed")
	if !strings.Contains(m.Error, "unsubscribed") {
		t.Errorf("failure reason %q", m.Error)
	}

	// A contact shared by the visitor (their own number: the contact carries their Viber
	// name) reaches the visitor record.
	viberDeliver(t, fake, ch.WebhookURL, fake.ContactCallback(vibertest.UserID, vibertest.UserName, "+79161234567"))
	apptest.Eventually(t, 15*time.Second, "the shared phone on the visitor", func() bool {
		return getDialog(t, admin, p.DialogID).Visitor.Phone != ""
	})
	// …and the client record auto-added at the dialog's start gets it.
	apptest.Eventually(t, 15*time.Second, "the shared phone on the visitor's client", func() bool {
		cs := clientsByPhone(t, admin, "79161234567")
		v := getDialog(t, admin, p.DialogID).Visitor
		return len(cs) == 1 && v.ClientID != nil && strings.Contains(string(cs[0]), fmt.Sprintf(`"id":%d,`, *v.ClientID))
	})
	// A new visitor whose first message is their contact: with auto-add on, the client
	// record is created with that phone.
	fake.AddUser(mviber.User{ID: "newVisitor0000000000A==", Name: "Olga Smirnova"})
	viberDeliver(t, fake, ch.WebhookURL, fake.ContactCallback("newVisitor0000000000A==", "Olga Smirnova", "+79167654321"))
	apptest.Eventually(t, 15*time.Second, "the client with that phone", func() bool {
		return len(clientsByPhone(t, admin, "79167654321")) == 1
	})

	assertNoSecret(t, inst, fake.Token)

	// Removing the channel removes the webhook at Viber.
	admin.Must(t, "DELETE", apptest.Path("/api/v1/channels/%d", ch.ID), nil, nil)
	if u := fake.Webhook().URL; u != "" {
		t.Fatalf("webhook still set to %q after delete", u)
	}
}

// waitStatusOrFailed waits until the message leaves pending.
func waitStatusOrFailed(t *testing.T, admin *apptest.Client, dialogID, id int64) storeMessage {
	t.Helper()
	var m storeMessage
	apptest.Eventually(t, 15*time.Second, "the send settled", func() bool {
		m = message(t, admin, dialogID, id)
		return m.Status != "pending"
	})
	return m
}

// flipMiddle changes one character in the middle of a base64 token (the last one may only
// carry padding bits).
func flipMiddle(s string) string {
	i := len(s) / 2
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}
