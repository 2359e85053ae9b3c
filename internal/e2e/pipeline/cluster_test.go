package pipeline

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/example"
)

// TestTwoInstancesOneDatabase: instance A takes the webhook, an operator's stream on
// instance B sees it, and a reply posted on B is delivered once although both instances
// run workers.
func TestTwoInstancesOneDatabase(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	b := apptest.Start(t, apptest.Options{DatabaseURL: a.DatabaseURL})
	adminA := a.Admin(t)
	fake, _ := exampleChannel(t, a, adminA) // the webhook points at A
	adminB := b.SignIn(t, "admin@example.com", "test-password-1")
	streamB := adminB.Stream(t)
	streamA := adminA.Stream(t)

	deliver(t, fake, example.NewMessageUpdate(3001, 701, "u-9", "", "Maria", "", "Hello from A", time.Now()))
	ev := streamB.Next(t, "dialog.created", 10*time.Second)
	var pushed struct {
		DialogID  int64 `json:"d"`
		MessageID int64 `json:"m"`
	}
	if err := json.Unmarshal(ev.Data, &pushed); err != nil || pushed.DialogID == 0 || pushed.MessageID == 0 {
		t.Fatalf("dialog.created on B: %s %v", ev.Data, err)
	}
	if m := message(t, adminB, pushed.DialogID, pushed.MessageID); m.Text != "Hello from A" {
		t.Fatalf("B reads %+v", m)
	}

	fake.Reset()
	for i := range 5 {
		m := reply(t, adminB, pushed.DialogID, "from B "+string(rune('a'+i)), nil)
		waitStatus(t, adminB, pushed.DialogID, m.ID, "sent", 15*time.Second)
		// A's operators see the update of a message B's worker may have sent.
		nextFor(t, streamA, "message.updated", m.ID, 10*time.Second)
	}
	time.Sleep(500 * time.Millisecond) // a second worker would have sent by now
	if n := len(fake.SendTimes()); n != 5 {
		t.Fatalf("platform saw %d send calls for 5 replies", n)
	}
	if n := len(fake.Sent()); n != 5 {
		t.Fatalf("platform accepted %d messages for 5 replies", n)
	}
}
