package pipeline

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// TestEventsReachOnlyWhoMaySee: every event about a dialog (new message, edit, receipt,
// attachment fetched, retry, delete) goes to the operators who may see it, and none to an
// operator of another department.
func TestEventsReachOnlyWhoMaySee(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	var sales, support struct {
		ID int64 `json:"id"`
	}
	admin.Must(t, "POST", "/api/v1/departments", map[string]any{"name": "Sales"}, &sales)
	admin.Must(t, "POST", "/api/v1/departments", map[string]any{"name": "Support"}, &support)
	admin.Must(t, "POST", "/api/v1/operators", map[string]any{"email": "sup@example.com", "password": "test-password-1", "department_ids": []int64{support.ID}}, nil)
	op := inst.SignIn(t, "sup@example.com", "test-password-1")

	channel := func(dept int64) *exampletest.Server {
		fake := exampletest.NewServer()
		t.Cleanup(fake.Close)
		var ch channelView
		admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": fmt.Sprint("Dept ", dept), "department_id": dept, "settings": fake.Settings()}, &ch)
		apptest.Eventually(t, 10*time.Second, "the webhook registration", func() bool { return fake.Webhook().URL != "" })
		return fake
	}
	salesFake, supportFake := channel(sales.ID), channel(support.ID)
	adminStream := admin.Stream(t)
	opStream := op.Stream(t)

	// Everything that can happen to a sales dialog.
	salesFake.AddFile("f-1", "a.png", "image/png", testPNG(t))
	hidden := firstDialog(t, salesFake, admin, adminStream, "u-1", 1)
	deliver(t, salesFake, example.Update{UpdateID: 2, Type: example.TypeMessage, Message: &example.Message{
		ID: 2, ChatID: "u-1", From: example.User{ID: "u-1"}, Date: time.Now().Unix(),
		Attachments: []example.Attachment{{Type: "image", FileID: "f-1"}}}}.Marshal())
	deliver(t, salesFake, example.Update{UpdateID: 3, Type: example.TypeEdited, Message: &example.Message{
		ID: 1, ChatID: "u-1", From: example.User{ID: "u-1"}, Date: time.Now().Unix(), Text: "Hello again"}}.Marshal())
	salesFake.Block("u-1")
	m := reply(t, admin, hidden.ID, "hi", nil)
	waitStatus(t, admin, hidden.ID, m.ID, "failed", 10*time.Second)
	salesFake.Unblock("u-1")
	admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages/%d/retry", hidden.ID, m.ID), nil, nil)
	waitStatus(t, admin, hidden.ID, m.ID, "sent", 10*time.Second)
	deliver(t, salesFake, example.NewReceiptUpdate(4, example.TypeRead, "u-1", "", []int64{salesFake.Sent()[0].ID}, time.Now()))
	admin.Must(t, "DELETE", apptest.Path("/api/v1/dialogs/%d/messages/%d", hidden.ID, m.ID), nil, nil)
	var hiddenFile int64
	apptest.Eventually(t, 10*time.Second, "the attachment fetched", func() bool {
		for _, x := range messages(t, admin, hidden.ID) {
			if len(x.Attachments) == 1 && x.Attachments[0].FileID != 0 {
				hiddenFile = x.Attachments[0].FileID
				return true
			}
		}
		return false
	})
	// Nor may the operator read the dialog or its files.
	if code, _ := op.Call(t, "GET", apptest.Path("/api/v1/dialogs/%d", hidden.ID), nil, nil); code != 404 {
		t.Errorf("another department's dialog: %d, want 404", code)
	}
	if code, _, _ := getFile(t, inst.URL, op.Token, hiddenFile); code != 404 {
		t.Errorf("another department's file: %d, want 404", code)
	}

	// Then a support dialog: the operator's stream must show it, and nothing before it
	// may be about the sales dialog.
	supportFake.AddUser(exampletest.User{ID: "u-2", FirstName: "Vera", LastName: "Ivanova"})
	deliver(t, supportFake, example.NewMessageUpdate(10, 10, "u-2", "", "Vera", "", "help", time.Now()))
	deadline := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case ev, ok := <-opStream.C:
			if !ok {
				t.Fatal("operator stream closed")
			}
			var p struct {
				DialogID int64 `json:"d"`
			}
			json.Unmarshal(ev.Data, &p)
			if p.DialogID == hidden.ID {
				t.Errorf("an operator of another department got %s %s", ev.Kind, ev.Data)
			}
			done = ev.Kind == "dialog.created" && p.DialogID != 0
		case <-deadline:
			t.Fatal("the operator never saw the support dialog")
		}
	}
	// The support visitor's name and avatar arrive from the platform later (GetUserInfo):
	// the operator who sees the dialog is told.
	ev := opStream.Next(t, "visitor.updated", 10*time.Second)
	var p struct {
		DialogID  int64 `json:"d"`
		VisitorID int64 `json:"v"`
	}
	if err := json.Unmarshal(ev.Data, &p); err != nil || p.DialogID == 0 || p.VisitorID == 0 {
		t.Fatalf("visitor.updated %s", ev.Data)
	}
	var d struct {
		Visitor struct {
			AvatarFileID *int64 `json:"avatar_file_id"`
		} `json:"visitor"`
	}
	op.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d", p.DialogID), nil, &d)
	if d.Visitor.AvatarFileID == nil {
		t.Fatal("the visitor's avatar was not stored")
	}
	code, h, body := getFile(t, inst.URL, op.Token, *d.Visitor.AvatarFileID)
	if code != 200 || h.Get("Content-Type") != "image/png" || len(body) == 0 {
		t.Fatalf("avatar: %d %q", code, h.Get("Content-Type"))
	}
}
