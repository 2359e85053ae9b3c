package dialog_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/testdb"
	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// TestMain gives every test of this package its own migrated database.
func TestMain(m *testing.M) { testdb.Main(m) }

// setup starts an instance with one example channel and returns a batcher that waits long
// enough for every concurrent caller to land in a shared batch.
func setup(t *testing.T) (*apptest.Instance, dialog.Chan, *dialog.Batcher) {
	t.Helper()
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake := exampletest.NewServer()
	t.Cleanup(fake.Close)
	var ch struct {
		ID int64 `json:"id"`
	}
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Batch", "settings": fake.Settings()}, &ch)
	b := dialog.NewBatcher(inst.App.Dialogs)
	b.Workers, b.Window = 1, 50*time.Millisecond
	return inst, dialog.Chan{ID: ch.ID, Kind: "example"}, b
}

func message(ext, user, text string) []providers.Event {
	return []providers.Event{{Kind: providers.EventMessage, ExternalID: ext, UserID: user, ChatID: user,
		User: providers.UserInfo{FirstName: "Visitor " + user}, Text: text, Time: time.Now()}}
}

// inbound counts the channel's stored inbound messages per external id.
func inbound(t *testing.T, inst *apptest.Instance, channelID int64) map[string]int {
	t.Helper()
	rows, err := inst.Pool.Query(context.Background(),
		`SELECT external_id FROM messages WHERE channel_id = $1 AND direction = 'in'`, channelID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, ext := range got {
		n[ext]++
	}
	return n
}

func TestBatcherStoresEveryMessageOnceWithPoisonedNeighbours(t *testing.T) {
	inst, ch, b := setup(t)
	b.Workers = 3 // three shards: visitors spread over concurrent committers
	// A message PostgreSQL refuses mid-transaction. (It used to be a NUL byte; ingest now
	// strips those, so the refusal comes from a trigger.)
	const poison = "refused by the trigger of the test"
	if _, err := inst.Pool.Exec(context.Background(), `
		CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN IF NEW.text = '`+poison+`' THEN RAISE EXCEPTION 'poison refused'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse_poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_poison();`); err != nil {
		t.Fatal(err)
	}
	const total = 120
	poisoned := func(i int) bool { return i%40 == 7 || i%40 == 23 }
	batch := func(i int) []providers.Event {
		ext, user := fmt.Sprintf("m-%d", i), fmt.Sprintf("u-%d", i%15)
		switch {
		case i%40 == 7:
			return message(ext, "", "no sender: malformed") // rejected before SQL
		case i%40 == 23:
			return message(ext, user, poison) // PostgreSQL rejects it: the tx aborts
		}
		return message(ext, user, fmt.Sprintf("hello %d", i))
	}
	run := func() ([]dialog.IngestResult, []error) {
		res, errs := make([]dialog.IngestResult, total), make([]error, total)
		var wg sync.WaitGroup
		for i := range total {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				res[i], errs[i] = b.Ingest(ctx, ch, batch(i))
			}()
		}
		wg.Wait()
		return res, errs
	}

	res, errs := run()
	good := 0
	for i := range total {
		if poisoned(i) {
			if errs[i] == nil {
				t.Errorf("poisoned ingest %d succeeded", i)
			}
			continue
		}
		good++
		if errs[i] != nil || res[i].Messages != 1 {
			t.Errorf("ingest %d: %+v, %v", i, res[i], errs[i])
		}
	}
	st := b.Stats()
	// Only a poisoned webhook may send its batch down the one-by-one path.
	if st.Batches >= st.Items || st.Fallbacks == 0 || st.Fallbacks > int64(total-good) {
		t.Errorf("stats %+v: want shared transactions and one fallback per poisoned batch at most (%d poisoned)", st, total-good)
	}
	stored := inbound(t, inst, ch.ID)
	if len(stored) != good {
		t.Errorf("stored %d distinct messages, want %d", len(stored), good)
	}
	for ext, n := range stored {
		if n != 1 {
			t.Errorf("%s stored %d times", ext, n)
		}
	}
	for i := range total {
		if ext := fmt.Sprintf("m-%d", i); poisoned(i) != (stored[ext] == 0) {
			t.Errorf("%s: poisoned=%v, stored %d times", ext, poisoned(i), stored[ext])
		}
	}

	// The platform retries everything at once: every good one is a duplicate, nothing new.
	res, errs = run()
	for i := range total {
		if !poisoned(i) && (errs[i] != nil || res[i].Duplicates != 1 || res[i].Messages != 0) {
			t.Errorf("retry %d: %+v, %v", i, res[i], errs[i])
		}
	}
	if again := inbound(t, inst, ch.ID); len(again) != good || sum(again) != good {
		t.Errorf("after retries: %d distinct, %d rows, want %d", len(again), sum(again), good)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func TestBatcherFailedCommitAnswersEveryWaiter(t *testing.T) {
	inst, ch, b := setup(t)
	// A deferred constraint trigger fails the COMMIT itself, after every statement succeeded.
	if _, err := inst.Pool.Exec(context.Background(), `
		CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'commit refused by the test'; END $$;
		CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON messages
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_at_commit();`); err != nil {
		t.Fatal(err)
	}
	const total = 12
	errs := make([]error, total)
	var wg sync.WaitGroup
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, errs[i] = b.Ingest(ctx, ch, message(fmt.Sprintf("c-%d", i), fmt.Sprintf("u-%d", i%3), "hi"))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "group commit") {
			t.Errorf("waiter %d: %v, want a group commit error", i, err)
		}
	}
	if st := b.Stats(); st.Batches >= st.Items {
		t.Errorf("stats %+v: want shared transactions", st)
	}
	if stored := inbound(t, inst, ch.ID); len(stored) != 0 {
		t.Errorf("a failed commit stored %v", stored)
	}
}
