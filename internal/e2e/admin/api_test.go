package admin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
)

// TestEveryKindHasInstructionsInBothLanguages: the Add channel form is generated from
// GET /api/v1/providers, so every kind must bring its title, instructions and field labels
// in English and Russian, and mark its credentials secret.
func TestEveryKindHasInstructionsInBothLanguages(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	var out struct {
		Providers []struct {
			Kind string         `json:"kind"`
			Form providers.Form `json:"form"`
		} `json:"providers"`
	}
	admin.Must(t, "GET", "/api/v1/providers", nil, &out)
	if len(out.Providers) < 6 {
		t.Fatalf("only %d kinds", len(out.Providers))
	}
	for _, p := range out.Providers {
		f := p.Form
		if f.Title.En == "" || f.Title.Ru == "" || len(f.Instructions.En) < 80 || len(f.Instructions.Ru) < 80 {
			t.Errorf("%s: title %+v, instructions %d/%d characters", p.Kind, f.Title, len(f.Instructions.En), len(f.Instructions.Ru))
		}
		secrets := 0
		for _, fl := range f.Fields {
			if !fl.Internal && (fl.Label.En == "" || fl.Label.Ru == "") {
				t.Errorf("%s.%s: label %+v", p.Kind, fl.Name, fl.Label)
			}
			if fl.Type == providers.FieldSecret {
				secrets++
			}
			n := strings.ToLower(fl.Name)
			if (strings.Contains(n, "token") || strings.Contains(n, "secret") || strings.HasSuffix(n, "_key")) && fl.Type != providers.FieldSecret && !fl.Filled {
				t.Errorf("%s.%s looks like a credential but is not a secret field", p.Kind, fl.Name)
			}
		}
		t.Logf("%s: %d fields, %d secret", p.Kind, len(f.Fields), secrets)
	}
}

// TestAuditFilters: the audit log filters by actor, entity, action and time.
func TestAuditFilters(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	admin.Must(t, "POST", "/api/v1/operators", map[string]any{"email": "second@example.com", "role": "admin", "password": "second-password"}, nil)
	second := inst.SignIn(t, "second@example.com", "second-password")
	admin.Must(t, "POST", "/api/v1/departments", map[string]any{"name": "Sales"}, nil)
	second.Must(t, "POST", "/api/v1/departments", map[string]any{"name": "Support"}, nil)
	second.Must(t, "PUT", "/api/v1/settings", map[string]any{"auto_assign": true, "record_type": "client", "auto_close_minutes": 10}, nil)

	get := func(q string) []store.AuditEntry {
		t.Helper()
		var out struct {
			Entries []store.AuditEntry `json:"entries"`
		}
		admin.Must(t, "GET", "/api/v1/audit?"+q, nil, &out)
		return out.Entries
	}
	if es := get("actor=second@"); len(es) != 2 || es[0].UserEmail != "second@example.com" {
		t.Errorf("by actor email: %+v", es)
	}
	if es := get("actor=" + apptest.Path("%d", second.UserID) + "&target_type=department"); len(es) != 1 || es[0].Action != "department.save" {
		t.Errorf("by actor id and entity: %+v", es)
	}
	if es := get("target_type=settings"); len(es) != 1 {
		t.Errorf("settings changes: %+v", es)
	}
	today := time.Now().UTC().Format("2006-01-02")
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02")
	if es := get("since=" + today + "&until=" + today); len(es) < 4 {
		t.Errorf("today: %d entries", len(es))
	}
	if es := get("since=" + tomorrow); len(es) != 0 {
		t.Errorf("since tomorrow: %+v", es)
	}
	if code, _ := admin.Call(t, "GET", "/api/v1/audit?since=yesterday", nil, nil); code != http.StatusUnprocessableEntity {
		t.Errorf("bad date: HTTP %d", code)
	}
	// Two accounts were created: the first admin (by the harness, no actor) and the second.
	if es := get("action=user."); len(es) != 2 || es[0].Action != "user.create" || es[1].Action != "user.create" {
		t.Errorf("by action prefix: %+v", es)
	}
}
