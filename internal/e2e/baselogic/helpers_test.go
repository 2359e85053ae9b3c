package baselogic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// env is one instance with an admin and an example channel on a fake platform.
type env struct {
	inst    *apptest.Instance
	admin   *apptest.Client
	fake    *exampletest.Server
	channel int64
	secret  string
	deps    []int64
}

type channelView struct {
	ID           int64  `json:"id"`
	DepartmentID *int64 `json:"department_id"`
}

// newEnv starts an instance with the given base-logic settings (saved before any message)
// and departments; the channel belongs to the first department, if any.
func newEnv(t *testing.T, st dialog.Settings, departments ...string) *env {
	t.Helper()
	inst := apptest.Start(t, apptest.Options{})
	e := &env{inst: inst, admin: inst.Admin(t)}
	e.putSettings(t, st)
	for _, name := range departments {
		e.deps = append(e.deps, e.department(t, name))
	}
	e.fake = exampletest.NewServer()
	t.Cleanup(e.fake.Close)
	body := map[string]any{"kind": "example", "name": "Example", "settings": e.fake.Settings()}
	if len(e.deps) > 0 {
		body["department_id"] = e.deps[0]
	}
	var ch channelView
	e.admin.Must(t, "POST", "/api/v1/channels", body, &ch)
	if len(e.deps) > 0 && id(ch.DepartmentID) != e.deps[0] {
		t.Fatalf("channel department %v, want %d", ch.DepartmentID, e.deps[0])
	}
	apptest.Eventually(t, 10*time.Second, "the webhook registration", func() bool { return e.fake.Webhook().URL != "" })
	e.channel, e.secret = ch.ID, e.fake.Webhook().Secret
	return e
}

func (e *env) putSettings(t *testing.T, st dialog.Settings) {
	t.Helper()
	e.admin.Must(t, "PUT", "/api/v1/settings", st, nil)
}

var updateSeq atomic.Int64

func init() { updateSeq.Store(time.Now().UnixNano() / 1000 % 1_000_000_000) }

// message delivers a visitor's text to base (an instance URL; "" = the registered webhook).
func (e *env) message(t testing.TB, base, user, first, text string) {
	t.Helper()
	n := updateSeq.Add(1)
	e.deliver(t, base, example.NewMessageUpdate(n, n, user, "", first, "", text, time.Now()))
}

// contact delivers a visitor sharing their own phone number.
func (e *env) contact(t testing.TB, base, user, first, phone string) {
	t.Helper()
	n := updateSeq.Add(1)
	u := example.Update{UpdateID: n, Type: example.TypeMessage, Message: &example.Message{
		ID: n, ChatID: user, From: example.User{ID: user, FirstName: first}, Date: time.Now().Unix(),
		Attachments: []example.Attachment{{Type: "contact", Phone: phone, ContactName: first, ContactUserID: user}},
	}}
	e.deliver(t, base, u.Marshal())
}

func (e *env) deliver(t testing.TB, base string, body []byte) {
	t.Helper()
	if base == "" {
		base = e.inst.URL
	}
	req, err := example.NewWebhookRequest(context.Background(), fmt.Sprintf("%s/webhooks/%d", base, e.channel), e.secret, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("deliver: HTTP %d", resp.StatusCode)
	}
}

// operator creates an operator with a capacity and departments, online with an open stream.
func (e *env) operator(t *testing.T, email string, capacity int, deps []int64, online bool) *apptest.Client {
	t.Helper()
	op := e.inst.CreateUser(t, email, "operator")
	e.admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", op.UserID), map[string]any{"capacity": capacity, "department_ids": deps}, nil)
	if online {
		op.Stream(t)
		op.Must(t, "PUT", "/api/v1/operators/me", map[string]any{"status": "online"}, nil)
	}
	return op
}

func (e *env) department(t *testing.T, name string, members ...int64) int64 {
	t.Helper()
	var d store.Department
	if members == nil {
		members = []int64{}
	}
	e.admin.Must(t, "POST", "/api/v1/departments", map[string]any{"name": name, "members": members}, &d)
	return d.ID
}

// settle waits until no assignment, dispatch, client-link or send job is waiting or
// running, and fails on any that errored: the state the assertions read is then final.
func settle(t *testing.T, inst *apptest.Instance) {
	t.Helper()
	ctx := context.Background()
	apptest.Eventually(t, 60*time.Second, "the job queue to drain", func() bool {
		var n int
		err := inst.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind IN ('assign_dialog', 'dispatch_queue', 'link_client', 'send_message')
			AND state IN ('available', 'running', 'retryable', 'scheduled', 'pending')`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	var errs []string
	rows, err := inst.Pool.Query(ctx, `SELECT kind, errors::text FROM river_job WHERE kind IN ('assign_dialog', 'dispatch_queue', 'link_client') AND errors IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, e string
		if err := rows.Scan(&k, &e); err != nil {
			t.Fatal(err)
		}
		errs = append(errs, k+": "+e)
	}
	if len(errs) > 0 {
		t.Fatalf("jobs failed: %v", errs)
	}
}

// dialogOf returns the newest dialog of a visitor (by platform user id).
func dialogOf(t testing.TB, inst *apptest.Instance, user string) store.Dialog {
	t.Helper()
	var id int64
	err := inst.Pool.QueryRow(context.Background(), `SELECT d.id FROM dialogs d JOIN visitors v ON v.id = d.visitor_id
		WHERE v.external_id = $1 ORDER BY d.id DESC LIMIT 1`, user).Scan(&id)
	if err != nil {
		t.Fatalf("dialog of %s: %v", user, err)
	}
	d, err := store.DialogByID(context.Background(), inst.Pool, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// history returns a dialog's messages oldest first.
func history(t testing.TB, inst *apptest.Instance, dialogID int64) []store.Message {
	t.Helper()
	ms, err := store.ListMessages(context.Background(), inst.Pool, dialogID, 0, 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	return ms
}

// systemKinds lists the kinds of a dialog's system entries in order.
func systemKinds(ms []store.Message) []string {
	var out []string
	for _, m := range ms {
		if m.Direction == "system" {
			out = append(out, m.Kind)
		}
	}
	return out
}

// autoTexts counts automatic outbound texts by rule.
func autoTexts(ms []store.Message, rule string) int {
	n := 0
	for _, m := range ms {
		var data struct {
			Rule string `json:"rule"`
		}
		_ = json.Unmarshal(m.Data, &data)
		if m.Direction == "out" && m.Auto && data.Rule == rule {
			n++
		}
	}
	return n
}

func id(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
