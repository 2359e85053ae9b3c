package admin

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// TestOperatorInviteAndDeactivateInBrowser: the admin adds an operator with a one-time
// invite link on the Operators page; the operator opens it, chooses a password and lands in
// the inbox; the link does not work twice; the admin deactivates the operator on the page
// and the operator's session ends.
func TestOperatorInviteAndDeactivateInBrowser(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	admin.Must(t, "POST", "/api/v1/departments", map[string]any{"name": "Sales"}, nil)
	ctx, problems := browser(t)

	signIn(t, ctx, inst.URL, "admin@example.com", "test-password-1")
	var link string
	run(t, ctx, "invite an operator",
		chromedp.Navigate(inst.URL+"/admin/operators"),
		chromedp.WaitVisible(`#admin-root[data-ready="1"] #operator-form`, chromedp.ByQuery),
		chromedp.SendKeys(`#op-email`, "new@example.com", chromedp.ByQuery),
		chromedp.SendKeys(`#op-name`, "Nina", chromedp.ByQuery),
		chromedp.Click(`#op-invite`, chromedp.ByQuery),
		chromedp.Click(`#operator-form .checks input[type=checkbox]`, chromedp.ByQuery), // Sales
		chromedp.Click(`#op-add`, chromedp.ByQuery),
		chromedp.WaitVisible(`#invite-link`, chromedp.ByQuery),
		chromedp.Value(`#invite-link`, &link, chromedp.ByQuery),
	)
	if !strings.HasPrefix(link, inst.URL+"/invite/") || len(link) < len(inst.URL)+40 {
		t.Fatalf("invite link %q", link)
	}
	var ops struct {
		Operators []store.User `json:"operators"`
	}
	admin.Must(t, "GET", "/api/v1/operators", nil, &ops)
	var nina store.User
	for _, u := range ops.Operators {
		if u.Email == "new@example.com" {
			nina = u
		}
	}
	if nina.ID == 0 || nina.Name != "Nina" || nina.Role != "operator" || len(nina.DepartmentIDs) != 1 {
		t.Fatalf("created operator: %+v", nina)
	}

	// The operator follows the link (signed out), sets a password, lands in the inbox.
	var email, afterURL string
	run(t, ctx, "accept the invite",
		clearCookies(),
		chromedp.Navigate(link),
		chromedp.WaitVisible(`#invite-form`, chromedp.ByQuery),
		chromedp.Text(`#invite-email`, &email, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, "nina-password-1", chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password2]`, "nina-password-1", chromedp.ByQuery),
		chromedp.Submit(`#invite-form`, chromedp.ByQuery),
		chromedp.WaitVisible(`header.topbar`, chromedp.ByQuery),
		chromedp.Location(&afterURL),
	)
	if email != "new@example.com" || !strings.HasSuffix(afterURL, "/inbox") {
		t.Errorf("invite page for %q, then at %q", email, afterURL)
	}
	nc := inst.SignIn(t, "new@example.com", "nina-password-1")
	// The link works once.
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("second use of the invite: HTTP %d, want 404", resp.StatusCode)
	}

	// The admin deactivates her on the page: her sessions end.
	signIn(t, ctx, inst.URL, "admin@example.com", "test-password-1")
	row := `#operators-table tbody tr[data-id="` + itoa(nina.ID) + `"]`
	var state string
	run(t, ctx, "deactivate",
		chromedp.Navigate(inst.URL+"/admin/operators"),
		chromedp.WaitVisible(row+` button[data-act=active]`, chromedp.ByQuery),
		chromedp.Click(row+` button[data-act=active]`, chromedp.ByQuery),
		chromedp.WaitVisible(row+` .state.off`, chromedp.ByQuery),
		chromedp.Text(row+` .state.off`, &state, chromedp.ByQuery),
	)
	if state != "deactivated" {
		t.Errorf("state %q", state)
	}
	if code, _ := nc.Call(t, "GET", "/api/v1/me", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("deactivated operator's session: HTTP %d, want 401", code)
	}
	// Departments: create one with a member on the page.
	run(t, ctx, "create a department",
		chromedp.Navigate(inst.URL+"/admin/departments"),
		chromedp.WaitVisible(`#admin-root[data-ready="1"] #department-form`, chromedp.ByQuery),
		chromedp.SendKeys(`#dep-name`, "Support", chromedp.ByQuery),
		chromedp.Click(`#department-form .checks input[type=checkbox]`, chromedp.ByQuery),
		chromedp.Click(`#department-form button.primary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#admin-root[data-ready="1"] #departments-table tbody tr:nth-child(2)`, chromedp.ByQuery),
	)
	var deps struct {
		Departments []store.Department `json:"departments"`
	}
	admin.Must(t, "GET", "/api/v1/departments", nil, &deps)
	if len(deps.Departments) != 2 || deps.Departments[1].Name != "Support" || len(deps.Departments[1].Members) != 1 {
		t.Errorf("departments: %+v", deps.Departments)
	}

	// Base logic: change the auto-close interval and the closing text.
	var saved string
	run(t, ctx, "save base logic settings",
		chromedp.Navigate(inst.URL+"/admin/settings"),
		chromedp.WaitVisible(`#admin-root[data-ready="1"] #settings-form`, chromedp.ByQuery),
		setValue(`#s-auto_close_minutes`, "45"),
		chromedp.SendKeys(`#s-closing_text`, "Thank you, bye!", chromedp.ByQuery),
		chromedp.Click(`#settings-save`, chromedp.ByQuery),
		chromedp.WaitVisible(`.toast`, chromedp.ByQuery),
		chromedp.Text(`.toast`, &saved, chromedp.ByQuery),
	)
	var st struct {
		AutoCloseMinutes int    `json:"auto_close_minutes"`
		ClosingText      string `json:"closing_text"`
	}
	admin.Must(t, "GET", "/api/v1/settings", nil, &st)
	if st.AutoCloseMinutes != 45 || st.ClosingText != "Thank you, bye!" {
		t.Errorf("settings after saving on the page (%q): %+v", saved, st)
	}

	// API tokens: create one (shown once, and it works), then revoke it.
	var token string
	run(t, ctx, "create an API token",
		chromedp.Navigate(inst.URL+"/admin/tokens"),
		chromedp.WaitVisible(`#admin-root[data-ready="1"] #token-form`, chromedp.ByQuery),
		chromedp.SendKeys(`#token-name`, "CRM", chromedp.ByQuery),
		chromedp.Click(`#token-form button.primary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#token-value`, chromedp.ByQuery),
		chromedp.Value(`#token-value`, &token, chromedp.ByQuery),
	)
	crm := &apptest.Client{Base: inst.URL, Token: token, HTTP: http.DefaultClient}
	crm.Must(t, "GET", "/api/v1/channels", nil, nil)
	run(t, ctx, "revoke it",
		chromedp.Navigate(inst.URL+"/admin/tokens"),
		chromedp.WaitVisible(`#tokens-table tbody button.danger`, chromedp.ByQuery),
		chromedp.Click(`#tokens-table tbody button.danger`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`#tokens-table tbody button.danger`, chromedp.ByQuery),
	)
	if code, _ := crm.Call(t, "GET", "/api/v1/channels", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("revoked API token: HTTP %d, want 401", code)
	}

	for _, p := range problems() {
		if !strings.Contains(p, "404") && !strings.Contains(p, "Failed to load resource") {
			t.Errorf("browser: %s", p)
		}
	}
}

