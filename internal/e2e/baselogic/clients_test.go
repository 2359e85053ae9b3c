package baselogic

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/example"
)

type clientView struct {
	Client   store.Client    `json:"client"`
	Visitors []store.Visitor `json:"visitors"`
	Dialogs  []store.Dialog  `json:"dialogs"`
}

func TestClientBaseCRUDSearchLinkMerge(t *testing.T) {
	e := newEnv(t, dialog.Settings{RecordType: "client"})
	op := e.operator(t, "op@example.com", 10, nil, false)

	// Create: several phones (local and foreign formats), emails, note, custom fields.
	var a store.Client
	op.Must(t, "POST", "/api/v1/clients", map[string]any{"name": "Anna Petrova", "phones": []string{"8 (916) 123-45-67", "+1 415 555 2671", "+7 916 123 45 67"},
		"emails": []string{" Anna@Example.COM "}, "note": "prefers mornings", "custom": map[string]any{"vip": true, "inn": "7701"}}, &a)
	if !slices.Equal(a.Phones, []string{"+79161234567", "+14155552671"}) || !slices.Equal(a.Emails, []string{"anna@example.com"}) || a.Type != "client" {
		t.Fatalf("created %+v", a)
	}
	for _, bad := range []map[string]any{{"phones": []string{"not a phone"}}, {"emails": []string{"nobody"}}, {"type": "lead"}, {"custom": []int{1}}} {
		if code, raw := op.Call(t, "POST", "/api/v1/clients", bad, nil); code != 422 {
			t.Errorf("create %v: HTTP %d %s, want 422", bad, code, raw)
		}
	}
	// Update replaces the fields.
	var upd store.Client
	op.Must(t, "PUT", apptest.Path("/api/v1/clients/%d", a.ID), map[string]any{"type": "contact", "name": "Anna P.", "phones": []string{"89161234567", "+7 495 123-45-67"},
		"emails": []string{"anna@example.com"}, "note": "n2", "custom": map[string]any{"vip": false}}, &upd)
	var got clientView
	op.Must(t, "GET", apptest.Path("/api/v1/clients/%d", a.ID), nil, &got)
	if got.Client.Type != "contact" || got.Client.Name != "Anna P." || !slices.Equal(got.Client.Phones, []string{"+79161234567", "+74951234567"}) ||
		got.Client.Note != "n2" || string(got.Client.Custom) != `{"vip":false}` {
		t.Fatalf("read after update %+v custom %s", got.Client, got.Client.Custom)
	}
	// Search: by a phone in another format, by a name part, by email.
	for _, q := range []string{"8 916 123-45-67", "+7 (495) 123 45 67", "anna p", "ANNA@example"} {
		var res struct{ Clients []store.Client }
		op.Must(t, "GET", "/api/v1/clients?q="+urlq(q), nil, &res)
		if len(res.Clients) != 1 || res.Clients[0].ID != a.ID {
			t.Errorf("search %q: %+v", q, res.Clients)
		}
	}

	// Link and unlink a visitor by hand: a system entry each time.
	e.message(t, "", "u-link", "Olga", "hello")
	settle(t, e.inst)
	d := dialogOf(t, e.inst, "u-link")
	if d.Visitor.ClientID != nil {
		t.Fatalf("auto-add is off but the visitor has client %d", *d.Visitor.ClientID)
	}
	admin := e.admin
	admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/client", d.ID), map[string]any{"client_id": a.ID}, nil)
	if d = dialogOf(t, e.inst, "u-link"); id(d.Visitor.ClientID) != a.ID {
		t.Fatalf("linked client %v, want %d", d.Visitor.ClientID, a.ID)
	}
	op.Must(t, "GET", apptest.Path("/api/v1/clients/%d", a.ID), nil, &got)
	if len(got.Visitors) != 1 || got.Visitors[0].ExternalID != "u-link" || len(got.Dialogs) != 1 || got.Dialogs[0].ID != d.ID {
		t.Fatalf("client view after link: visitors %+v dialogs %d", got.Visitors, len(got.Dialogs))
	}
	admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/client", d.ID), map[string]any{"client_id": 0}, nil)
	if d = dialogOf(t, e.inst, "u-link"); d.Visitor.ClientID != nil {
		t.Fatalf("unlink left client %d", *d.Visitor.ClientID)
	}
	if code, _ := admin.Call(t, "POST", apptest.Path("/api/v1/dialogs/%d/client", d.ID), map[string]any{"client_id": 999999}, nil); code != 422 {
		t.Errorf("link to a missing client: HTTP %d, want 422", code)
	}
	if k := systemKinds(history(t, e.inst, d.ID)); !slices.Equal(k, []string{"client_linked", "client_linked"}) {
		t.Errorf("system entries %v", k)
	}

	// Merge: B (with its visitor and dialog) into A. Operators may not merge.
	var b store.Client
	op.Must(t, "POST", "/api/v1/clients", map[string]any{"name": "Anna (viber)", "phones": []string{"+79997776655"}, "emails": []string{"a2@example.com"}, "note": "from viber", "custom": map[string]any{"city": "Kazan"}}, &b)
	admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/client", d.ID), map[string]any{"client_id": b.ID}, nil)
	before := len(history(t, e.inst, d.ID))
	if code, _ := op.Call(t, "POST", apptest.Path("/api/v1/clients/%d/merge", a.ID), map[string]any{"from": b.ID}, nil); code != 403 {
		t.Fatalf("operator merge: HTTP %d, want 403", code)
	}
	if code, _ := admin.Call(t, "POST", apptest.Path("/api/v1/clients/%d/merge", a.ID), map[string]any{"from": a.ID}, nil); code != 422 {
		t.Errorf("merge into itself: HTTP %d, want 422", code)
	}
	var merged store.Client
	admin.Must(t, "POST", apptest.Path("/api/v1/clients/%d/merge", a.ID), map[string]any{"from": b.ID}, &merged)
	slices.Sort(merged.Phones)
	if !slices.Equal(merged.Phones, []string{"+74951234567", "+79161234567", "+79997776655"}) || !slices.Contains(merged.Emails, "a2@example.com") ||
		merged.Note != "n2\nfrom viber" || !contains2(string(merged.Custom), `"city":"Kazan"`, `"vip":false`) {
		t.Fatalf("merged %+v custom %s", merged, merged.Custom)
	}
	op.Must(t, "GET", apptest.Path("/api/v1/clients/%d", a.ID), nil, &got)
	if len(got.Visitors) != 1 || got.Visitors[0].ExternalID != "u-link" || len(got.Dialogs) != 1 || got.Dialogs[0].ID != d.ID {
		t.Fatalf("after merge the visitor and dialog belong to A: %+v, %d dialogs", got.Visitors, len(got.Dialogs))
	}
	if code, _ := op.Call(t, "GET", apptest.Path("/api/v1/clients/%d", b.ID), nil, nil); code != 404 {
		t.Errorf("merged-away record: HTTP %d, want 404", code)
	}
	if code, _ := admin.Call(t, "POST", apptest.Path("/api/v1/clients/%d/merge", a.ID), map[string]any{"from": b.ID}, nil); code != 404 {
		t.Errorf("second merge of the same record: HTTP %d, want 404", code)
	}
	if after := len(history(t, e.inst, d.ID)); after != before {
		t.Errorf("history changed by the merge: %d → %d entries", before, after)
	}
	var mergedInto int64
	if err := e.inst.Pool.QueryRow(context.Background(), `SELECT merged_into FROM clients WHERE id = $1`, b.ID).Scan(&mergedInto); err != nil || mergedInto != a.ID {
		t.Errorf("the merged record is kept with merged_into=%d (%v)", mergedInto, err)
	}
}

