package baselogic

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/store"
)

// assignee is who a visitor's newest dialog is assigned to (0: queued).
func assignee(t *testing.T, e *env, user string) int64 {
	t.Helper()
	return id(dialogOf(t, e.inst, user).AssigneeID)
}

func setStatus(t *testing.T, op *apptest.Client, status string) {
	t.Helper()
	op.Must(t, "PUT", "/api/v1/operators/me", map[string]any{"status": status}, nil)
}

// TestAutoAssignBalanceQueueOfflineText is the end-to-end scenario through the real
// server: balanced assignment, the offline text once with the dialog queued, an operator
// coming online gets the oldest queued dialog, and so do one freeing capacity and one
// joining the department.
func TestAutoAssignBalanceQueueOfflineText(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAssign: true, RecordType: "client", OfflineText: "We are offline, we will answer in the morning.", ClosingText: "Thank you, bye!"}, "Support", "Sales")
	support, sales := e.deps[0], e.deps[1]
	a := e.operator(t, "a@example.com", 2, []int64{support}, true)
	b := e.operator(t, "b@example.com", 2, []int64{support}, true)
	c := e.operator(t, "c@example.com", 1, []int64{sales}, true) // online, free, other department

	// Two online operators receive new dialogs balanced; ties go to the one idle longest.
	for i := 1; i <= 4; i++ {
		e.message(t, "", fmt.Sprintf("v%d", i), "Visitor", "hello")
		settle(t, e.inst)
	}
	got := []int64{assignee(t, e, "v1"), assignee(t, e, "v2"), assignee(t, e, "v3"), assignee(t, e, "v4")}
	if want := []int64{a.UserID, b.UserID, a.UserID, b.UserID}; !slices.Equal(got, want) {
		t.Fatalf("assignees %v, want %v (a=%d b=%d)", got, want, a.UserID, b.UserID)
	}
	for i := 1; i <= 4; i++ {
		d := dialogOf(t, e.inst, fmt.Sprintf("v%d", i))
		if k := systemKinds(history(t, e.inst, d.ID)); !slices.Equal(k, []string{"assigned"}) {
			t.Errorf("v%d entries %v", i, k)
		}
		if n := autoTexts(history(t, e.inst, d.ID), "operators_offline"); n != 0 {
			t.Errorf("v%d got the offline text with operators online", i)
		}
	}

	// Both offline: the dialog is queued and the offline text is sent exactly once, however
	// often the visitor writes.
	setStatus(t, a, "offline")
	setStatus(t, b, "away")
	e.message(t, "", "v5", "Visitor", "anyone?")
	settle(t, e.inst)
	e.message(t, "", "v5", "Visitor", "hello??")
	e.message(t, "", "v6", "Visitor", "hi")
	settle(t, e.inst)
	e.message(t, "", "v6", "Visitor", "hi again")
	settle(t, e.inst)
	for _, v := range []string{"v5", "v6"} {
		d := dialogOf(t, e.inst, v)
		if d.AssigneeID != nil {
			t.Fatalf("%s assigned to %d with everyone offline", v, *d.AssigneeID)
		}
		if n := autoTexts(history(t, e.inst, d.ID), "operators_offline"); n != 1 {
			t.Fatalf("%s got the offline text %d times, want 1", v, n)
		}
	}
	offlineSent := 0
	for _, s := range e.fake.Sent() {
		if s.Text == "We are offline, we will answer in the morning." {
			offlineSent++
		}
	}
	if offlineSent != 2 {
		t.Fatalf("the platform got %d offline texts for two dialogs, want 2", offlineSent)
	}

	// Capacity is raised while A is offline: nothing moves. A comes online: A gets the
	// oldest queued dialog (v5), and only that one (capacity 3 = 2 + 1).
	e.admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", a.UserID), map[string]any{"capacity": 3}, nil)
	settle(t, e.inst)
	if assignee(t, e, "v5") != 0 {
		t.Fatal("a dialog went to an offline operator")
	}
	setStatus(t, a, "online")
	settle(t, e.inst)
	if assignee(t, e, "v5") != a.UserID || assignee(t, e, "v6") != 0 {
		t.Fatalf("after A came online: v5→%d v6→%d, want v5→A(%d), v6 queued", assignee(t, e, "v5"), assignee(t, e, "v6"), a.UserID)
	}

	// B closes a dialog while away: the closing text goes out, v6 stays queued (B is away).
	e.fake.Reset()
	d2 := dialogOf(t, e.inst, "v2")
	b.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/close", d2.ID), nil, nil)
	settle(t, e.inst)
	if sent := e.fake.Sent(); len(sent) != 1 || sent[0].Text != "Thank you, bye!" || sent[0].ChatID != "v2" {
		t.Fatalf("closing text: %+v", sent)
	}
	if assignee(t, e, "v6") != 0 {
		t.Fatal("v6 went to an away operator")
	}
	setStatus(t, b, "online")
	settle(t, e.inst)
	if assignee(t, e, "v6") != b.UserID {
		t.Fatalf("v6 → %d, want B %d once B is online with a free slot", assignee(t, e, "v6"), b.UserID)
	}

	// Everyone in Support is full (A 3/3, B 2/2): v7 waits, although C (Sales) is free.
	e.message(t, "", "v7", "Visitor", "hi")
	settle(t, e.inst)
	if assignee(t, e, "v7") != 0 {
		t.Fatalf("v7 → %d, want queued (Support is full; C is in Sales)", assignee(t, e, "v7"))
	}
	if n := autoTexts(history(t, e.inst, dialogOf(t, e.inst, "v7").ID), "operators_offline"); n != 0 {
		t.Fatal("offline text sent while Support operators are online (only full)")
	}
	// C joins Support: C gets v7.
	e.admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", c.UserID), map[string]any{"department_ids": []int64{sales, support}}, nil)
	settle(t, e.inst)
	if assignee(t, e, "v7") != c.UserID {
		t.Fatalf("v7 → %d, want C %d after joining Support", assignee(t, e, "v7"), c.UserID)
	}
	// v8 and v9 wait; A frees a slot: the older one (v8) goes to A.
	e.message(t, "", "v8", "Visitor", "hi")
	settle(t, e.inst)
	e.message(t, "", "v9", "Visitor", "hi")
	settle(t, e.inst)
	a.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/close", dialogOf(t, e.inst, "v1").ID), nil, nil)
	settle(t, e.inst)
	if assignee(t, e, "v8") != a.UserID || assignee(t, e, "v9") != 0 {
		t.Fatalf("after A freed a slot: v8→%d v9→%d, want v8→A(%d), v9 queued", assignee(t, e, "v8"), assignee(t, e, "v9"), a.UserID)
	}

	// The operators list combines status with presence.
	var ops struct{ Operators []store.User }
	a.Must(t, "GET", "/api/v1/operators", nil, &ops)
	for _, u := range ops.Operators {
		if u.ID == a.UserID && (!u.Online || u.OpenDialogs != 3 || u.Capacity != 3) {
			t.Errorf("A in the list: %+v", u)
		}
	}
}