// TestInviteRules: mismatched or short passwords are refused on the page; a new invite
// replaces the previous one; operators cannot create invites.
func TestInviteRules(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	op := inst.CreateUser(t, "op@example.com", "operator")
	var first, second struct {
		URL string `json:"url"`
	}
	admin.Must(t, "POST", apptest.Path("/api/v1/operators/%d/invite", op.UserID), nil, &first)
	admin.Must(t, "POST", apptest.Path("/api/v1/operators/%d/invite", op.UserID), nil, &second)
	post := func(link, pw, pw2 string) (int, string) {
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).PostForm(link, url.Values{"password": {pw}, "password2": {pw2}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post(first.URL, "good-password-1", "good-password-1"); code != http.StatusNotFound {
		t.Errorf("replaced invite: HTTP %d, want 404", code)
	}
	if code, body := post(second.URL, "good-password-1", "other-password-1"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "differ") {
		t.Errorf("mismatch: HTTP %d", code)
	}
	if code, body := post(second.URL, "short", "short"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "8 to 200") {
		t.Errorf("short: HTTP %d %.300s", code, body)
	}
	if code, _ := post(second.URL, "good-password-1", "good-password-1"); code != http.StatusSeeOther {
		t.Errorf("accept: HTTP %d, want 303", code)
	}
	inst.SignIn(t, "op@example.com", "good-password-1")
	if code, _ := op.Call(t, "POST", apptest.Path("/api/v1/operators/%d/invite", op.UserID), nil, nil); code != http.StatusForbidden {
		t.Errorf("operator creates an invite: HTTP %d, want 403", code)
	}
	if strings.Contains(inst.Log.String(), strings.TrimPrefix(second.URL, inst.URL+"/invite/")) {
		t.Errorf("the invite token is in the server log")
	}
	var entries struct {
		Entries []store.AuditEntry `json:"entries"`
	}
	admin.Must(t, "GET", "/api/v1/audit?action=user.invite", nil, &entries)
	if len(entries.Entries) != 3 { // two invites and one acceptance
		t.Errorf("audit: %+v", entries.Entries)
	}
}

// TestDeactivatedOperatorsDialogsGoBackToTheQueue: an operator takes a dialog; the admin
// deactivates them; the dialog is queued again with no assignee.
func TestDeactivatedOperatorsDialogsGoBackToTheQueue(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	op := inst.CreateUser(t, "op@example.com", "operator")
	fake := exampletest.NewServer()
	t.Cleanup(fake.Close)
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Example", "settings": fake.Settings()}, nil)
	apptest.Eventually(t, 10*time.Second, "the webhook", func() bool { return fake.Webhook().URL != "" })
	if code, body, err := fake.Deliver(context.Background(), example.NewMessageUpdate(1, 1, "u-1", "", "Anna", "", "Hi", time.Now())); err != nil || code != 200 {
		t.Fatalf("deliver: %d %s %v", code, body, err)
	}
	var list struct {
		Dialogs []store.Dialog `json:"dialogs"`
	}
	apptest.Eventually(t, 10*time.Second, "the dialog", func() bool {
		op.Call(t, "GET", "/api/v1/dialogs?status=open", nil, &list)
		return len(list.Dialogs) == 1
	})
	d := list.Dialogs[0]
	if d.AssigneeID == nil || *d.AssigneeID != op.UserID {
		op.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/take", d.ID), map[string]any{}, nil)
	}
	var got store.Dialog
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d", d.ID), nil, &got)
	if got.AssigneeID == nil || *got.AssigneeID != op.UserID {
		t.Fatalf("before: %+v", got)
	}
	admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", op.UserID), map[string]any{"active": false}, nil)
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d", d.ID), nil, &got)
	if got.AssigneeID != nil && *got.AssigneeID == op.UserID {
		t.Fatalf("after deactivation the dialog is still the operator's: %+v", got)
	}
	t.Logf("after deactivation: status %q, assignee %v", got.Status, got.AssigneeID)
}