func contains2(s string, subs ...string) bool {
	for _, x := range subs {
		if indexOf(s, x) < 0 {
			return false
		}
	}
	return true
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func urlq(s string) string {
	out := ""
	for _, b := range []byte(s) {
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' {
			out += string(b)
		} else {
			out += fmt.Sprintf("%%%02X", b)
		}
	}
	return out
}

func clientCount(t *testing.T, e *env) int {
	t.Helper()
	var n int
	if err := e.inst.Pool.QueryRow(context.Background(), `SELECT count(*) FROM clients`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAutoAddByPhoneAndConcurrentFirstMessages(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAdd: true, RecordType: "contact", FirstContactText: "Hello! We answer within minutes."})
	ctx := context.Background()

	// A new visitor without a phone: a record of the configured type, named after them;
	// the operator who may see the dialog hears of the link.
	op := e.operator(t, "op@example.com", 5, nil, true)
	s := op.Stream(t)
	e.message(t, "", "u-new", "Olga", "hi")
	if ev := s.Next(t, "visitor.updated", 10*time.Second); !strings.Contains(string(ev.Data), `"d":`) {
		t.Errorf("visitor.updated without the dialog's audience: %s", ev.Data)
	}
	settle(t, e.inst)
	d := dialogOf(t, e.inst, "u-new")
	if d.Visitor.ClientID == nil {
		t.Fatal("auto-add created no record")
	}
	c, err := store.ClientByID(ctx, e.inst.Pool, *d.Visitor.ClientID)
	if err != nil || c.Type != "contact" || c.Name != "Olga" {
		t.Fatalf("auto-added %+v %v", c, err)
	}

	// A platform-given phone matching an existing record links to it instead of creating one.
	var existing store.Client
	e.admin.Must(t, "POST", "/api/v1/clients", map[string]any{"name": "Ivan from CRM", "phones": []string{"8 916 765-43-21"}}, &existing)
	n := clientCount(t, e)
	e.contact(t, "", "u-phone", "Ivan", "79167654321") // Telegram-style: digits without "+"
	settle(t, e.inst)
	d = dialogOf(t, e.inst, "u-phone")
	if d.Visitor.Phone != "+79167654321" || id(d.Visitor.ClientID) != existing.ID {
		t.Fatalf("visitor phone %q client %v, want +79167654321 linked to %d", d.Visitor.Phone, d.Visitor.ClientID, existing.ID)
	}
	if got := clientCount(t, e); got != n {
		t.Fatalf("clients %d → %d: a duplicate was created for a known phone", n, got)
	}

	// Two (here: eight pairs of) concurrent first messages from one new visitor, one to each
	// of two instances: one record, one dialog, one first-contact text each.
	instB := apptest.Start(t, apptest.Options{DatabaseURL: e.inst.DatabaseURL})
	bases := []string{e.inst.URL, instB.URL}
	const visitors = 8
	var wg sync.WaitGroup
	for i := range visitors {
		for j := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.message(t, bases[j], fmt.Sprintf("u-race-%d", i), "Racer", fmt.Sprintf("first %d", j))
			}()
		}
	}
	wg.Wait()
	settle(t, e.inst)
	for i := range visitors {
		user := fmt.Sprintf("u-race-%d", i)
		var records, dialogs int
		err := e.inst.Pool.QueryRow(ctx, `SELECT count(DISTINCT v.client_id), count(DISTINCT d.id) FROM visitors v JOIN dialogs d ON d.visitor_id = v.id WHERE v.external_id = $1`, user).Scan(&records, &dialogs)
		if err != nil {
			t.Fatal(err)
		}
		var named int
		if err := e.inst.Pool.QueryRow(ctx, `SELECT count(*) FROM clients WHERE name = 'Racer'`).Scan(&named); err != nil {
			t.Fatal(err)
		}
		d := dialogOf(t, e.inst, user)
		ms := history(t, e.inst, d.ID)
		in := 0
		for _, m := range ms {
			if m.Direction == "in" {
				in++
			}
		}
		if records != 1 || dialogs != 1 || in != 2 || autoTexts(ms, "first_contact") != 1 {
			t.Errorf("%s: %d records, %d dialogs, %d inbound, %d first-contact texts; want 1, 1, 2, 1", user, records, dialogs, in, autoTexts(ms, "first_contact"))
		}
		if i == visitors-1 && named != visitors {
			t.Errorf("%d records named Racer for %d visitors", named, visitors)
		}
	}

	// Auto-add off: no record for a new visitor.
	e.putSettings(t, dialog.Settings{AutoAdd: false, RecordType: "client"})
	n = clientCount(t, e)
	e.message(t, "", "u-off", "Nobody", "hi")
	settle(t, e.inst)
	if d := dialogOf(t, e.inst, "u-off"); d.Visitor.ClientID != nil || clientCount(t, e) != n {
		t.Fatalf("auto-add off still created a record: %v", d.Visitor.ClientID)
	}
}