// TestAssignmentSkipsAnOperatorWithoutStream: status online alone is not presence.
func TestAssignmentNeedsPresenceAndDeactivationRequeues(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAssign: true, RecordType: "client"}, "Support")
	support := e.deps[0]
	a := e.operator(t, "a@example.com", 5, []int64{support}, true)
	sa := a.Stream(t)
	b := e.operator(t, "b@example.com", 5, []int64{support}, false)
	setStatus(t, b, "online") // online by choice, but no stream open
	for _, v := range []string{"v1", "v2"} {
		e.message(t, "", v, "Visitor", "hello")
		settle(t, e.inst)
	}
	if assignee(t, e, "v1") != a.UserID || assignee(t, e, "v2") != a.UserID {
		t.Fatalf("assignees %d %d, want both A (%d): B has no stream", assignee(t, e, "v1"), assignee(t, e, "v2"), a.UserID)
	}
	var ops struct{ Operators []store.User }
	e.admin.Must(t, "GET", "/api/v1/operators", nil, &ops)
	for _, u := range ops.Operators {
		if u.ID == b.UserID && (u.Online || u.Status != "online") {
			t.Errorf("B: status %q online %v, want status online but not online (no stream)", u.Status, u.Online)
		}
	}

	// Deactivating A returns A's dialogs to the queue with a system entry; B opens a
	// stream and gets both, oldest first.
	e.admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", a.UserID), map[string]any{"active": false}, nil)
	settle(t, e.inst)
	for _, v := range []string{"v1", "v2"} {
		d := dialogOf(t, e.inst, v)
		if d.AssigneeID != nil {
			t.Fatalf("%s still assigned to %d after deactivation", v, *d.AssigneeID)
		}
		if k := systemKinds(history(t, e.inst, d.ID)); !slices.Equal(k, []string{"assigned", "requeued"}) {
			t.Errorf("%s entries %v", v, k)
		}
	}
	sb := b.Stream(t)
	settle(t, e.inst)
	if assignee(t, e, "v1") != b.UserID || assignee(t, e, "v2") != b.UserID {
		t.Fatalf("after B came online: %d %d, want B %d", assignee(t, e, "v1"), assignee(t, e, "v2"), b.UserID)
	}
	// B closes the last stream: no longer present, so no longer given dialogs, though
	// B's own status still says online.
	sb.Close()
	apptest.Eventually(t, 10*time.Second, "B's presence to end", func() bool {
		e.admin.Must(t, "GET", "/api/v1/operators", nil, &ops)
		for _, u := range ops.Operators {
			if u.ID == b.UserID {
				return !u.Online && u.Status == "online"
			}
		}
		return false
	})
	e.message(t, "", "v3", "Visitor", "hello")
	settle(t, e.inst)
	if assignee(t, e, "v3") != 0 {
		t.Fatalf("v3 → %d, want queued: nobody has a stream open", assignee(t, e, "v3"))
	}
	// The deactivated operator's open stream ends, and the session is refused.
	for ended := false; !ended; {
		select {
		case _, ok := <-sa.C:
			ended = !ok
		case <-time.After(10 * time.Second):
			t.Fatal("the deactivated operator's stream stays open")
		}
	}
	if code, _ := a.Call(t, "GET", "/api/v1/dialogs", nil, nil); code != 401 {
		t.Errorf("deactivated operator's session: HTTP %d, want 401", code)
	}
}

