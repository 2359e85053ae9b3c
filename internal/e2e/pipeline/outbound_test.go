package pipeline

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/example"
)

// TestSendRetriesTransientFailure: the platform answers 500, then 200: one message at the
// platform, status sent through the API, and message.updated on the stream.
func TestSendRetriesTransientFailure(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)
	d := firstDialog(t, fake, admin, stream, "u-42", 1)

	fake.Reset()
	fake.FailSends(1, http.StatusInternalServerError)
	m := reply(t, admin, d.ID, "Good afternoon!", nil)
	if m.Status != "pending" || m.Direction != "out" {
		t.Fatalf("stored reply %+v, want pending out", m)
	}
	nextFor(t, stream, "message.created", m.ID, 10*time.Second)
	nextFor(t, stream, "message.updated", m.ID, 15*time.Second)
	got := waitStatus(t, admin, d.ID, m.ID, "sent", 15*time.Second)
	if got.SentAt == nil || got.Error != "" {
		t.Errorf("sent message %+v", got)
	}
	if n := len(fake.SendTimes()); n != 2 {
		t.Errorf("platform saw %d send calls, want 2 (a 500, then the retry)", n)
	}
	if sent := fake.Sent(); len(sent) != 1 || sent[0].Text != "Good afternoon!" || sent[0].ChatID != "u-42" {
		t.Fatalf("platform accepted %+v, want one reply", sent)
	}
	if !strings.Contains(inst.Log.String(), "send_message") || strings.Contains(inst.Log.String(), fake.Token) {
		t.Error("the failed attempt is not logged, or its log carries the bot token")
	}
}

// TestSendWaitsForRetryAfter: a 429 with retry_after is retried after that delay, not before.
func TestSendWaitsForRetryAfter(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)
	d := firstDialog(t, fake, admin, stream, "u-42", 1)

	fake.Reset()
	const wait = 2 * time.Second
	fake.RateLimitSends(1, wait)
	m := reply(t, admin, d.ID, "Just a moment", nil)
	waitStatus(t, admin, d.ID, m.ID, "sent", 15*time.Second)
	times := fake.SendTimes()
	if len(times) != 2 {
		t.Fatalf("platform saw %d send calls, want 2", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < wait {
		t.Fatalf("retried %s after a 429 asking for %s", gap, wait)
	}
	if n := len(fake.Sent()); n != 1 {
		t.Fatalf("platform accepted %d messages, want 1", n)
	}
}

// TestSendBlockedFailsThenRetry: a visitor who blocked the bot makes the send fail for good
// with a reason the operator can read; after unblocking, the retry action sends it.
func TestSendBlockedFailsThenRetry(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)
	d := firstDialog(t, fake, admin, stream, "u-42", 1)

	fake.Reset()
	fake.Block("u-42")
	m := reply(t, admin, d.ID, "Are you there?", nil)
	failed := waitStatus(t, admin, d.ID, m.ID, "failed", 15*time.Second)
	if !strings.Contains(failed.Error, "blocked") {
		t.Fatalf("failure reason %q does not say the visitor blocked the bot", failed.Error)
	}
	nextFor(t, stream, "message.updated", m.ID, 10*time.Second)
	if n := len(fake.SendTimes()); n != 1 {
		t.Fatalf("a permanent failure was tried %d times, want 1", n)
	}

	fake.Unblock("u-42")
	var retried store.Message
	admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages/%d/retry", d.ID, m.ID), nil, &retried)
	if retried.Status != "pending" || retried.Error != "" {
		t.Fatalf("after retry: %+v", retried)
	}
	waitStatus(t, admin, d.ID, m.ID, "sent", 15*time.Second)
	var texts []string
	for _, s := range fake.Sent() {
		texts = append(texts, s.Text)
	}
	if strings.Count(strings.Join(texts, "|"), "Are you there?") != 1 {
		t.Fatalf("platform accepted %q, want the retried message once", texts)
	}
	if code, body := admin.Call(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages/%d/retry", d.ID, m.ID), nil, nil); code != http.StatusConflict {
		t.Fatalf("retrying a sent message: %d %s, want 409", code, body)
	}
}