// TestSubscribedFirstThenMessage: on platforms that announce a visitor before their first
// message (Viber's conversation_started, a subscription), that first message still gets the
// first-contact text and the auto-added record.
func TestSubscribedFirstThenMessage(t *testing.T) {
	e := newEnv(t, dialog.Settings{AutoAdd: true, RecordType: "client", FirstContactText: "Welcome!"})
	n := updateSeq.Add(1)
	e.deliver(t, "", example.Update{UpdateID: n, Type: example.TypeSubscribed, Member: &example.Member{
		ChatID: "u-sub", User: example.User{ID: "u-sub", FirstName: "Petr"}, Date: time.Now().Unix()}}.Marshal())
	settle(t, e.inst)
	e.message(t, "", "u-sub", "Petr", "hello")
	settle(t, e.inst)
	d := dialogOf(t, e.inst, "u-sub")
	if n := autoTexts(history(t, e.inst, d.ID), "first_contact"); n != 1 {
		t.Errorf("first-contact texts %d, want 1", n)
	}
	if d.Visitor.ClientID == nil {
		t.Error("no record auto-added for a visitor announced before the first message")
	}
	// Closed and written again: neither repeats.
	e.admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/close", d.ID), nil, nil)
	e.message(t, "", "u-sub", "Petr", "again")
	settle(t, e.inst)
	d2 := dialogOf(t, e.inst, "u-sub")
	if d2.ID == d.ID || autoTexts(history(t, e.inst, d2.ID), "first_contact") != 0 || id(d2.Visitor.ClientID) != id(d.Visitor.ClientID) {
		t.Errorf("second dialog %d: first-contact %d, client %v (first %v)", d2.ID, autoTexts(history(t, e.inst, d2.ID), "first_contact"), d2.Visitor.ClientID, d.Visitor.ClientID)
	}
}
