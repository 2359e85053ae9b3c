package channels

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/providertest"
	"github.com/omnichat/omnichat/providers/vk/vktest"
)

func TestVKEndToEnd(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake := vktest.NewServer()
	t.Cleanup(fake.Close)
	ctx := context.Background()

	settings := map[string]string{}
	for k, v := range fake.Settings() {
		settings[k] = v
	}
	ch := createChannel(t, admin, "vk", settings)
	if ch.Settings["group_name"] != vktest.GroupName || ch.Settings["confirmation_code"] != vktest.ConfirmationCode {
		t.Fatalf("Check did not fill group_name/confirmation_code: %+v", ch.Settings)
	}
	if _, leaked := ch.Settings["group_token"]; leaked {
		t.Fatalf("the group token is sent back to the browser: %+v", ch.Settings)
	}
	// SetWebhook added our callback server with a secret key and stored its id.
	servers := fake.CallbackServers()
	if len(servers) != 1 || servers[0].URL != ch.WebhookURL || servers[0].SecretKey == "" || !servers[0].Events["message_new"] {
		t.Fatalf("callback servers at VK: %+v", servers)
	}
	if got := getChannel(t, admin, ch.ID); got.Settings["callback_server_id"] != strconv.FormatInt(servers[0].ID, 10) || got.WebhookState != "set" {
		t.Fatalf("callback_server_id %q (server %d), webhook %q %s", got.Settings["callback_server_id"], servers[0].ID, got.WebhookState, got.WebhookError)
	}
	// VK's confirmation request is answered with the code.
	if err := fake.Confirm(ctx); err != nil {
		t.Fatalf("confirmation: %v", err)
	}
	// Anyone else asking for it (no secret) gets no code.
	for _, body := range []string{`{"type":"confirmation","group_id":` + strconv.FormatInt(fake.GroupID, 10) + `}`,
		`{"type":"confirmation","group_id":` + strconv.FormatInt(fake.GroupID, 10) + `,"secret":"wrong-secret-0123456789abcdef"}`} {
		resp, err := http.Post(ch.WebhookURL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || strings.Contains(string(answer), vktest.ConfirmationCode) {
			t.Fatalf("confirmation without the secret %s: %d %q, want refused without the code", body, resp.StatusCode, answer)
		}
	}

	// The visitor's profile photo lives on VK's CDN (here a local server).
	media := cdn(t)
	fake.AddUser(vktest.User{ID: vktest.UserID, FirstName: "Ivan", LastName: "Petrov", Screen: "ivan.petrov", Photo200: media.URL + "/ava.jpg"})

	stream := admin.Stream(t)
	code, answer, err := fake.DeliverMessage(ctx, "ev-1", vktest.UserID, 1, "Hello from VK")
	if err != nil || code != 200 || string(answer) != "ok" {
		t.Fatalf("deliver: %d %q %v", code, answer, err)
	}
	p := decodePush(t, stream.Next(t, "dialog.created", 10*time.Second))
	// VK resends an event it did not get "ok" for: stored once.
	if code, answer, _ := fake.DeliverMessage(ctx, "ev-1", vktest.UserID, 1, "Hello from VK"); code != 200 || string(answer) != "ok" {
		t.Fatalf("redeliver: %d %q", code, answer)
	}
	// A forged event (wrong secret key) is rejected and stores nothing.
	forged, _ := vktest.EventBody(vktest.GroupID, "not-our-secret", "message_new", "ev-forged",
		vktest.MessageNewObject(vktest.UserID, 2, "forged", time.Now()))
	if code, _, _ := fake.Deliver(ctx, forged); code != 401 && code != 403 {
		t.Fatalf("forged event: HTTP %d, want 401/403", code)
	}
	in := inbound(messages(t, admin, p.DialogID))
	if len(in) != 1 || in[0].Text != "Hello from VK" {
		t.Fatalf("inbound after retry and forgery: %+v", in)
	}
	// The visitor edits their message: the stored message shows the new text, no new message.
	edited := vktest.MessageNewObject(vktest.UserID, 1, "Hello from VK (edited)", time.Now())["message"].(map[string]any)
	edited["update_time"] = time.Now().Unix()
	if code, answer, _ := fake.DeliverEvent(ctx, "message_edit", "ev-edit", edited); code != 200 || string(answer) != "ok" {
		t.Fatalf("edit: %d %q", code, answer)
	}
	apptest.Eventually(t, 10*time.Second, "the edit applied", func() bool {
		in := inbound(messages(t, admin, p.DialogID))
		return len(in) == 1 && in[0].Text == "Hello from VK (edited)" && len(in[0].Edits) == 1
	})
	// message_deny / message_allow: the visitor's reachability follows.
	fake.DeliverEvent(ctx, "message_deny", "ev-deny", map[string]any{"user_id": vktest.UserID})
	apptest.Eventually(t, 10*time.Second, "the visitor unreachable", func() bool { return getDialog(t, admin, p.DialogID).Visitor.Unreachable })
	fake.DeliverEvent(ctx, "message_allow", "ev-allow", map[string]any{"user_id": vktest.UserID, "key": ""})
	apptest.Eventually(t, 10*time.Second, "the visitor reachable again", func() bool { return !getDialog(t, admin, p.DialogID).Visitor.Unreachable })

	// A photo: the largest size is downloaded and stored.
	photo := vktest.MessageNewObject(vktest.UserID, 2, "", time.Now())
	photo["message"].(map[string]any)["attachments"] = []any{map[string]any{"type": "photo", "photo": map[string]any{
		"id": 457239017, "owner_id": vktest.UserID, "date": time.Now().Unix(), "access_key": "3f6b1c0e9a2d4b8c11",
		"sizes": []any{
			map[string]any{"type": "s", "width": 56, "height": 75, "url": media.URL + "/s.jpg"},
			map[string]any{"type": "x", "width": 453, "height": 604, "url": media.URL + "/x.jpg"},
		},
	}}}
	if code, answer, _ := fake.DeliverEvent(ctx, "message_new", "ev-photo", photo); code != 200 || string(answer) != "ok" {
		t.Fatalf("photo: %d %q", code, answer)
	}
	waitInboundFile(t, admin, p.DialogID, "image", pngBytes)
	// The name comes from users.get in the background.
	apptest.Eventually(t, 15*time.Second, "the visitor's name and avatar", func() bool {
		v := getDialog(t, admin, p.DialogID).Visitor
		return v.FirstName == "Ivan" && v.LastName == "Petrov" && v.AvatarFileID != nil
	})

	// The operator answers with a callback button: one messages.send with a random_id.
	fake.Reset()
	m := reply(t, admin, p.DialogID, map[string]any{"text": "Pick one",
		"buttons": [][]map[string]string{{{"text": "Call me", "data": "call"}}}})
	waitStatus(t, admin, p.DialogID, m.ID, "sent")
	sent := fake.Sent()
	if len(sent) != 1 || sent[0].PeerID != vktest.UserID || sent[0].Text != "Pick one" || sent[0].RandomID == 0 || !strings.Contains(sent[0].Keyboard, "callback") {
		t.Fatalf("sent %+v", sent)
	}
	// VK's message_read marks our message read.
	if code, answer, _ := fake.DeliverEvent(ctx, "message_read", "ev-read", map[string]any{
		"from_id": vktest.UserID, "peer_id": vktest.UserID, "read_message_id": sent[0].ID}); code != 200 || string(answer) != "ok" {
		t.Fatalf("read: %d %q", code, answer)
	}
	waitStatus(t, admin, p.DialogID, m.ID, "read")
	// The echo of our own message (message_reply) is not a visitor message.
	reply1, _ := fake.Event("message_reply", "ev-echo", map[string]any{
		"date": time.Now().Unix(), "from_id": -vktest.GroupID, "id": sent[0].ID, "out": 1, "peer_id": vktest.UserID,
		"text": "Pick one", "conversation_message_id": sent[0].CMID, "attachments": []any{}, "fwd_messages": []any{},
	})
	if code, answer, _ := fake.Deliver(ctx, reply1); code != 200 || string(answer) != "ok" {
		t.Fatalf("echo: %d %q", code, answer)
	}
	// The visitor presses the button: stored as a button press and answered at VK.
	press, _ := fake.Event("message_event", "ev-press", map[string]any{
		"user_id": vktest.UserID, "peer_id": vktest.UserID, "event_id": "press-1",
		"payload": map[string]string{"data": "call"}, "conversation_message_id": sent[0].CMID,
	})
	if code, answer, _ := fake.Deliver(ctx, press); code != 200 || string(answer) != "ok" {
		t.Fatalf("button press: %d %q", code, answer)
	}
	apptest.Eventually(t, 10*time.Second, "the button press answered at VK", func() bool { return len(fake.Answered()) == 1 })
	var buttons, texts int
	for _, m := range inbound(messages(t, admin, p.DialogID)) {
		if m.Kind == "button" && strings.Contains(string(m.Data), "call") {
			buttons++
		} else {
			texts++
		}
	}
	if buttons != 1 || texts != 2 {
		t.Fatalf("after echo and press: %d button presses, %d other inbound messages", buttons, texts)
	}

	// A file reply goes through VK's upload-server flow.
	fake.Reset()
	fm := replyFile(t, admin, p.DialogID, "report.pdf", []byte("%PDF-1.4 omnichat test file\n"), "the report")
	fm = waitStatusOrFailed(t, admin, p.DialogID, fm.ID)
	if fm.Status != "sent" {
		t.Fatalf("file reply: %s (%s)", fm.Status, fm.Error)
	}
	if up, s := fake.Uploads(), fake.Sent(); len(up) != 1 || !strings.HasPrefix(string(up[0].Content), "%PDF") || len(s) != 1 || len(s[0].Attachments) != 1 {
		t.Fatalf("uploads %d, sent %+v", len(up), s)
	}

	// The operator deletes the reply: messages.delete for everyone.
	fake.Reset()
	admin.Must(t, "DELETE", apptest.Path("/api/v1/dialogs/%d/messages/%d", p.DialogID, m.ID), nil, nil)
	apptest.Eventually(t, 10*time.Second, "the deletion at VK", func() bool { return len(fake.Deleted()) == 1 })

	// Older than VK's deletion window (error 924): refused with the reason, the message stays.
	fake.Reset()
	old := reply(t, admin, p.DialogID, map[string]any{"text": "an old answer"})
	waitStatus(t, admin, p.DialogID, old.ID, "sent")
	fake.MarkOld(strconv.FormatInt(fake.Sent()[0].ID, 10))
	if code, raw := admin.Call(t, "DELETE", apptest.Path("/api/v1/dialogs/%d/messages/%d", p.DialogID, old.ID), nil, nil); code < 400 || code >= 500 {
		t.Fatalf("deleting a too old message: HTTP %d %s, want a 4xx", code, raw)
	}
	if got := message(t, admin, p.DialogID, old.ID); got.DeletedAt != nil {
		t.Fatal("a message VK refused to delete is marked deleted")
	}

	// Rate limited (error 6): put off and retried, sent once.
	fake.Reset()
	fake.FailNext(providertest.FailRateLimited)
	m = reply(t, admin, p.DialogID, map[string]any{"text": "after the pause"})
	apptest.Eventually(t, 10*time.Second, "the rate-limited send put off", func() bool {
		hurrySnoozed(t, inst, "send_message")
		return message(t, admin, p.DialogID, m.ID).Status == "sent"
	})
	if s := fake.Sent(); len(s) != 1 || s[0].Text != "after the pause" {
		t.Fatalf("after the retry: %+v", s)
	}

	// The visitor did not allow messages (error 901): failed with a readable reason.
	fake.FailNext(providertest.FailBlocked)
	m = reply(t, admin, p.DialogID, map[string]any{"text": "are you there?"})
	m = waitStatus(t, admin, p.DialogID, m.ID, "failed")
	if m.Error == "" || strings.Contains(m.Error, "901") && len(m.Error) < 20 {
		t.Errorf("failure reason %q", m.Error)
	}

	// The admin edits a setting (secrets left empty keep their values): Check runs again and
	// the webhook is set again on the same callback server, not a new one each time (VK
	// allows ten).
	var updated channelView
	admin.Must(t, "PUT", apptest.Path("/api/v1/channels/%d", ch.ID), map[string]any{"settings": map[string]string{
		"group_id": strconv.FormatInt(vktest.GroupID, 10), "group_token": "", "api_url": fake.URL(), "app_id": "51234567"}}, &updated)
	if updated.Settings["app_id"] != "51234567" || updated.Settings["group_name"] != vktest.GroupName {
		t.Fatalf("after update: %+v", updated.Settings)
	}
	if s := fake.CallbackServers(); len(s) != 1 || s[0].URL != ch.WebhookURL {
		t.Fatalf("callback servers after an update: %+v", s)
	}
	if err := fake.Confirm(ctx); err != nil {
		t.Fatalf("confirmation after an update: %v", err)
	}
	// Disabled: the callback server goes, VK's deliveries get 410; enabled again: it is back.
	admin.Must(t, "PUT", apptest.Path("/api/v1/channels/%d", ch.ID), map[string]any{"enabled": false}, nil)
	if s := fake.CallbackServers(); len(s) != 0 {
		t.Fatalf("callback servers of a disabled channel: %+v", s)
	}
	admin.Must(t, "PUT", apptest.Path("/api/v1/channels/%d", ch.ID), map[string]any{"enabled": true}, nil)
	if s := fake.CallbackServers(); len(s) != 1 {
		t.Fatalf("callback servers after enabling again: %+v", s)
	}
	if code, answer, _ := fake.DeliverMessage(ctx, "ev-back", vktest.UserID, 50, "back again"); code != 200 || string(answer) != "ok" {
		t.Fatalf("deliver after enabling again: %d %q", code, answer)
	}

	assertNoSecret(t, inst, fake.Token)

	// Removing the channel removes our callback server at VK.
	admin.Must(t, "DELETE", apptest.Path("/api/v1/channels/%d", ch.ID), nil, nil)
	if s := fake.CallbackServers(); len(s) != 0 {
		t.Fatalf("callback servers after delete: %+v", s)
	}
}