// TestNewDialogDoesNotJumpTheQueue: a slot that frees up without a dispatch of its own (here
// the capacity is raised in the database behind the API's back) goes to the oldest queued
// dialog when the next new dialog arrives, not to the new one.
func TestNewDialogDoesNotJumpTheQueue(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAssign: true, RecordType: "client"}, "Support")
	a := e.operator(t, "a@example.com", 0, []int64{e.deps[0]}, true) // online, no room yet
	e.message(t, "", "old", "Old", "waiting")
	settle(t, e.inst)
	if assignee(t, e, "old") != 0 {
		t.Fatal("assigned with capacity 0")
	}
	if _, err := e.inst.Pool.Exec(context.Background(), `UPDATE users SET capacity = 1 WHERE id = $1`, a.UserID); err != nil {
		t.Fatal(err)
	}
	e.message(t, "", "new", "New", "me too")
	settle(t, e.inst)
	if assignee(t, e, "old") != a.UserID || assignee(t, e, "new") != 0 {
		t.Fatalf("old → %d, new → %d; want the oldest (old) to get the one free slot", assignee(t, e, "old"), assignee(t, e, "new"))
	}
}

// TestSwitchingAutoAssignOnHandsOutTheQueue: dialogs queued while auto-assign was off are
// handed out when an admin switches it on (at another instance than the one whose worker
// runs the dispatch, which must not act on a cached "off").
func TestSwitchingAutoAssignOnHandsOutTheQueue(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAssign: false, RecordType: "client"}, "Support")
	a := e.operator(t, "a@example.com", 5, []int64{e.deps[0]}, true)
	instB := apptest.Start(t, apptest.Options{DatabaseURL: e.inst.DatabaseURL})
	e.message(t, "", "v1", "Visitor", "hello")
	e.message(t, instB.URL, "v2", "Visitor", "hello")
	settle(t, e.inst)
	if assignee(t, e, "v1") != 0 || assignee(t, e, "v2") != 0 {
		t.Fatal("assigned with auto-assign off")
	}
	adminB := &apptest.Client{Base: instB.URL, Token: e.admin.Token, UserID: e.admin.UserID, HTTP: e.admin.HTTP}
	adminB.Must(t, "PUT", "/api/v1/settings", dialog.Settings{AutoAssign: true, RecordType: "client"}, nil)
	settle(t, e.inst)
	if assignee(t, e, "v1") != a.UserID || assignee(t, e, "v2") != a.UserID {
		t.Fatalf("after switching auto-assign on: %d %d, want A %d", assignee(t, e, "v1"), assignee(t, e, "v2"), a.UserID)
	}
}

