package baselogic

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/store"
)

type pushed struct {
	Kind     string `json:"k"`
	DialogID int64  `json:"d"`
	Assignee *int64 `json:"a"`
	UserID   int64  `json:"u"`
}

func decode(t *testing.T, ev apptest.Event) pushed {
	t.Helper()
	var p pushed
	if err := json.Unmarshal(ev.Data, &p); err != nil {
		t.Fatalf("event %s: %v", ev.Data, err)
	}
	p.Kind = ev.Kind
	return p
}

// nextAbout waits for an event of kind about dialog d (skipping others).
func nextAbout(t *testing.T, s *apptest.Stream, kind string, d int64) pushed {
	t.Helper()
	for {
		p := decode(t, s.Next(t, kind, 10*time.Second))
		if p.DialogID == d {
			return p
		}
	}
}

// dataOf returns the data of the last system entry of kind.
func dataOf(t *testing.T, ms []store.Message, kind string) map[string]any {
	t.Helper()
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Direction == "system" && ms[i].Kind == kind {
			var m map[string]any
			if err := json.Unmarshal(ms[i].Data, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("no %s entry", kind)
	return nil
}

func TestTransferShareCloseReopen(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAssign: true, RecordType: "client", FirstContactText: "Hi! An operator will answer shortly.", ClosingText: "Bye!"}, "Support", "Sales")
	support, sales := e.deps[0], e.deps[1]
	a := e.operator(t, "a@example.com", 5, []int64{support}, true)
	b := e.operator(t, "b@example.com", 5, []int64{support}, false)
	c := e.operator(t, "c@example.com", 5, []int64{sales}, false)
	sa, sb, sc := a.Stream(t), b.Stream(t), c.Stream(t)
	setStatus(t, b, "away") // B answers by hand only

	e.message(t, "", "v1", "Maria", "hello")
	settle(t, e.inst)
	d := dialogOf(t, e.inst, "v1")
	if id(d.AssigneeID) != a.UserID {
		t.Fatalf("assigned to %v, want A", d.AssigneeID)
	}
	path := func(action string) string { return apptest.Path("/api/v1/dialogs/%d/%s", d.ID, action) }

	// Transfer to an operator with a comment: system entry, events to the new and former.
	a.Must(t, "POST", path("transfer"), map[string]any{"user_id": b.UserID, "comment": "VIP, wants a refund"}, nil)
	for p := nextAbout(t, sb, "dialog.updated", d.ID); id(p.Assignee) != b.UserID; p = nextAbout(t, sb, "dialog.updated", d.ID) {
	}
	for p := nextAbout(t, sa, "dialog.updated", d.ID); id(p.Assignee) != b.UserID; p = nextAbout(t, sa, "dialog.updated", d.ID) {
	}
	ms := history(t, e.inst, d.ID)
	if tr := dataOf(t, ms, "transferred"); tr["comment"] != "VIP, wants a refund" || tr["to"] != float64(b.UserID) || tr["from"] != float64(a.UserID) {
		t.Fatalf("transfer entry %v", tr)
	}
	if id(dialogOf(t, e.inst, "v1").AssigneeID) != b.UserID {
		t.Fatal("not transferred")
	}
	if code, _ := a.Call(t, "POST", path("take"), nil, nil); code != 409 {
		t.Errorf("A takes B's dialog back: HTTP %d, want 409", code)
	}

	// Shared dialog: B invites C from another department; both see and answer it; C leaves.
	if code, _ := c.Call(t, "GET", apptest.Path("/api/v1/dialogs/%d", d.ID), nil, nil); code != 404 {
		t.Fatalf("C sees a Support dialog before the invitation: HTTP %d", code)
	}
	b.Must(t, "POST", path("invite"), map[string]any{"user_id": c.UserID}, nil)
	nextAbout(t, sc, "dialog.updated", d.ID)
	var list struct{ Dialogs []store.Dialog }
	c.Must(t, "GET", "/api/v1/dialogs?assigned=me", nil, &list)
	if len(list.Dialogs) != 1 || list.Dialogs[0].ID != d.ID || !slices.Contains(list.Dialogs[0].Participants, c.UserID) {
		t.Fatalf("C's dialogs %+v", list.Dialogs)
	}
	c.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages", d.ID), map[string]any{"text": "Sales here: the refund is approved"}, nil)
	b.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages", d.ID), map[string]any{"text": "Done, anything else?"}, nil)
	if code, _ := c.Call(t, "POST", path("leave"), map[string]any{"user_id": b.UserID}, nil); code != 403 {
		t.Errorf("C removes B: HTTP %d, want 403", code)
	}
	c.Must(t, "POST", path("leave"), nil, nil)
	if code, _ := c.Call(t, "GET", apptest.Path("/api/v1/dialogs/%d", d.ID), nil, nil); code != 404 {
		t.Errorf("C still sees the dialog after leaving: HTTP %d", code)
	}
	if code, _ := c.Call(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages", d.ID), map[string]any{"text": "x"}, nil); code != 404 {
		t.Errorf("C answers after leaving: HTTP %d, want 404", code)
	}

	// Transfer to a department: queued there, handed to its online operator (C), and gone
	// from B's view.
	setStatus(t, c, "online")
	b.Must(t, "POST", path("transfer"), map[string]any{"department_id": sales, "comment": "billing question"}, nil)
	settle(t, e.inst)
	if got := dialogOf(t, e.inst, "v1"); id(got.AssigneeID) != c.UserID || id(got.DepartmentID) != sales {
		t.Fatalf("after transfer to Sales: assignee %v department %v, want C in Sales", got.AssigneeID, got.DepartmentID)
	}
	if code, _ := b.Call(t, "GET", apptest.Path("/api/v1/dialogs/%d", d.ID), nil, nil); code != 404 {
		t.Errorf("B still sees a dialog moved to Sales: HTTP %d", code)
	}
	if code, _ := b.Call(t, "POST", path("transfer"), map[string]any{"user_id": b.UserID, "department_id": sales}, nil); code != 404 && code != 422 {
		t.Errorf("transfer with both targets: HTTP %d", code)
	}
	if code, _ := c.Call(t, "POST", path("transfer"), map[string]any{"department_id": 99999}, nil); code != 422 {
		t.Errorf("transfer to a missing department: HTTP %d, want 422", code)
	}

	// Close: the closing text is sent; the visitor writing again opens a new dialog of the
	// same visitor, without a second first-contact text.
	e.fake.Reset()
	c.Must(t, "POST", path("close"), nil, nil)
	settle(t, e.inst)
	if sent := e.fake.Sent(); len(sent) != 1 || sent[0].Text != "Bye!" {
		t.Fatalf("sent on close: %+v", sent)
	}
	if code, _ := c.Call(t, "POST", path("close"), nil, nil); code != 409 {
		t.Errorf("closing twice: HTTP %d, want 409", code)
	}
	ms = history(t, e.inst, d.ID)
	if k := systemKinds(ms); !slices.Equal(k, []string{"assigned", "transferred", "invited", "left", "transferred", "assigned", "closed"}) {
		t.Errorf("history %v", k)
	}
	if autoTexts(ms, "first_contact") != 1 || autoTexts(ms, "closing") != 1 {
		t.Errorf("auto texts: first contact %d, closing %d", autoTexts(ms, "first_contact"), autoTexts(ms, "closing"))
	}
	e.message(t, "", "v1", "Maria", "one more question")
	settle(t, e.inst)
	d2 := dialogOf(t, e.inst, "v1")
	if d2.ID == d.ID || d2.Status != "open" || d2.VisitorID != d.VisitorID {
		t.Fatalf("after close: dialog %d (%s) of visitor %d, want a new open one of visitor %d", d2.ID, d2.Status, d2.VisitorID, d.VisitorID)
	}
	if n := autoTexts(history(t, e.inst, d2.ID), "first_contact"); n != 0 {
		t.Errorf("first-contact text repeated in the second dialog")
	}
	var again struct{ Dialogs []store.Dialog }
	e.admin.Must(t, "GET", "/api/v1/dialogs?q=Maria", nil, &again)
	if len(again.Dialogs) != 2 {
		t.Errorf("the visitor's history: %d dialogs, want 2", len(again.Dialogs))
	}
}