// TestSendIdempotencyKey: the same POST twice with one Idempotency-Key stores one message
// and sends it once; another key is another message.
func TestSendIdempotencyKey(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)
	d := firstDialog(t, fake, admin, stream, "u-42", 1)
	fake.Reset()

	path := apptest.Path("/api/v1/dialogs/%d/messages", d.ID)
	var first, second store.Message
	code1, raw1 := admin.CallWithHeader(t, "POST", path, map[string]string{"text": "once"}, map[string]string{"Idempotency-Key": "key-1"}, &first)
	code2, raw2 := admin.CallWithHeader(t, "POST", path, map[string]string{"text": "once"}, map[string]string{"Idempotency-Key": "key-1"}, &second)
	if code1 != http.StatusCreated || code2 != http.StatusOK {
		t.Fatalf("statuses %d %s / %d %s, want 201 then 200", code1, raw1, code2, raw2)
	}
	if first.ID == 0 || first.ID != second.ID {
		t.Fatalf("two requests with one key gave messages %d and %d", first.ID, second.ID)
	}
	// Concurrent repeats (a client retrying on a timeout while the first is in flight).
	ids := make(chan int64, 6)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m store.Message
			if code, raw := admin.CallWithHeader(t, "POST", path, map[string]string{"text": "twice"}, map[string]string{"Idempotency-Key": "key-2"}, &m); code != 201 && code != 200 {
				t.Errorf("concurrent send: %d %s", code, raw)
			}
			ids <- m.ID
		}()
	}
	wg.Wait()
	close(ids)
	var other store.Message
	for id := range ids {
		if other.ID == 0 {
			other.ID = id
		}
		if id == 0 || id != other.ID {
			t.Fatalf("concurrent requests with one key gave messages %d and %d", other.ID, id)
		}
	}
	waitStatus(t, admin, d.ID, first.ID, "sent", 10*time.Second)
	waitStatus(t, admin, d.ID, other.ID, "sent", 10*time.Second)
	time.Sleep(300 * time.Millisecond) // a duplicate job would have run by now
	if n := len(fake.Sent()); n != 2 {
		t.Fatalf("platform accepted %d messages, want 2", n)
	}
	out := 0
	for _, m := range messages(t, admin, d.ID) {
		if m.Direction == "out" {
			out++
		}
	}
	if out != 2 {
		t.Fatalf("%d outbound messages stored, want 2", out)
	}
}

// TestSendPartialMultipartNoDuplicate: a text longer than the platform's limit goes out in
// parts; when part 2 fails after part 1 went out, the retry does not send part 1 again.
func TestSendPartialMultipartNoDuplicate(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)
	d := firstDialog(t, fake, admin, stream, "u-42", 1)
	fake.Reset()

	long := strings.Repeat("word ", example.MaxTextLength/5) + strings.Repeat("tail ", 200)
	fake.FailSendsAfter(1, 1, http.StatusBadGateway)
	m := reply(t, admin, d.ID, long, nil)
	waitStatus(t, admin, d.ID, m.ID, "sent", 15*time.Second)
	sent := fake.Sent()
	if len(sent) != 2 {
		t.Fatalf("platform accepted %d messages, want 2 parts", len(sent))
	}
	if got := sent[0].Text + sent[1].Text; got != strings.TrimSpace(long) {
		t.Fatalf("the parts do not add up to the text (%d + %d bytes of %d)", len(sent[0].Text), len(sent[1].Text), len(long))
	}

	// Deleting the message deletes every part at the platform.
	admin.Must(t, "DELETE", apptest.Path("/api/v1/dialogs/%d/messages/%d", d.ID, m.ID), nil, nil)
	del := fake.Deleted()
	if len(del) != 2 || !slices.Contains(del, sent[0].ID) || !slices.Contains(del, sent[1].ID) {
		t.Fatalf("platform deleted %v, want both parts %d and %d", del, sent[0].ID, sent[1].ID)
	}
}