// TestPresenceSurvivesStreamChurn: many streams of one operator opening and closing at once
// leave the presence the last one says (none open → not online, so not given dialogs).
func TestPresenceSurvivesStreamChurn(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAssign: true, RecordType: "client"})
	op := e.operator(t, "a@example.com", 5, nil, true)
	var wg sync.WaitGroup
	for range 3 {
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				op.Stream(t).Close()
			}()
		}
		wg.Wait()
	}
	// Only the stream e.operator opened is left: the presence rows must say one connection
	// (a stale count would keep the operator "present" forever, refreshed by the heartbeat).
	apptest.Eventually(t, 10*time.Second, "presence to settle at one stream", func() bool {
		var n int
		err := e.inst.Pool.QueryRow(context.Background(), `SELECT coalesce(sum(connections), 0) FROM presence WHERE user_id = $1`, op.UserID).Scan(&n)
		return err == nil && n == 1
	})
}

// TestHeartbeatRestoresExpiredPresence: another instance expired this one's presence rows
// (it stalled past the TTL) while the operator's stream stayed open; the next heartbeat
// brings the presence back and the waiting dialog is handed out.
func TestHeartbeatRestoresExpiredPresence(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAssign: true, RecordType: "client"}, "Support")
	a := e.operator(t, "a@example.com", 5, []int64{e.deps[0]}, true)
	ctx := context.Background()
	if _, err := e.inst.Pool.Exec(ctx, `DELETE FROM presence WHERE user_id = $1`, a.UserID); err != nil {
		t.Fatal(err)
	}
	e.message(t, "", "v1", "Visitor", "hello")
	settle(t, e.inst)
	if assignee(t, e, "v1") != 0 {
		t.Fatal("assigned without presence")
	}
	// A new visitor, nobody present: with the texts empty (= off) nothing is sent.
	if sent := e.fake.Sent(); len(sent) != 0 {
		t.Fatalf("automatic texts sent while switched off: %+v", sent)
	}
	if err := e.inst.App.Hub.RefreshPresence(ctx); err != nil {
		t.Fatal(err)
	}
	settle(t, e.inst)
	if assignee(t, e, "v1") != a.UserID {
		t.Fatalf("after the heartbeat: v1 → %d, want A %d", assignee(t, e, "v1"), a.UserID)
	}
}

// TestDeletingADepartmentHandsOutItsQueue: its queued dialogs lose the department and go to
// any free operator.
func TestDeletingADepartmentHandsOutItsQueue(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAssign: true, RecordType: "client"}, "Night shift")
	a := e.operator(t, "a@example.com", 5, nil, true) // in no department
	e.message(t, "", "v1", "Visitor", "hello")
	settle(t, e.inst)
	if assignee(t, e, "v1") != 0 {
		t.Fatal("a Night shift dialog went to an operator outside it")
	}
	e.admin.Must(t, "DELETE", apptest.Path("/api/v1/departments/%d", e.deps[0]), nil, nil)
	settle(t, e.inst)
	if d := dialogOf(t, e.inst, "v1"); id(d.AssigneeID) != a.UserID || d.DepartmentID != nil {
		t.Fatalf("after deleting the department: assignee %v department %v, want A and none", d.AssigneeID, d.DepartmentID)
	}
}
