package security

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// TestClientRoutesHiddenFromOtherDepartments walks every client route of the route table
// as an operator of another department than the one the client's dialog belongs to: each
// route naming the record answers 404 (or 403 where the role alone refuses), the list
// leaves it out, linking it is refused like linking a record that does not exist, and
// nothing about the record or its visitor changes.
func TestClientRoutesHiddenFromOtherDepartments(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	var support, sales struct {
		ID int64 `json:"id"`
	}
	admin.Must(t, "POST", "/api/v1/departments", map[string]any{"name": "Support", "members": []int64{}}, &support)
	admin.Must(t, "POST", "/api/v1/departments", map[string]any{"name": "Sales", "members": []int64{}}, &sales)
	op := inst.CreateUser(t, "sales-op@example.com", "operator")
	admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", op.UserID), map[string]any{"department_ids": []int64{sales.ID}}, nil)

	fake := exampletest.NewServer()
	t.Cleanup(fake.Close)
	var ch struct {
		ID int64 `json:"id"`
	}
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Example", "settings": fake.Settings(), "department_id": support.ID}, &ch)
	apptest.Eventually(t, 10*time.Second, "the webhook registration", func() bool { return fake.Webhook().URL != "" })
	deliver := func(n int64, user string) int64 {
		t.Helper()
		req, err := example.NewWebhookRequest(context.Background(), fmt.Sprintf("%s/webhooks/%d", inst.URL, ch.ID), fake.Webhook().Secret,
			example.NewMessageUpdate(n, n, user, "", "Ivan", "", "hello", time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("deliver: %v %v", resp, err)
		}
		resp.Body.Close()
		var id int64
		apptest.Eventually(t, 20*time.Second, "the dialog of "+user, func() bool {
			err := inst.Pool.QueryRow(context.Background(), `SELECT d.id FROM dialogs d JOIN visitors v ON v.id = d.visitor_id WHERE v.external_id = $1`, user).Scan(&id)
			return err == nil
		})
		return id
	}
	// The client's dialog stays in Support; the operator's own dialog is moved to Sales.
	hidden := deliver(1, "support-visitor")
	own := deliver(2, "sales-visitor")
	admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/transfer", own), map[string]any{"department_id": sales.ID}, nil)
	var c, other struct {
		ID int64 `json:"id"`
	}
	admin.Must(t, "POST", "/api/v1/clients", map[string]any{"name": "Ivan Sidorov", "phones": []string{"+79161112233"}, "note": "private"}, &c)
	admin.Must(t, "POST", "/api/v1/clients", map[string]any{"name": "Empty record"}, &other)
	admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/client", hidden), map[string]any{"client_id": c.ID}, nil)

	snapshot := func() string {
		t.Helper()
		var s string
		err := inst.Pool.QueryRow(context.Background(), `SELECT row_to_json(c)::text || (SELECT string_agg(v.id || ':' || coalesce(v.client_id, 0), ',' ORDER BY v.id) FROM visitors v)
			FROM clients c WHERE c.id = $1`, c.ID).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := snapshot()

	n := 0
	for _, r := range allRoutes(t, inst) {
		if !strings.HasPrefix(r.path, "/api/v1/clients") {
			continue
		}
		n++
		path := strings.ReplaceAll(r.path, ":id", fmt.Sprint(c.ID))
		var body []byte
		switch {
		case strings.HasSuffix(r.path, "/merge"):
			body, _ = json.Marshal(map[string]any{"from": other.ID})
		case r.method != http.MethodGet && r.method != http.MethodDelete:
			body = []byte(`{"name": "overwritten", "note": ""}`)
		}
		resp, out := raw(t, r.method, inst.URL+path, op.Token, body, nil)
		named := strings.Contains(r.path, ":id")
		switch {
		case named && classify(r.method, r.path) == kindAdmin:
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s: HTTP %d %.200s, want 403 (admins only)", r.method, r.path, resp.StatusCode, out)
			}
		case named:
			if resp.StatusCode != http.StatusNotFound || errorCode(out) != "not_found" {
				t.Errorf("%s %s: HTTP %d %.200s, want 404 not_found", r.method, r.path, resp.StatusCode, out)
			}
		case r.method == http.MethodGet:
			for _, q := range []string{"", "?q=sidorov", "?q=89161112233"} {
				resp, out = raw(t, r.method, inst.URL+path+q, op.Token, nil, nil)
				var list struct {
					Clients []struct {
						ID int64 `json:"id"`
					} `json:"clients"`
				}
				_ = json.Unmarshal(out, &list)
				found := false
				for _, x := range list.Clients {
					found = found || x.ID == c.ID
				}
				if resp.StatusCode != http.StatusOK || found {
					t.Errorf("%s %s%s: HTTP %d %.300s, want 200 without the hidden record", r.method, r.path, q, resp.StatusCode, out)
				}
			}
		default: // creating a record names no existing one
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("%s %s: HTTP %d %.200s", r.method, r.path, resp.StatusCode, out)
			}
		}
	}
	if n < 4 {
		t.Fatalf("only %d client routes found: the walk is broken", n)
	}

	// Linking: the hidden dialog is not found; linking the operator's own dialog to the
	// hidden record is refused exactly like linking a record that does not exist.
	linkBody, _ := json.Marshal(map[string]any{"client_id": other.ID})
	if resp, out := raw(t, "POST", inst.URL+apptest.Path("/api/v1/dialogs/%d/client", hidden), op.Token, linkBody, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("link the hidden dialog: HTTP %d %.200s, want 404", resp.StatusCode, out)
	}
	linkBody, _ = json.Marshal(map[string]any{"client_id": c.ID})
	resp, refused := raw(t, "POST", inst.URL+apptest.Path("/api/v1/dialogs/%d/client", own), op.Token, linkBody, nil)
	_, missing := raw(t, "POST", inst.URL+apptest.Path("/api/v1/dialogs/%d/client", own), op.Token, []byte(`{"client_id": 999999}`), nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || strings.Replace(string(missing), "999999", fmt.Sprint(c.ID), 1) != string(refused) {
		t.Errorf("link own dialog to the hidden record: HTTP %d %s; a missing record: %s", resp.StatusCode, refused, missing)
	}

	if after := snapshot(); after != before {
		t.Errorf("the hidden record or its links changed:\nbefore %s\nafter  %s", before, after)
	}
	t.Logf("walked %d client routes as an operator of another department", n)
}
