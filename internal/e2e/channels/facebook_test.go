package channels

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/facebook/facebooktest"
	"github.com/omnichat/omnichat/providers/providertest"
)

// fbDo sends a request to omnichat and returns the status and body.
func fbDo(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestFacebookEndToEnd(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake := facebooktest.NewServer()
	// Like Meta, subscribing the app calls the verify handshake on the callback URL: it only
	// works once the channel is committed and its verify token stored.
	fake.VerifyCallback = true
	t.Cleanup(fake.Close)
	ctx := context.Background()
	page, psid := fake.PageID, facebooktest.DefaultPSID

	settings := map[string]string{}
	for k, v := range fake.Settings() {
		settings[k] = v
	}
	ch := createChannel(t, admin, "facebook", settings)
	if ch.Settings["page_name"] != facebooktest.DefaultPageName {
		t.Fatalf("Check did not fill page_name: %+v", ch.Settings)
	}
	for _, secret := range []string{"app_secret", "page_token", "verify_token"} {
		if _, leaked := ch.Settings[secret]; leaked {
			t.Fatalf("%s is sent back to the browser: %+v", secret, ch.Settings)
		}
	}
	sub, ok := fake.Subscription()
	if got := getChannel(t, admin, ch.ID); !ok || sub.CallbackURL != ch.WebhookURL || sub.VerifyToken == "" || got.WebhookState != "set" {
		t.Fatalf("subscription %+v (%v), webhook state %q %s", sub, ok, got.WebhookState, got.WebhookError)
	}
	if _, subbed := fake.PageSubscribed(); !subbed {
		t.Fatal("the page is not subscribed to the app")
	}
	// The admin sees the callback URL and verify token to paste into Meta's console.
	var shown providers.ActionResult
	admin.Must(t, "POST", apptest.Path("/api/v1/channels/%d/actions/webhook", ch.ID), nil, &shown)
	if !strings.Contains(shown.Code, ch.WebhookURL) || !strings.Contains(shown.Code, sub.VerifyToken) {
		t.Fatalf("webhook action shows %q", shown.Code)
	}
	// The verify handshake on GET /webhooks/{id}: the right token gets the challenge back.
	if code, body := fbDo(t, mustReq(facebooktest.VerifyRequest(ctx, ch.WebhookURL, sub.VerifyToken, "1158201444"))); code != 200 || body != "1158201444" {
		t.Fatalf("verify: %d %q", code, body)
	}
	if code, body := fbDo(t, mustReq(facebooktest.VerifyRequest(ctx, ch.WebhookURL, "wrong-token", "1158201444"))); code != 403 || strings.Contains(body, "1158201444") {
		t.Fatalf("verify with a wrong token: %d %q", code, body)
	}

	stream := admin.Stream(t)
	hello := facebooktest.Update(page, facebooktest.TextMessage(page, psid, "m_first", "Hello from Messenger", time.Now()))
	if code, body := fbDo(t, mustReq(facebooktest.WebhookRequest(ctx, ch.WebhookURL, fake.AppSecret, hello))); code != 200 {
		t.Fatalf("deliver: %d %s", code, body)
	}
	p := decodePush(t, stream.Next(t, "dialog.created", 10*time.Second))
	if code, _ := fbDo(t, mustReq(facebooktest.WebhookRequest(ctx, ch.WebhookURL, fake.AppSecret, hello))); code != 200 {
		t.Fatalf("redeliver: %d", code)
	}
	forged := facebooktest.Update(page, facebooktest.TextMessage(page, psid, "m_forged", "forged", time.Now()))
	if code, _ := fbDo(t, mustReq(facebooktest.WebhookRequest(ctx, ch.WebhookURL, "not-the-app-secret", forged))); code != 401 && code != 403 {
		t.Fatalf("forged delivery: HTTP %d, want 401/403", code)
	}
	// Several events in one POST.
	two := facebooktest.Update(page,
		facebooktest.TextMessage(page, psid, "m_two", "second", time.Now()),
		facebooktest.TextMessage(page, psid, "m_three", "third", time.Now()))
	if code, _ := fbDo(t, mustReq(facebooktest.WebhookRequest(ctx, ch.WebhookURL, fake.AppSecret, two))); code != 200 {
		t.Fatalf("batch: %d", code)
	}
	var texts []string
	for _, m := range inbound(messages(t, admin, p.DialogID)) {
		texts = append(texts, m.Text)
	}
	if strings.Join(texts, "|") != "Hello from Messenger|second|third" {
		t.Fatalf("inbound after retry, forgery and batch: %q", texts)
	}
	// A photo: downloaded from Meta's CDN URL and stored.
	img := facebooktest.Update(page, facebooktest.ImageMessage(page, psid, "m_img", fake.AddFile("photo.png", "image/png", pngBytes), time.Now()))
	if code, _ := fbDo(t, mustReq(facebooktest.WebhookRequest(ctx, ch.WebhookURL, fake.AppSecret, img))); code != 200 {
		t.Fatalf("image: %d", code)
	}
	waitInboundFile(t, admin, p.DialogID, "image", pngBytes)
	apptest.Eventually(t, 15*time.Second, "the visitor's name and avatar", func() bool {
		v := getDialog(t, admin, p.DialogID).Visitor
		return v.FirstName == "Ivan" && v.LastName == "Petrov" && v.AvatarFileID != nil
	})

	// The operator answers with buttons: one Send API call to the PSID.
	fake.Reset()
	m := reply(t, admin, p.DialogID, map[string]any{"text": "Shall we call you?",
		"buttons": [][]map[string]string{{{"text": "Yes", "data": "call-yes"}, {"text": "No", "data": "call-no"}}}})
	waitStatus(t, admin, p.DialogID, m.ID, "sent")
	sent := fake.Sent()
	if len(sent) != 1 || sent[0].Recipient != psid || sent[0].Text != "Shall we call you?" || len(sent[0].QuickReplies)+len(sent[0].Buttons) != 2 {
		t.Fatalf("sent %+v", sent)
	}
	// Meta echoes our message: ignored. Then delivery and read receipts move the status.
	echo := facebooktest.Update(page, facebooktest.Echo(page, psid, fake.AppID, sent[0].MID, "Shall we call you?", time.Now()))
	if code, _ := fbDo(t, mustReq(facebooktest.WebhookRequest(ctx, ch.WebhookURL, fake.AppSecret, echo))); code != 200 {
		t.Fatalf("echo: %d", code)
	}
	delivered := facebooktest.Update(page, facebooktest.Delivery(page, psid, []string{sent[0].MID}, time.Now()))
	fbDo(t, mustReq(facebooktest.WebhookRequest(ctx, ch.WebhookURL, fake.AppSecret, delivered)))
	waitStatus(t, admin, p.DialogID, m.ID, "delivered")
	read := facebooktest.Update(page, facebooktest.Read(page, psid, time.Now().Add(time.Second), time.Now()))
	fbDo(t, mustReq(facebooktest.WebhookRequest(ctx, ch.WebhookURL, fake.AppSecret, read)))
	waitStatus(t, admin, p.DialogID, m.ID, "read")
	// Each change reached the operators' stream: sent, delivered, read.
	if n := updatesFor(t, stream, "message.updated", m.ID, time.Second); n < 3 {
		t.Errorf("%d message.updated events for the reply, want 3 (sent, delivered, read)", n)
	}
	// Messenger cannot delete a sent message: the operator is told so, the message stays.
	if code, raw := admin.Call(t, "DELETE", apptest.Path("/api/v1/dialogs/%d/messages/%d", p.DialogID, m.ID), nil, nil); code < 400 || code >= 500 {
		t.Fatalf("delete on Messenger: HTTP %d %s, want a 4xx", code, raw)
	}
	if got := message(t, admin, p.DialogID, m.ID); got.DeletedAt != nil {
		t.Fatal("the message is marked deleted although Messenger cannot delete it")
	}
	// A postback (button press) is stored as a press with its payload.
	pb := facebooktest.Update(page, facebooktest.Postback(page, psid, "m_pb", "Yes", "call-yes", time.Now()))
	fbDo(t, mustReq(facebooktest.WebhookRequest(ctx, ch.WebhookURL, fake.AppSecret, pb)))
	// A quick reply (what two or more buttons become) is a press too, with its payload.
	qr := facebooktest.TextMessage(page, psid, "m_qr", "No", time.Now())
	qr["message"].(map[string]any)["quick_reply"] = map[string]string{"payload": "call-no"}
	fbDo(t, mustReq(facebooktest.WebhookRequest(ctx, ch.WebhookURL, fake.AppSecret, facebooktest.Update(page, qr))))
	var buttons, others int
	for _, m := range inbound(messages(t, admin, p.DialogID)) {
		if m.Kind == "button" && (strings.Contains(string(m.Data), "call-yes") || strings.Contains(string(m.Data), "call-no")) {
			buttons++
		} else {
			others++
		}
	}
	if buttons != 2 || others != 4 {
		t.Fatalf("after echo, postback and quick reply: %d presses, %d other inbound (want 2, 4)", buttons, others)
	}

	// A file reply is uploaded with the Send API.
	fake.Reset()
	fm := replyFile(t, admin, p.DialogID, "report.pdf", []byte("%PDF-1.4 omnichat test file\n"), "")
	fm = waitStatusOrFailed(t, admin, p.DialogID, fm.ID)
	if fm.Status != "sent" {
		t.Fatalf("file reply: %s (%s)", fm.Status, fm.Error)
	}
	if s := fake.Sent(); len(s) != 1 || s[0].AttachmentType != "file" || !strings.HasPrefix(string(s[0].FileData), "%PDF") {
		t.Fatalf("file sent as %+v", s)
	}

	// Rate limited (#613): put off and retried, sent once.
	fake.Reset()
	fake.FailNext(providertest.FailRateLimited)
	m = reply(t, admin, p.DialogID, map[string]any{"text": "after the pause"})
	apptest.Eventually(t, 10*time.Second, "the rate-limited send retried", func() bool {
		hurrySnoozed(t, inst, "send_message")
		return message(t, admin, p.DialogID, m.ID).Status == "sent"
	})
	if s := fake.Sent(); len(s) != 1 || s[0].Text != "after the pause" {
		t.Fatalf("after the retry: %+v", s)
	}

	// Outside the 24-hour window: failed with a reason an operator understands.
	fake.FailNext(providertest.FailBlocked)
	m = reply(t, admin, p.DialogID, map[string]any{"text": "are you there?"})
	m = waitStatus(t, admin, p.DialogID, m.ID, "failed")
	if !strings.Contains(m.Error, "24") {
		t.Errorf("failure reason %q does not mention the 24-hour window", m.Error)
	}

	// An edit re-subscribes (Meta verifies the callback again with the same stored token).
	var updated channelView
	fake.Reset()
	admin.Must(t, "PUT", apptest.Path("/api/v1/channels/%d", ch.ID), map[string]any{"settings": map[string]string{
		"page_id": page, "app_id": fake.AppID, "app_secret": "", "page_token": "", "api_url": fake.URL(), "human_agent": "true"}}, &updated)
	sub2, _ := fake.Subscription()
	if got := getChannel(t, admin, ch.ID); got.WebhookState != "set" || sub2.VerifyToken != sub.VerifyToken || sub2.CallbackURL != ch.WebhookURL {
		t.Fatalf("after an edit: webhook %q %s, subscription %+v", got.WebhookState, got.WebhookError, sub2)
	}
	if n := len(fake.CallsTo(facebooktest.CallSubscribeApp)); n != 1 || updated.Settings["human_agent"] != "true" {
		t.Fatalf("after an edit: %d app subscriptions, settings %+v", n, updated.Settings)
	}

	assertNoSecret(t, inst, fake.Token, fake.AppSecret, sub.VerifyToken)

	// Removing the channel unsubscribes the page.
	admin.Must(t, "DELETE", apptest.Path("/api/v1/channels/%d", ch.ID), nil, nil)
	if _, subbed := fake.PageSubscribed(); subbed {
		t.Fatal("the page is still subscribed after the channel was deleted")
	}
}

func mustReq(req *http.Request, err error) *http.Request {
	if err != nil {
		panic(err)
	}
	return req
}
