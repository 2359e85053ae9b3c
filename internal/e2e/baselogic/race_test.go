package baselogic

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// TestAssignmentRaceTwoInstances races many new dialogs arriving on two instances (one
// database) against operators changing status, capacity, department membership and closing
// dialogs on both. Afterwards, with every job finished: no dialog was assigned twice, no
// operator is over capacity, and no dialog waits while an eligible operator has room.
func TestAssignmentRaceTwoInstances(t *testing.T) {
	const (
		operators = 8
		dialogs   = 300
		senders   = 6 // concurrent webhook senders per instance
	)
	e := newEnv(t, dialog.Settings{AutoAssign: true, RecordType: "client"}, "Support", "Sales")
	support, sales := e.deps[0], e.deps[1]
	// A second channel, in Sales: dialogs of two departments wait in one queue.
	salesCh := *e
	salesCh.fake = exampletest.NewServer()
	t.Cleanup(salesCh.fake.Close)
	var ch channelView
	e.admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Sales line", "department_id": sales, "settings": salesCh.fake.Settings()}, &ch)
	apptest.Eventually(t, 10*time.Second, "the webhook registration", func() bool { return salesCh.fake.Webhook().URL != "" })
	salesCh.channel, salesCh.secret = ch.ID, salesCh.fake.Webhook().Secret
	channels := []*env{e, &salesCh}
	instB := apptest.Start(t, apptest.Options{DatabaseURL: e.inst.DatabaseURL})
	bases := []string{e.inst.URL, instB.URL}

	ops := make([]*apptest.Client, operators)
	for i := range ops {
		ops[i] = e.operator(t, fmt.Sprintf("op%d@example.com", i), 3, []int64{support}, false)
		// Half the operators keep their stream on instance B, and make their calls there.
		if i%2 == 1 {
			ops[i].Base = instB.URL
		}
		ops[i].Stream(t)
	}
	admins := []*apptest.Client{e.admin, {Base: instB.URL, Token: e.admin.Token, UserID: e.admin.UserID, HTTP: e.admin.HTTP}}

	start := time.Now()
	var wg sync.WaitGroup
	var changes atomic.Int64 // operator-side changes during the storm
	// New dialogs on both instances.
	for inst := range 2 {
		for s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := s; n < dialogs/2; n += senders {
					// Two in three dialogs to Support, one to Sales.
					ch := channels[0]
					if n%3 == 2 {
						ch = channels[1]
					}
					ch.message(t, bases[inst], fmt.Sprintf("race-%d-%d", inst, n), "Visitor", "hello")
				}
			}()
		}
	}
	// Operators change status (and admins capacity and membership) at the same time.
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			statuses := []string{"online", "away", "offline", "online"}
			capacity := 3
			for range 16 {
				op.Must(t, "PUT", "/api/v1/operators/me", map[string]any{"status": statuses[r.IntN(len(statuses))]}, nil)
				changes.Add(1)
				switch r.IntN(4) {
				case 0:
					// Raised only: a capacity lowered below the current load would
					// make "over capacity" a matter of the admin's choice, not of assignment.
					capacity++
					admins[i%2].Must(t, "PUT", apptest.Path("/api/v1/operators/%d", op.UserID), map[string]any{"capacity": capacity}, nil)
					changes.Add(1)
				case 1:
					deps := []int64{support}
					if r.IntN(2) == 0 {
						deps = []int64{sales}
					}
					admins[i%2].Must(t, "PUT", apptest.Path("/api/v1/operators/%d", op.UserID), map[string]any{"department_ids": deps}, nil)
					changes.Add(1)
				case 2:
					// Close one of my dialogs: frees capacity.
					var list struct{ Dialogs []store.Dialog }
					op.Must(t, "GET", "/api/v1/dialogs?status=open&assigned=me&limit=1", nil, &list)
					if len(list.Dialogs) > 0 {
						op.Call(t, "POST", apptest.Path("/api/v1/dialogs/%d/close", list.Dialogs[0].ID), nil, nil)
						changes.Add(1)
					}
				}
			}
			// Before the final phase: operators 2 and 6 in Sales, the others in Support; all offline.
			final := []int64{support}
			if i%4 == 2 {
				final = []int64{sales}
			}
			admins[i%2].Must(t, "PUT", apptest.Path("/api/v1/operators/%d", op.UserID), map[string]any{"department_ids": final}, nil)
			op.Must(t, "PUT", "/api/v1/operators/me", map[string]any{"status": "offline"}, nil)
		}()
	}
	wg.Wait()
	storm := time.Since(start)
	settle(t, e.inst)
	// The last changes are status changes alone, all at once on both instances: even
	// operators come online, odd ones go away. Whatever is handed out now is handed out
	// because of them.
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			final := "online"
			if i%2 == 1 {
				final = "away"
			}
			op.Must(t, "PUT", "/api/v1/operators/me", map[string]any{"status": final}, nil)
		}()
	}
	wg.Wait()
	settle(t, e.inst)
	total := time.Since(start)

	ctx := context.Background()
	pool := e.inst.Pool
	// 1. No dialog assigned twice: at most one automatic "assigned" entry per dialog, and
	// an assigned dialog's assignee is the one its entry names.
	rows, err := pool.Query(ctx, `SELECT d.id, d.assignee_id, d.status, count(m.id), coalesce(array_agg((m.data->>'to')::bigint) FILTER (WHERE m.id IS NOT NULL), '{}')
		FROM dialogs d LEFT JOIN messages m ON m.dialog_id = d.id AND m.direction = 'system' AND m.kind = 'assigned'
		GROUP BY d.id`)
	if err != nil {
		t.Fatal(err)
	}
	var nDialogs, assigned, queued, closed int
	for rows.Next() {
		var id int64
		var who *int64
		var status string
		var n int
		var to []int64
		if err := rows.Scan(&id, &who, &status, &n, &to); err != nil {
			t.Fatal(err)
		}
		nDialogs++
		if n > 1 {
			t.Errorf("dialog %d assigned %d times (to %v)", id, n, to)
		}
		if who != nil && (n != 1 || to[0] != *who) {
			t.Errorf("dialog %d assigned to %d but its entries say %v", id, *who, to)
		}
		switch {
		case status == "closed":
			closed++
		case who != nil:
			assigned++
		default:
			queued++
		}
	}
	rows.Close()
	if nDialogs != dialogs {
		t.Fatalf("%d dialogs stored, want %d", nDialogs, dialogs)
	}
	// 2. Nobody over capacity.
	us, err := store.ListUsers(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	online := 0
	for _, u := range us {
		if u.OpenDialogs > u.Capacity {
			t.Errorf("operator %d has %d open dialogs, capacity %d", u.ID, u.OpenDialogs, u.Capacity)
		}
		if u.Online {
			online++
		}
	}
	// 3. No queued dialog while someone eligible (online, present, in its department) has room.
	for _, dep := range []int64{support, sales} {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM dialogs WHERE status = 'open' AND assignee_id IS NULL AND department_id = $1`, dep).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		pick, err := store.PickOperator(ctx, pool, &dep)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 && pick != 0 {
			t.Errorf("%d dialogs of department %d queued while operator %d has room", waiting, dep, pick)
		}
	}

	if online != operators/2 || queued == 0 {
		t.Errorf("the final mix is not what the test meant: %d online operators, %d queued", online, queued)
	}
	// Both instances made assignment decisions (their River workers share the jobs).
	var runners, decisions int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT attempted_by[array_length(attempted_by, 1)]), count(*) FROM river_job
		WHERE kind IN ('assign_dialog', 'dispatch_queue') AND state = 'completed'`).Scan(&runners, &decisions); err != nil {
		t.Fatal(err)
	}
	if runners != 2 {
		t.Errorf("assignment jobs ran on %d instances, want 2", runners)
	}
	b, _ := json.Marshal(map[string]any{"assignment_jobs": decisions, "job_runners": runners, "operator_changes": changes.Load(), "dialogs": dialogs, "operators": operators, "instances": 2, "assigned_open": assigned, "closed": closed, "queued": queued, "storm": storm.Round(time.Millisecond).String(), "until_settled": total.Round(time.Millisecond).String()})
	t.Logf("race figures: %s", b)
}
