package pipeline

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// deliver posts a signed update through the fake platform and fails unless it got 200.
func deliver(t *testing.T, fake *exampletest.Server, update []byte) {
	t.Helper()
	code, body, err := fake.Deliver(context.Background(), update)
	if err != nil || code != http.StatusOK {
		t.Fatalf("deliver: %d %s %v", code, body, err)
	}
}

// post sends a raw request to the instance and returns the status and body.
func post(t *testing.T, method, url string, body []byte, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// countMessages counts the rows of the messages table: what "nothing stored" means.
func countMessages(t *testing.T, inst *apptest.Instance) int {
	t.Helper()
	var n int
	if err := inst.Pool.QueryRow(context.Background(), `SELECT count(*) FROM messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// firstDialog delivers a visitor's first message and returns the dialog it opened.
func firstDialog(t *testing.T, fake *exampletest.Server, admin *apptest.Client, stream *apptest.Stream, userID string, msgID int64) store.Dialog {
	t.Helper()
	deliver(t, fake, example.NewMessageUpdate(msgID, msgID, userID, "", "Anna", "Petrova", "Hello", time.Now()))
	ev := stream.Next(t, "dialog.created", 10*time.Second)
	var pushed struct {
		DialogID int64 `json:"d"`
	}
	if err := json.Unmarshal(ev.Data, &pushed); err != nil || pushed.DialogID == 0 {
		t.Fatalf("dialog.created data %s: %v", ev.Data, err)
	}
	var d store.Dialog
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d", pushed.DialogID), nil, &d)
	return d
}

// messages returns a dialog's messages, newest first.
func messages(t *testing.T, c *apptest.Client, dialogID int64) []store.Message {
	t.Helper()
	var out struct {
		Messages []store.Message `json:"messages"`
	}
	c.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages", dialogID), nil, &out)
	return out.Messages
}

// message returns one message of a dialog (fails when absent).
func message(t *testing.T, c *apptest.Client, dialogID, id int64) store.Message {
	t.Helper()
	for _, m := range messages(t, c, dialogID) {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("message %d not in dialog %d", id, dialogID)
	return store.Message{}
}

// reply posts an operator's text and returns the stored message.
func reply(t *testing.T, c *apptest.Client, dialogID int64, text string, header map[string]string) store.Message {
	t.Helper()
	var m store.Message
	code, raw := c.CallWithHeader(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages", dialogID), map[string]string{"text": text}, header, &m)
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("send: %d %s", code, raw)
	}
	return m
}

// waitStatus waits until the message has status (through the API) and returns it.
func waitStatus(t *testing.T, c *apptest.Client, dialogID, id int64, status string, timeout time.Duration) store.Message {
	t.Helper()
	var m store.Message
	apptest.Eventually(t, timeout, "message status "+status, func() bool {
		m = message(t, c, dialogID, id)
		return m.Status == status
	})
	return m
}

// nextFor waits for an event of kind about message id, skipping others.
func nextFor(t *testing.T, s *apptest.Stream, kind string, id int64, timeout time.Duration) apptest.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("no %s for message %d within %s", kind, id, timeout)
		}
		ev := s.Next(t, kind, left)
		var p struct {
			MessageID int64 `json:"m"`
		}
		if json.Unmarshal(ev.Data, &p) == nil && p.MessageID == id {
			return ev
		}
	}
}
