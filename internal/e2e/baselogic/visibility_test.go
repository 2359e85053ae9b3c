package baselogic

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/store"
)

// TestClientVisibilityFollowsDialogs: an operator sees a client record when they may see
// one of its dialogs, and of its visitors only those whose dialogs they may see; a record
// with no dialog at all is everyone's; admins see everything. An invisible record is "not
// found" for reading, searching and writing.
func TestClientVisibilityFollowsDialogs(t *testing.T) {
	e := newEnv(t, dialog.Settings{RecordType: "client"}, "Support", "Sales", "Billing")
	support, sales, billing := e.deps[0], e.deps[1], e.deps[2]
	sup := e.operator(t, "sup@example.com", 5, []int64{support}, false)
	sal := e.operator(t, "sal@example.com", 5, []int64{sales}, false)
	bil := e.operator(t, "bil@example.com", 5, []int64{billing}, false)

	// Two visitors of one client: u1's dialog stays in Support, u2's goes to Sales.
	e.message(t, "", "u1", "Ivan", "hello")
	e.message(t, "", "u2", "Ivan (work)", "hello")
	settle(t, e.inst)
	d1, d2 := dialogOf(t, e.inst, "u1"), dialogOf(t, e.inst, "u2")
	e.admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/transfer", d2.ID), map[string]any{"department_id": sales}, nil)
	var c store.Client
	e.admin.Must(t, "POST", "/api/v1/clients", map[string]any{"name": "Ivan Sidorov", "phones": []string{"+79161112233"}, "note": "secret note"}, &c)
	for _, d := range []int64{d1.ID, d2.ID} {
		e.admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/client", d), map[string]any{"client_id": c.ID}, nil)
	}
	cPath := apptest.Path("/api/v1/clients/%d", c.ID)

	externals := func(vs []store.Visitor) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.ExternalID)
		}
		slices.Sort(out)
		return out
	}
	dialogIDs := func(ds []store.Dialog) []int64 {
		var out []int64
		for _, d := range ds {
			out = append(out, d.ID)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		who      string
		cl       *apptest.Client
		visitors []string
		dialogs  []int64
	}{
		{"admin", e.admin, []string{"u1", "u2"}, []int64{d1.ID, d2.ID}},
		{"support", sup, []string{"u1"}, []int64{d1.ID}},
		{"sales", sal, []string{"u2"}, []int64{d2.ID}},
	} {
		var got clientView
		tc.cl.Must(t, "GET", cPath, nil, &got)
		if got.Client.ID != c.ID || !slices.Equal(externals(got.Visitors), tc.visitors) || !slices.Equal(dialogIDs(got.Dialogs), tc.dialogs) {
			t.Errorf("%s reads visitors %v dialogs %v, want %v %v", tc.who, externals(got.Visitors), dialogIDs(got.Dialogs), tc.visitors, tc.dialogs)
		}
		var res struct{ Clients []store.Client }
		tc.cl.Must(t, "GET", "/api/v1/clients?q=sidorov", nil, &res)
		if len(res.Clients) != 1 || res.Clients[0].ID != c.ID {
			t.Errorf("%s searches: %+v", tc.who, res.Clients)
		}
	}

	// Billing sees none of the dialogs: the record does not exist for it.
	if code, raw := bil.Call(t, "GET", cPath, nil, nil); code != 404 {
		t.Errorf("billing reads another department's client: HTTP %d %s, want 404", code, raw)
	}
	for _, q := range []string{"sidorov", "8 916 111-22-33", ""} {
		var res struct{ Clients []store.Client }
		bil.Must(t, "GET", "/api/v1/clients?q="+urlq(q), nil, &res)
		for _, x := range res.Clients {
			if x.ID == c.ID {
				t.Errorf("billing finds another department's client with %q", q)
			}
		}
	}
	if code, raw := bil.Call(t, "PUT", cPath, map[string]any{"name": "hijacked"}, nil); code != 404 {
		t.Errorf("billing rewrites another department's client: HTTP %d %s, want 404", code, raw)
	}
	var after clientView
	e.admin.Must(t, "GET", cPath, nil, &after)
	if after.Client.Name != "Ivan Sidorov" || after.Client.Note != "secret note" {
		t.Errorf("the record changed: %+v", after.Client)
	}
	// Support may write the record it sees.
	sup.Must(t, "PUT", cPath, map[string]any{"name": "Ivan S.", "phones": []string{"+79161112233"}, "note": "secret note"}, nil)

	// A record with no dialog is everyone's (an operator creates one, then links it).
	var own store.Client
	bil.Must(t, "POST", "/api/v1/clients", map[string]any{"name": "New lead"}, &own)
	bil.Must(t, "GET", apptest.Path("/api/v1/clients/%d", own.ID), nil, nil)
	sup.Must(t, "PUT", apptest.Path("/api/v1/clients/%d", own.ID), map[string]any{"name": "New lead 2"}, nil)

	// Linking: Support may not link its dialog to a record it cannot see (the same answer
	// as for a record that does not exist), and may link to one it sees.
	var salesOnly store.Client
	e.admin.Must(t, "POST", "/api/v1/clients", map[string]any{"name": "Sales only"}, &salesOnly)
	e.message(t, "", "u3", "Petr", "hi")
	settle(t, e.inst)
	e.admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/transfer", dialogOf(t, e.inst, "u3").ID), map[string]any{"department_id": sales}, nil)
	e.admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/client", dialogOf(t, e.inst, "u3").ID), map[string]any{"client_id": salesOnly.ID}, nil)
	code, hidden := sup.Call(t, "POST", apptest.Path("/api/v1/dialogs/%d/client", d1.ID), map[string]any{"client_id": salesOnly.ID}, nil)
	_, missing := sup.Call(t, "POST", apptest.Path("/api/v1/dialogs/%d/client", d1.ID), map[string]any{"client_id": 999999}, nil)
	if code != 422 || !strings.Contains(string(hidden), "not found") || strings.Replace(string(missing), "999999", fmt.Sprint(salesOnly.ID), 1) != string(hidden) {
		t.Errorf("support links its dialog to a hidden client: HTTP %d %s (a missing one: %s)", code, hidden, missing)
	}
	if id(dialogOf(t, e.inst, "u1").Visitor.ClientID) != c.ID {
		t.Errorf("the refused link changed the visitor's client")
	}
	sup.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/client", d1.ID), map[string]any{"client_id": own.ID}, nil)
}

