package pipeline

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/example"
)

// TestWebhookRejectsBadRequests: every request the platform did not sign, or that we cannot
// read, is refused with the right status and leaves the messages table untouched.
func TestWebhookRejectsBadRequests(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{Env: map[string]string{"OMNICHAT_WEBHOOK_MAX_BYTES": "4096"}})
	admin := inst.Admin(t)
	fake, ch := exampleChannel(t, inst, admin)
	wh := fake.Webhook()
	url := wh.URL
	update := example.NewMessageUpdate(2001, 601, "u-7", "", "Oleg", "", "hi", time.Now())
	signed := func(body []byte) map[string]string {
		return map[string]string{"Content-Type": "application/json", example.SignatureHeader: example.Sign(wh.Secret, body)}
	}

	// The handshake is answered with the challenge (VerifyWebhook checks the echo).
	if err := fake.VerifyWebhook(context.Background()); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	// A handshake signed with another secret is refused: our URL must not echo anyone's text.
	if code, body := post(t, "GET", url+"?challenge=abc", nil, map[string]string{example.SignatureHeader: example.Sign("another-secret-0123456789", []byte("abc"))}); code != 401 && code != 403 {
		t.Errorf("forged handshake: %d %s", code, body)
	}

	cases := []struct {
		name   string
		url    string
		body   []byte
		header map[string]string
		want   []int
	}{
		{"forged signature", url, update, map[string]string{example.SignatureHeader: example.Sign("forged-secret-0123456789", update)}, []int{401, 403}},
		{"signature of other bytes", url, update, signed([]byte(`{"update_id":1}`)), []int{401, 403}},
		{"unsigned", url, update, map[string]string{"Content-Type": "application/json"}, []int{401, 403}},
		{"truncated JSON", url, update[:len(update)/2], signed(update[:len(update)/2]), []int{400}},
		{"over the size cap", url, []byte(strings.Repeat(" ", 5000) + string(update)), nil, []int{413}},
		{"unknown channel", apptest.Path("%s/webhooks/%d", inst.URL, ch.ID+1000), update, signed(update), []int{404}},
		{"not a channel id", inst.URL + "/webhooks/abc", update, signed(update), []int{404}},
	}
	for _, c := range cases {
		code, body := post(t, "POST", c.url, c.body, c.header)
		ok := false
		for _, w := range c.want {
			ok = ok || code == w
		}
		if !ok {
			t.Errorf("%s: HTTP %d %s, want %v", c.name, code, body, c.want)
		}
		if strings.Contains(body, wh.Secret) {
			t.Errorf("%s: the answer contains the channel secret", c.name)
		}
	}
	if n := countMessages(t, inst); n != 0 {
		t.Fatalf("rejected requests stored %d messages", n)
	}
	if !strings.Contains(inst.Log.String(), "rejected unsigned or forged request") {
		t.Error("forged requests are not logged")
	}

	// An update type we do not handle: 200 (so the platform does not retry), logged, nothing stored.
	unknown := []byte(`{"update_id":2002,"type":"poll_answer","poll":{"id":"p1"}}`)
	code, body := post(t, "POST", url, unknown, signed(unknown))
	if code != http.StatusOK {
		t.Fatalf("unknown update type: %d %s", code, body)
	}
	if n := countMessages(t, inst); n != 0 {
		t.Fatalf("unknown update stored %d messages", n)
	}
	if !strings.Contains(inst.Log.String(), "no events") {
		t.Error("an unknown update type is not logged")
	}

	// A signed, well-formed update of the same request shape is accepted: the cases above
	// failed for the reason they test, not for something else.
	if code, body := post(t, "POST", url, update, signed(update)); code != http.StatusOK {
		t.Fatalf("good update: %d %s", code, body)
	}
	if n := countMessages(t, inst); n != 1 {
		t.Fatalf("good update stored %d messages, want 1", n)
	}

	// A disabled channel refuses updates (404 or 410), even correctly signed ones.
	admin.Must(t, "PUT", apptest.Path("/api/v1/channels/%d", ch.ID), map[string]any{"enabled": false}, nil)
	again := example.NewMessageUpdate(2003, 602, "u-7", "", "Oleg", "", "still there?", time.Now())
	if code, body := post(t, "POST", url, again, signed(again)); code != 404 && code != 410 {
		t.Fatalf("disabled channel: %d %s", code, body)
	}
	if n := countMessages(t, inst); n != 1 {
		t.Fatalf("disabled channel stored a message: %d rows", n)
	}
}

// TestWebhookBatch: a batched delivery stores each new message once, skips the ones it has
// (also inside the same batch), and a redelivery of the whole batch changes nothing.
func TestWebhookBatch(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)
	now := time.Now()
	a := example.NewMessageUpdate(1, 11, "u-1", "", "A", "", "one", now)
	b := example.NewMessageUpdate(2, 12, "u-1", "", "A", "", "two", now)
	c := example.NewMessageUpdate(3, 13, "u-2", "", "B", "", "three", now)
	deliver(t, fake, a)
	stream.Next(t, "dialog.created", 10*time.Second)
	batch := example.NewBatch(a, b, b, c)
	deliver(t, fake, batch)
	deliver(t, fake, batch)
	if n := countMessages(t, inst); n != 3 {
		t.Fatalf("%d messages stored, want 3", n)
	}
	stream.Next(t, "message.created", 10*time.Second)
	stream.Next(t, "dialog.created", 10*time.Second)
	var n int
	if err := inst.Pool.QueryRow(context.Background(), `SELECT count(*) FROM dialogs`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d dialogs, want 2 (%v)", n, err)
	}

	// A platform retry racing the original (and a new visitor's first message racing
	// itself): every request answered 200, one message, one dialog.
	d := example.NewMessageUpdate(4, 14, "u-3", "", "C", "", "four", now)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, body, err := fake.Deliver(context.Background(), d); err != nil || code != 200 {
				t.Errorf("concurrent delivery: %d %s %v", code, body, err)
			}
		}()
	}
	wg.Wait()
	if n := countMessages(t, inst); n != 4 {
		t.Fatalf("%d messages stored after 8 concurrent copies of one, want 4", n)
	}
	if err := inst.Pool.QueryRow(context.Background(), `SELECT count(*) FROM dialogs`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d dialogs after concurrent copies, want 3 (%v)", n, err)
	}
}
