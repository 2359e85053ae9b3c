package pipeline

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/push/comettest"
	"github.com/omnichat/omnichat/providers/example"
)

// With comet-server.ru configured and two instances on one database, each event reaches
// comet once: only the instance whose transaction produced it forwards it (both LISTEN).
func TestCometGetsEachEventOnceFromTwoInstances(t *testing.T) {
	fake, err := comettest.Start(15, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	a := apptest.Start(t, apptest.Options{})
	b := apptest.Start(t, apptest.Options{DatabaseURL: a.DatabaseURL})
	admin := a.Admin(t)
	admin.Must(t, "PUT", "/api/v1/realtime", map[string]any{"mode": "comet", "dev_id": 15, "dev_key": fake.DevKey, "host": fake.Addr(), "node": fake.Node()}, nil)
	platform, _ := exampleChannel(t, a, admin)
	streamB := b.SignIn(t, "admin@example.com", "test-password-1").Stream(t)

	update := example.NewMessageUpdate(7001, 801, "u-comet", "", "Vera", "", "hello", time.Now())
	if code, body, err := platform.Deliver(context.Background(), update); err != nil || code != 200 {
		t.Fatalf("deliver: %d %s %v", code, body, err)
	}
	ev := streamB.Next(t, "dialog.created", 10*time.Second) // instance B saw it too
	var pushed struct {
		DialogID int64 `json:"d"`
	}
	if err := json.Unmarshal(ev.Data, &pushed); err != nil {
		t.Fatal(err)
	}
	prefix := "INSERT INTO users_messages (id, event, message) VALUES (" + strconv.FormatInt(admin.UserID, 10) + ", "
	created := func() (n int) {
		for _, q := range fake.Queries() {
			if strings.HasPrefix(q, prefix) && strings.Contains(q, `"k":"dialog.created"`) && strings.Contains(q, `"d":`+strconv.FormatInt(pushed.DialogID, 10)) {
				n++
			}
		}
		return n
	}
	apptest.Eventually(t, 10*time.Second, "the dialog.created hint at comet", func() bool { return created() >= 1 })
	time.Sleep(500 * time.Millisecond) // the other instance's forwarder would have sent it by now
	if n := created(); n != 1 {
		t.Fatalf("comet got the dialog.created hint %d times, want 1:\n%s", n, strings.Join(fake.Queries(), "\n"))
	}
}