// TestTransferToSelfFollowsTake: an operator who may not take a colleague's dialog may not
// transfer it to themselves either; a queued dialog and an admin are not refused.
func TestTransferToSelfFollowsTake(t *testing.T) {
	e := newEnv(t, dialog.Settings{RecordType: "client"}, "Support")
	support := e.deps[0]
	a := e.operator(t, "a@example.com", 5, []int64{support}, false)
	b := e.operator(t, "b@example.com", 5, []int64{support}, false)
	e.message(t, "", "v1", "Visitor", "hello")
	settle(t, e.inst)
	d := dialogOf(t, e.inst, "v1")
	path := func(action string) string { return apptest.Path("/api/v1/dialogs/%d/%s", d.ID, action) }

	// Queued: b may transfer it to themselves (as they may take it), then a may not.
	b.Must(t, "POST", path("transfer"), map[string]any{"user_id": b.UserID}, nil)
	if got := id(dialogOf(t, e.inst, "v1").AssigneeID); got != b.UserID {
		t.Fatalf("assignee %d, want b=%d", got, b.UserID)
	}
	if code, raw := a.Call(t, "POST", path("take"), nil, nil); code != 409 {
		t.Fatalf("take a colleague's dialog: HTTP %d %s, want 409", code, raw)
	}
	before := len(history(t, e.inst, d.ID))
	if code, raw := a.Call(t, "POST", path("transfer"), map[string]any{"user_id": a.UserID}, nil); code != 409 {
		t.Errorf("transfer a colleague's dialog to oneself: HTTP %d %s, want 409", code, raw)
	}
	if got := id(dialogOf(t, e.inst, "v1").AssigneeID); got != b.UserID {
		t.Errorf("assignee %d after the refused transfer, want b=%d", got, b.UserID)
	}
	if n := len(history(t, e.inst, d.ID)); n != before {
		t.Errorf("the refused transfer wrote %d history entries", n-before)
	}
	// b may still hand it to a, and an admin may take it for themselves.
	b.Must(t, "POST", path("transfer"), map[string]any{"user_id": a.UserID}, nil)
	e.admin.Must(t, "POST", path("transfer"), map[string]any{"user_id": e.admin.UserID}, nil)
	if got := id(dialogOf(t, e.inst, "v1").AssigneeID); got != e.admin.UserID {
		t.Errorf("assignee %d, want the admin %d", got, e.admin.UserID)
	}
}