// noDelete is the example provider on a platform that cannot delete messages.
type noDelete struct{ *example.Provider }

func (noDelete) DeleteMessage(context.Context, providers.Channel, providers.Recipient, string) error {
	return providers.ErrUnsupported
}

// TestDeleteUnsupported: where the platform cannot delete, the operator gets 409 with a
// clear message and the message stays as it was.
func TestDeleteUnsupported(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{Registry: providers.NewRegistry(noDelete{example.New()})})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)
	d := firstDialog(t, fake, admin, stream, "u-42", 1)
	m := reply(t, admin, d.ID, "hello", nil)
	waitStatus(t, admin, d.ID, m.ID, "sent", 10*time.Second)
	code, body := admin.Call(t, "DELETE", apptest.Path("/api/v1/dialogs/%d/messages/%d", d.ID, m.ID), nil, nil)
	if code != http.StatusConflict || !strings.Contains(string(body), "delete") {
		t.Fatalf("delete on a platform without deletion: %d %s, want 409 saying so", code, body)
	}
	if got := message(t, admin, d.ID, m.ID); got.DeletedAt != nil {
		t.Fatal("the message is marked deleted although the platform kept it")
	}
	// Another operator may not delete the admin's message.
	admin.Must(t, "POST", "/api/v1/operators", map[string]any{"email": "op@example.com", "password": "test-password-1"}, nil)
	op := inst.SignIn(t, "op@example.com", "test-password-1")
	if code, body := op.Call(t, "DELETE", apptest.Path("/api/v1/dialogs/%d/messages/%d", d.ID, m.ID), nil, nil); code != http.StatusForbidden && code != http.StatusNotFound {
		t.Fatalf("an operator deleting someone else's message: %d %s", code, body)
	}
}

// partialSender is a platform without idempotency keys whose connection drops after the
// first part of a long text, as Telegram's provider reports it: the ids sent so far with
// the error.
type partialSender struct {
	*example.Provider
	failed atomic.Bool
}

func (p *partialSender) SendMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, m providers.OutMessage) (providers.Sent, error) {
	if len(m.Text) <= 100 || p.failed.Swap(true) {
		return p.Provider.SendMessage(ctx, ch, to, m)
	}
	first, err := p.Provider.SendMessage(ctx, ch, to, providers.OutMessage{Text: m.Text[:100]})
	if err != nil {
		return providers.Sent{}, err
	}
	return providers.Sent{Parts: []string{first.ExternalID}}, errors.New("part 2 of 2: connection reset by peer")
}

// TestSendPartialWithoutIdempotencyIsNotRepeated: when the provider reports that part 1
// went out before a failure, the message is not retried automatically (that would repeat
// part 1): it fails with a reason saying so, and the operator's retry sends it whole.
func TestSendPartialWithoutIdempotencyIsNotRepeated(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{Registry: providers.NewRegistry(&partialSender{Provider: example.New()})})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)
	d := firstDialog(t, fake, admin, stream, "u-42", 1)
	fake.Reset()

	m := reply(t, admin, d.ID, strings.Repeat("long text ", 30), nil)
	failed := waitStatus(t, admin, d.ID, m.ID, "failed", 10*time.Second)
	if !strings.Contains(failed.Error, "first 1 part") {
		t.Fatalf("reason %q does not say part of the text went out", failed.Error)
	}
	time.Sleep(1500 * time.Millisecond) // an automatic retry (1 s backoff) would have run
	if n := len(fake.Sent()); n != 1 {
		t.Fatalf("platform got %d messages, want only the first part", n)
	}
	admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages/%d/retry", d.ID, m.ID), nil, nil)
	waitStatus(t, admin, d.ID, m.ID, "sent", 10*time.Second)
	if s := fake.Sent(); len(s) != 2 || s[1].Text != strings.TrimSpace(strings.Repeat("long text ", 30)) {
		t.Fatalf("after the operator's retry the platform has %+v", s)
	}
}