func TestAutoCloseAfterIdleInterval(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAssign: true, RecordType: "client", AutoCloseMinutes: 30, ClosingText: "Closed for inactivity"}, "Support")
	a := e.operator(t, "a@example.com", 5, []int64{e.deps[0]}, true)
	s := a.Stream(t)
	e.message(t, "", "idle", "Idle", "hello")
	e.message(t, "", "busy", "Busy", "hello")
	settle(t, e.inst)
	idle, busy := dialogOf(t, e.inst, "idle"), dialogOf(t, e.inst, "busy")
	ctx := context.Background()
	// Move the idle dialog's last activity back; the other dialog stays fresh.
	if _, err := e.inst.Pool.Exec(ctx, `UPDATE dialogs SET last_activity_at = now() - interval '29 minutes' WHERE id = $1`, idle.ID); err != nil {
		t.Fatal(err)
	}
	svc := e.inst.App.Dialogs
	if n, err := svc.AutoClose(ctx); err != nil || n != 0 {
		t.Fatalf("auto-close at 29 minutes: %d closed (%v), want 0", n, err)
	}
	// Two minutes later by the service's clock: idle for 31 minutes.
	e.fake.Reset()
	if n, err := svc.AutoCloseAt(ctx, time.Now().Add(2*time.Minute)); err != nil || n != 1 {
		t.Fatalf("auto-close at 31 minutes: %d closed (%v), want 1", n, err)
	}
	nextAbout(t, s, "dialog.updated", idle.ID)
	settle(t, e.inst)
	if got := dialogOf(t, e.inst, "idle"); got.Status != "closed" {
		t.Fatalf("idle dialog %s", got.Status)
	}
	if got := dialogOf(t, e.inst, "busy"); got.Status != "open" || got.ID != busy.ID {
		t.Fatalf("busy dialog %s", got.Status)
	}
	ms := history(t, e.inst, idle.ID)
	if cl := dataOf(t, ms, "closed"); cl["auto"] != true {
		t.Errorf("closed entry %v", cl)
	}
	if sent := e.fake.Sent(); len(sent) != 1 || sent[0].Text != "Closed for inactivity" || sent[0].ChatID != "idle" {
		t.Errorf("sent %+v", sent)
	}
	// An automatic text is nobody's activity and reads nothing.
	if got := dialogOf(t, e.inst, "busy"); got.Unread != 1 {
		t.Errorf("busy dialog unread %d, want 1", got.Unread)
	}
	// The periodic River job does the same: a dialog idle for 31 minutes by the real clock
	// is closed when the job runs (inserted here rather than waiting for its minute).
	e.message(t, "", "old", "Old", "hello")
	settle(t, e.inst)
	old := dialogOf(t, e.inst, "old")
	if _, err := e.inst.Pool.Exec(ctx, `UPDATE dialogs SET last_activity_at = now() - interval '31 minutes' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.inst.App.River.Insert(ctx, dialog.AutoCloseArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, 10*time.Second, "the auto-close job", func() bool { return dialogOf(t, e.inst, "old").Status == "closed" })
	if got := dialogOf(t, e.inst, "busy"); got.Status != "open" {
		t.Fatal("the job closed an active dialog")
	}
	// 0 = off.
	e.putSettings(t, dialog.Settings{AutoAssign: true, RecordType: "client", AutoCloseMinutes: 0})
	if n, err := svc.AutoCloseAt(ctx, time.Now().Add(24*time.Hour)); err != nil || n != 0 {
		t.Errorf("auto-close off: %d closed (%v)", n, err)
	}
}

// noEventAbout reads s up to the next operator.updated event (a marker every operator
// receives) and fails if any event before it was about dialog d. Notifications reach every
// stream in commit order, so the marker proves the earlier events were filtered, not late.
func noEventAbout(t *testing.T, s *apptest.Stream, d int64) {
	t.Helper()
	for {
		select {
		case ev, ok := <-s.C:
			if !ok {
				t.Fatal("stream closed")
			}
			p := decode(t, ev)
			if p.DialogID == d {
				t.Fatalf("event %s about dialog %d reached an operator who may not see it", ev.Kind, d)
			}
			if ev.Kind == "operator.updated" {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no marker event")
		}
	}
}

func TestVisibilityListAndStream(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAssign: false, RecordType: "client"}, "Support", "Sales")
	support, sales := e.deps[0], e.deps[1]
	a := e.operator(t, "a@example.com", 5, []int64{support}, true)
	b := e.operator(t, "b@example.com", 5, []int64{sales}, true)
	sa, sb := a.Stream(t), b.Stream(t)
	marker := func() {
		e.admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", e.admin.UserID), map[string]any{"name": "Admin " + strconv.FormatInt(time.Now().UnixNano(), 36)}, nil)
	}

	e.message(t, "", "v1", "Queued", "hello")
	d := decode(t, sa.Next(t, "dialog.created", 10*time.Second)).DialogID
	settle(t, e.inst)
	marker()
	noEventAbout(t, sb, d)

	// The queue: A (Support) sees it, B (Sales) does not, by any route.
	var list struct{ Dialogs []store.Dialog }
	a.Must(t, "GET", "/api/v1/dialogs?assigned=none", nil, &list)
	if len(list.Dialogs) != 1 || list.Dialogs[0].ID != d {
		t.Fatalf("A's queue %+v", list.Dialogs)
	}
	for _, q := range []string{"", "?assigned=none", "?status=open", "?q=Queued", "?q=hello"} {
		b.Must(t, "GET", "/api/v1/dialogs"+q, nil, &list)
		if len(list.Dialogs) != 0 {
			t.Errorf("B lists %s: %d dialogs, want none", q, len(list.Dialogs))
		}
	}
	denied := []struct{ method, path string }{
		{"GET", "/api/v1/dialogs/%d"}, {"GET", "/api/v1/dialogs/%d/messages"}, {"POST", "/api/v1/dialogs/%d/messages"},
		{"POST", "/api/v1/dialogs/%d/take"}, {"POST", "/api/v1/dialogs/%d/close"}, {"POST", "/api/v1/dialogs/%d/invite"},
		{"POST", "/api/v1/dialogs/%d/transfer"}, {"POST", "/api/v1/dialogs/%d/client"}, {"POST", "/api/v1/dialogs/%d/leave"},
	}
	for _, r := range denied {
		if code, raw := b.Call(t, r.method, apptest.Path(r.path, d), map[string]any{"text": "x", "user_id": b.UserID}, nil); code != 404 {
			t.Errorf("B %s %s: HTTP %d %s, want 404", r.method, r.path, code, raw)
		}
	}
	// The client record is seen through its dialogs: A sees it with the dialog, B not at all.
	var cl store.Client
	e.admin.Must(t, "POST", "/api/v1/clients", map[string]any{"name": "Queued"}, &cl)
	e.admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/client", d), map[string]any{"client_id": cl.ID}, nil)
	var view clientView
	a.Must(t, "GET", apptest.Path("/api/v1/clients/%d", cl.ID), nil, &view)
	if len(view.Dialogs) != 1 {
		t.Errorf("A sees %d dialogs of the client, want 1", len(view.Dialogs))
	}
	if code, raw := b.Call(t, "GET", apptest.Path("/api/v1/clients/%d", cl.ID), nil, nil); code != 404 {
		t.Errorf("B reads the client of a dialog it may not see: HTTP %d %s, want 404", code, raw)
	}
	var all struct{ Dialogs []store.Dialog }
	e.admin.Must(t, "GET", "/api/v1/dialogs", nil, &all)
	if len(all.Dialogs) != 1 {
		t.Errorf("admin sees %d dialogs, want 1", len(all.Dialogs))
	}

	// A takes it; A invites B: B sees it (list and stream) until B leaves.
	a.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/take", d), nil, nil)
	a.Must(t, "GET", "/api/v1/dialogs?assigned=me", nil, &list)
	if len(list.Dialogs) != 1 || id(list.Dialogs[0].AssigneeID) != a.UserID {
		t.Fatalf("A's dialogs %+v", list.Dialogs)
	}
	marker()
	noEventAbout(t, sb, d)
	a.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/invite", d), map[string]any{"user_id": b.UserID}, nil)
	nextAbout(t, sb, "dialog.updated", d)
	e.message(t, "", "v1", "Queued", "are you there?")
	nextAbout(t, sb, "message.created", d)
	b.Must(t, "GET", "/api/v1/dialogs?assigned=me", nil, &list)
	if len(list.Dialogs) != 1 || list.Dialogs[0].ID != d {
		t.Fatalf("B's shared dialogs %+v", list.Dialogs)
	}
	b.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/leave", d), nil, nil)
	if p := nextAbout(t, sb, "dialog.updated", d); p.UserID != b.UserID {
		t.Fatalf("B's last event about the dialog %+v, want one addressed to B", p)
	}
	e.message(t, "", "v1", "Queued", "hello?")
	nextAbout(t, sa, "message.created", d)
	marker()
	noEventAbout(t, sb, d)

	// Moving B into Support shows B the department's dialogs; moving B out hides them
	// again, in the list and on the already open stream.
	e.admin.Must(t, "PUT", apptest.Path("/api/v1/departments/%d", support), map[string]any{"name": "Support", "members": []int64{a.UserID, b.UserID}}, nil)
	b.Must(t, "GET", "/api/v1/dialogs", nil, &list)
	if len(list.Dialogs) != 1 {
		t.Fatalf("B in Support lists %d dialogs, want 1", len(list.Dialogs))
	}
	e.message(t, "", "v1", "Queued", "still here")
	nextAbout(t, sb, "message.created", d)
	e.admin.Must(t, "PUT", apptest.Path("/api/v1/departments/%d", support), map[string]any{"name": "Support", "members": []int64{a.UserID}}, nil)
	e.message(t, "", "v1", "Queued", "and now?")
	nextAbout(t, sa, "message.created", d)
	marker()
	noEventAbout(t, sb, d)
	_ = sales
}

func TestAdminOnlyWritesDepartmentsSettings(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAssign: true, RecordType: "client"})
	op := e.operator(t, "op@example.com", 4, nil, false)
	other := e.operator(t, "other@example.com", 4, nil, false)

	// Departments: name, sort order, members; listed in sort order.
	var sales, support store.Department
	e.admin.Must(t, "POST", "/api/v1/departments", map[string]any{"name": "Sales", "sort": 2, "members": []int64{op.UserID}}, &sales)
	e.admin.Must(t, "POST", "/api/v1/departments", map[string]any{"name": "Support", "sort": 1, "members": []int64{op.UserID, other.UserID, other.UserID}}, &support)
	var deps struct{ Departments []store.Department }
	op.Must(t, "GET", "/api/v1/departments", nil, &deps)
	if len(deps.Departments) != 2 || deps.Departments[0].Name != "Support" || !slices.Equal(deps.Departments[0].Members, []int64{op.UserID, other.UserID}) ||
		deps.Departments[1].Name != "Sales" {
		t.Fatalf("departments %+v", deps.Departments)
	}
	if code, _ := e.admin.Call(t, "POST", "/api/v1/departments", map[string]any{"name": " "}, nil); code != 422 {
		t.Errorf("department without a name: HTTP %d, want 422", code)
	}
	if code, _ := e.admin.Call(t, "PUT", apptest.Path("/api/v1/departments/%d", sales.ID), map[string]any{"name": "Sales", "members": []int64{424242}}, nil); code != 422 {
		t.Errorf("unknown member: HTTP %d, want 422", code)
	}

	// An operator may set their own status (not capacity) and read everything.
	op.Must(t, "PUT", "/api/v1/operators/me", map[string]any{"status": "away"}, nil)
	if code, _ := op.Call(t, "PUT", "/api/v1/operators/me", map[string]any{"status": "busy"}, nil); code != 422 {
		t.Errorf("bad status: HTTP %d, want 422", code)
	}
	writes := []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/departments", map[string]any{"name": "X"}},
		{"PUT", apptest.Path("/api/v1/departments/%d", sales.ID), map[string]any{"name": "X"}},
		{"DELETE", apptest.Path("/api/v1/departments/%d", sales.ID), nil},
		{"POST", "/api/v1/operators", map[string]any{"email": "new@example.com"}},
		{"PUT", "/api/v1/operators/me", map[string]any{"capacity": 50}},
		{"PUT", "/api/v1/operators/me", map[string]any{"department_ids": []int64{sales.ID}}},
		{"PUT", apptest.Path("/api/v1/operators/%d", other.UserID), map[string]any{"status": "offline"}},
		{"PUT", apptest.Path("/api/v1/operators/%d", other.UserID), map[string]any{"active": false}},
		{"GET", "/api/v1/settings", nil},
		{"PUT", "/api/v1/settings", map[string]any{"auto_assign": false}},
		{"POST", "/api/v1/clients/1/merge", map[string]any{"from": 2}},
		{"POST", "/api/v1/channels", map[string]any{"kind": "example"}},
	}
	for _, w := range writes {
		if code, raw := op.Call(t, w.method, w.path, w.body, nil); code != 403 {
			t.Errorf("operator %s %s: HTTP %d %s, want 403", w.method, w.path, code, raw)
		}
	}
	var cap struct{ Operators []store.User }
	e.admin.Must(t, "GET", "/api/v1/operators", nil, &cap)
	for _, u := range cap.Operators {
		if u.ID == op.UserID && (u.Capacity != 4 || u.Status != "away" || !slices.Equal(u.DepartmentIDs, []int64{sales.ID, support.ID})) {
			t.Errorf("operator after denied writes: %+v", u)
		}
	}

	// Settings: all base-logic settings round-trip; invalid ones are refused.
	want := dialog.Settings{AutoAdd: true, RecordType: "contact", AutoAssign: true, AutoCloseMinutes: 45, FirstContactText: "Hi", OfflineText: "Offline", ClosingText: "Bye", DefaultCapacity: 7}
	e.admin.Must(t, "PUT", "/api/v1/settings", want, nil)
	var got dialog.Settings
	e.admin.Must(t, "GET", "/api/v1/settings", nil, &got)
	if got != want {
		t.Fatalf("settings %+v, want %+v", got, want)
	}
	for _, bad := range []map[string]any{{"record_type": "lead"}, {"auto_close_minutes": -1}, {"default_capacity": 5000}, {"offline_text": strings.Repeat("x", 5000)}} {
		if code, _ := e.admin.Call(t, "PUT", "/api/v1/settings", bad, nil); code != 422 {
			t.Errorf("settings %v: HTTP %d, want 422", bad, code)
		}
	}
	// A new operator gets the default capacity.
	var created struct{ Operator store.User }
	e.admin.Must(t, "POST", "/api/v1/operators", map[string]any{"email": "fresh@example.com", "department_ids": []int64{support.ID}}, &created)
	if created.Operator.Capacity != 7 {
		t.Errorf("new operator capacity %d, want the default 7", created.Operator.Capacity)
	}
	// Deleting a department frees its channel and dialogs from it.
	e.admin.Must(t, "DELETE", apptest.Path("/api/v1/departments/%d", sales.ID), nil, nil)
	op.Must(t, "GET", "/api/v1/departments", nil, &deps)
	if len(deps.Departments) != 1 {
		t.Errorf("after delete: %+v", deps.Departments)
	}
}
