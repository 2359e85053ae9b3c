package dialog_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// visitorHistory is what a visitor's ingest left in the database, in a comparable form.
type visitorHistory struct {
	Dialogs  int
	Messages []string // "direction kind text" by id
	Preview  string
	Unread   int
}

func histories(t *testing.T, inst *apptest.Instance, channelID int64) map[string]visitorHistory {
	t.Helper()
	ctx := context.Background()
	rows, err := inst.Pool.Query(ctx, `SELECT v.external_id, count(DISTINCT d.id)::int,
			(SELECT coalesce(array_agg(m.direction || ' ' || m.kind || ' ' || m.text ORDER BY m.id), '{}') FROM messages m
				JOIN dialogs d2 ON d2.id = m.dialog_id WHERE d2.visitor_id = v.id),
			coalesce(max(d.last_message_preview), ''), coalesce(max(d.unread), 0)
		FROM visitors v LEFT JOIN dialogs d ON d.visitor_id = v.id WHERE v.channel_id = $1 GROUP BY v.id`, channelID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]visitorHistory{}
	for rows.Next() {
		var ext string
		var h visitorHistory
		if err := rows.Scan(&ext, &h.Dialogs, &h.Messages, &h.Preview, &h.Unread); err != nil {
			t.Fatal(err)
		}
		out[ext] = h
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The pipelined batch (every lookup in one round trip, then every insert) stores exactly
// what the statement-by-statement path stores: one dialog per visitor, a visitor's second
// message in the same batch not counted as first, the first-contact text right after the
// first message (also for a visitor announced before writing), duplicates skipped, a
// repeated message inside one webhook stored once.
func TestPipelinedBatchStoresWhatSequentialStores(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	admin.Must(t, "PUT", "/api/v1/settings", map[string]any{"record_type": "client", "auto_assign": false, "default_capacity": 10,
		"first_contact_text": "Hello, we got your message"}, nil)
	fake := exampletest.NewServer()
	t.Cleanup(fake.Close)
	var chans [2]struct {
		ID int64 `json:"id"`
	}
	for i := range chans {
		admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": fmt.Sprint("Batch ", i), "settings": fake.Settings()}, &chans[i])
	}
	b := dialog.NewBatcher(inst.App.Dialogs)
	b.Workers = 1
	run := func(ch dialog.Chan, sequential bool) map[string]visitorHistory {
		b.Sequential = sequential
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ingest := func(evs ...providers.Event) dialog.IngestResult {
			t.Helper()
			res, err := b.Ingest(ctx, ch, evs)
			if err != nil {
				t.Fatalf("sequential=%v: ingest: %v", sequential, err)
			}
			return res
		}
		ingest(providers.Event{Kind: providers.EventSubscribed, UserID: "C", ChatID: "C", User: providers.UserInfo{FirstName: "C"}})
		ingest(message("old", "D", "d0")...)
		before := b.Stats()
		var evs []providers.Event
		for _, m := range [][3]string{{"a1", "A", "a1"}, {"a2", "A", "a2"}, {"b1", "B", "b1"}, {"c1", "C", "c1"}, {"d1", "D", "d1"}, {"old", "D", "d0 again"}, {"a3", "A", "a3"}} {
			evs = append(evs, message(m[0], m[1], m[2])...)
		}
		if res := ingest(evs...); res.Messages != 6 || res.Duplicates != 1 {
			t.Errorf("sequential=%v: %+v, want 6 messages and 1 duplicate", sequential, res)
		}
		if st := b.Stats(); st.Fallbacks != before.Fallbacks {
			t.Errorf("sequential=%v: the batch fell back to one by one: %+v", sequential, st)
		}
		// One webhook carrying one message twice: stored once (pipelined: the second insert
		// conflicts, the batch is redone alone and sees a duplicate).
		twice := append(message("e1", "E", "e1"), message("e1", "E", "e1")...)
		if res := ingest(twice...); res.Messages != 1 || res.Duplicates != 1 {
			t.Errorf("sequential=%v: repeated message: %+v, want 1 message and 1 duplicate", sequential, res)
		}
		return histories(t, inst, ch.ID)
	}
	pipelined := run(dialog.Chan{ID: chans[0].ID, Kind: "example"}, false)
	sequential := run(dialog.Chan{ID: chans[1].ID, Kind: "example"}, true)

	const fc = "out message Hello, we got your message"
	want := map[string][]string{
		"A": {"in message a1", fc, "in message a2", "in message a3"},
		"B": {"in message b1", fc},
		"C": {"in message c1", fc},
		"D": {"in message d0", fc, "in message d1"},
		"E": {"in message e1", fc},
	}
	for user, msgs := range want {
		for name, got := range map[string]map[string]visitorHistory{"pipelined": pipelined, "sequential": sequential} {
			h := got[user]
			if !slices.Equal(h.Messages, msgs) || h.Dialogs != 1 {
				t.Errorf("%s: visitor %s: %d dialogs, messages %q; want 1 dialog, %q", name, user, h.Dialogs, h.Messages, msgs)
			}
		}
		if p, s := pipelined[user], sequential[user]; fmt.Sprint(p) != fmt.Sprint(s) {
			t.Errorf("visitor %s: pipelined %+v, sequential %+v", user, p, s)
		}
	}
	if a := pipelined["A"]; a.Unread != 3 || a.Preview != "a3" {
		t.Errorf("visitor A's dialog: unread %d, preview %q; want 3 and a3", a.Unread, a.Preview)
	}
}
