package admin

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/apptest/chrome"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/example/exampletest"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

// browser starts one headless Chromium for the test and collects script errors and CSP
// violations, which fail the test at the end.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	alloc := chrome.Allocator(t)
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithErrorf(chrome.Logf(t)))
	ctx, cancelTimeout := context.WithTimeout(ctx, 50*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx() })
	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "script exception: "+e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				problems = append(problems, "console error: "+strings.Join(parts, " "))
			}
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	get := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), problems...) }
	problemsOf[ctx] = get
	return ctx, get
}

var problemsOf = map[context.Context]func() []string{}

// run runs one step with its own time limit and shows the page and any script errors
// when it fails.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 12*time.Second)
	defer cancel()
	if err := chromedp.Run(sctx, actions...); err != nil {
		var html, loc string
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_ = chromedp.Run(dctx, chromedp.Location(&loc), chromedp.OuterHTML("main", &html, chromedp.ByQuery))
		var probs []string
		if f := problemsOf[ctx]; f != nil {
			probs = f()
		}
		t.Fatalf("%s: %v\nat %s\nbrowser problems: %v\npage: %.3000s", what, err, loc, probs, html)
	}
}

func signIn(t *testing.T, ctx context.Context, base, email, password string) {
	t.Helper()
	run(t, ctx, "sign in as "+email,
		network.ClearBrowserCookies(),
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`input[name=email]`, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=email]`, email, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, password, chromedp.ByQuery),
		chromedp.Submit(`#login-form`, chromedp.ByQuery),
		chromedp.WaitVisible(`header.topbar`, chromedp.ByQuery),
	)
}

// pick sets a select's value and fires its change event, as a user's choice would.
func pick(sel, value string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); })()`, sel, value), nil)
}

func setValue(sel, value string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('input', {bubbles: true})); })()`, sel, value), nil)
}

// TestAdminConnectsTelegramAndOperatorIsKeptOut is issue 8's browser scenario: an admin
// adds a Telegram channel against the fake Bot API through the settings page (a wrong token
// shows a readable error; Check fills the bot name; Save sets the webhook — the fake sees
// it), a message then reaches an operator, the change is in the audit log, the page speaks
// Russian for a Russian admin, and an operator can open no settings page.
func TestAdminConnectsTelegramAndOperatorIsKeptOut(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	op := inst.CreateUser(t, "op@example.com", "operator")
	fake := telegramtest.NewServer()
	fake.AllowHTTPWebhook = true
	t.Cleanup(fake.Close)
	ctx, problems := browser(t)

	signIn(t, ctx, inst.URL, "admin@example.com", "test-password-1")
	var formTitle string
	run(t, ctx, "open the channels page and pick Telegram",
		chromedp.Navigate(inst.URL+"/admin/channels"),
		chromedp.WaitVisible(`#admin-root[data-ready="1"] #channel-kind`, chromedp.ByQuery),
		pick(`#channel-kind`, "telegram"),
		chromedp.WaitVisible(`#channel-form #f-token`, chromedp.ByQuery),
		chromedp.Text(`#channel-form h2`, &formTitle, chromedp.ByQuery),
	)
	if !strings.Contains(formTitle, "Telegram") {
		t.Errorf("form title %q", formTitle)
	}
	// The form comes from the provider: the token is a write-only password field, required;
	// the bot fields are read-only; the instructions are shown.
	var tokenType, required string
	var botReadonly, hasInstructions bool
	run(t, ctx, "inspect the form",
		chromedp.AttributeValue(`#f-token`, "type", &tokenType, nil, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#f-token').required ? 'yes' : 'no'`, &required),
		chromedp.Evaluate(`document.querySelector('#f-bot_name').readOnly`, &botReadonly),
		chromedp.Evaluate(`!!document.querySelector('#channel-form .instructions') && document.querySelector('#channel-form .instructions').textContent.includes('BotFather')`, &hasInstructions),
	)
	if tokenType != "password" || required != "yes" || !botReadonly || !hasInstructions {
		t.Errorf("form: token type %q required %s, bot name read-only %v, instructions %v", tokenType, required, botReadonly, hasInstructions)
	}

	// A wrong token: the platform's refusal in plain words, the token field marked.
	var errText, invalid string
	run(t, ctx, "check a wrong token",
		setValue(`#f-api_url`, fake.URL()),
		setValue(`#f-token`, "123456789:AAwrong-token-000000000000000000000"),
		chromedp.Click(`#channel-check`, chromedp.ByQuery),
		chromedp.WaitVisible(`#channel-error`, chromedp.ByQuery),
		chromedp.Text(`#channel-error`, &errText, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#f-token').getAttribute('aria-invalid') || ''`, &invalid),
	)
	if !strings.Contains(strings.ToLower(errText), "token") || strings.Contains(errText, "AAwrong") {
		t.Errorf("wrong-token error %q: want a readable message naming the token, without it", errText)
	}
	if strings.Contains(errText, "settings [") {
		t.Errorf("wrong-token error %q carries the internal error prefix", errText)
	}
	if invalid != "true" {
		t.Errorf("the token field is not marked invalid")
	}

	// The right token: Check fills the bot name.
	var botName string
	run(t, ctx, "check the right token",
		setValue(`#f-token`, fake.Token),
		chromedp.Click(`#channel-check`, chromedp.ByQuery),
		chromedp.WaitVisible(`#check-ok`, chromedp.ByQuery),
		chromedp.Value(`#f-bot_name`, &botName, chromedp.ByQuery),
	)
	if !strings.Contains(botName, telegramtest.BotUsername) {
		t.Errorf("bot name after Check: %q, want %s", botName, telegramtest.BotUsername)
	}

	// Save: stored, the webhook set at the fake, its URL shown.
	var shownURL, stateCell string
	run(t, ctx, "save",
		setValue(`#channel-name`, "Support bot"),
		chromedp.Click(`#channel-save`, chromedp.ByQuery),
		chromedp.WaitVisible(`#webhook-set`, chromedp.ByQuery),
		chromedp.Text(`#webhook-url`, &shownURL, chromedp.ByQuery),
		chromedp.WaitVisible(`#channels-table tbody tr[data-id] .channel-state .ok`, chromedp.ByQuery),
		chromedp.Text(`#channels-table tbody tr[data-id] .channel-state`, &stateCell, chromedp.ByQuery),
	)
	shot(t, ctx, "channels-saved")
	wh := fake.Webhook()
	if wh.URL == "" || wh.URL != shownURL || !strings.HasPrefix(shownURL, inst.URL+"/webhooks/") {
		t.Fatalf("webhook at the fake %q, shown %q", wh.URL, shownURL)
	}
	if !strings.Contains(stateCell, "webhook set") {
		t.Errorf("list state %q", stateCell)
	}

	// Editing shows the token as set, never its value.
	var tokenValue, setBadge string
	run(t, ctx, "edit the channel",
		chromedp.Click(`#channels-table tbody tr[data-id] button[data-act=edit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#channel-form [data-secret-set=token]`, chromedp.ByQuery),
		chromedp.Value(`#f-token`, &tokenValue, chromedp.ByQuery),
		chromedp.Text(`#channel-form [data-secret-set=token]`, &setBadge, chromedp.ByQuery),
	)
	if tokenValue != "" || setBadge != "set" {
		t.Errorf("edit form: token value %q, badge %q", tokenValue, setBadge)
	}
	// A save the platform refuses: the page says so in the platform's words.
	fake.FailNextCall("setWebhook", telegramtest.Failure{Code: 400, Description: "Bad Request: bad webhook: Failed to resolve host"})
	var failText string
	run(t, ctx, "save with a refused webhook",
		chromedp.Click(`#f-allow_groups`, chromedp.ByQuery),
		chromedp.Click(`#channel-save`, chromedp.ByQuery),
		chromedp.WaitVisible(`#webhook-failed`, chromedp.ByQuery),
		chromedp.Text(`#webhook-failed`, &failText, chromedp.ByQuery),
	)
	if !strings.Contains(failText, "Failed to resolve host") {
		t.Errorf("refused webhook shown as %q", failText)
	}
	var pageHTML string
	run(t, ctx, "read the page", chromedp.OuterHTML("html", &pageHTML, chromedp.ByQuery))
	if strings.Contains(pageHTML, fake.Token[10:]) {
		t.Errorf("the page contains the bot token")
	}

	// A visitor writes to the bot: the message reaches the operator.
	if code, body, err := fake.Deliver(context.Background(), fake.TextUpdate(telegramtest.UserID, "Hello from Telegram")); err != nil || code != 200 {
		t.Fatalf("deliver: %d %s %v", code, body, err)
	}
	apptest.Eventually(t, 10*time.Second, "the dialog in the operator's queue", func() bool {
		var list struct {
			Dialogs []store.Dialog `json:"dialogs"`
		}
		op.Call(t, "GET", "/api/v1/dialogs?status=open", nil, &list)
		for _, d := range list.Dialogs {
			var msgs struct {
				Messages []store.Message `json:"messages"`
			}
			op.Call(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages", d.ID), nil, &msgs)
			for _, m := range msgs.Messages {
				if m.Text == "Hello from Telegram" {
					return true
				}
			}
		}
		return false
	})

	// Provider actions come through the general mechanism: the example channel's
	// "Webhook status" button runs POST /api/v1/channels/{id}/actions/webhook_status.
	exFake := exampletest.NewServer()
	t.Cleanup(exFake.Close)
	var exCh struct {
		ID int64 `json:"id"`
	}
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Example", "settings": exFake.Settings()}, &exCh)
	var actionText string
	exRow := fmt.Sprintf(`#channels-table tbody tr[data-id="%d"]`, exCh.ID)
	run(t, ctx, "run the example channel's action",
		chromedp.Navigate(inst.URL+"/admin/channels"),
		chromedp.WaitVisible(exRow+` button[data-action=webhook_status]`, chromedp.ByQuery),
		chromedp.Click(exRow+` button[data-action=webhook_status]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#action-result p:not(.muted)`, chromedp.ByQuery),
		chromedp.Text(`#action-result`, &actionText, chromedp.ByQuery),
	)
	if !strings.Contains(actionText, fmt.Sprintf("/webhooks/%d", exCh.ID)) {
		t.Errorf("action result %q", actionText)
	}

	// Disable (the webhook is removed at the platform), enable (set again), delete.
	tgRow := `#channels-table tbody tr[data-id="1"]`
	var disabledState string
	run(t, ctx, "disable the Telegram channel",
		chromedp.Click(tgRow+` button[data-act=toggle]`, chromedp.ByQuery),
		chromedp.WaitVisible(tgRow+` .channel-state .off`, chromedp.ByQuery),
		chromedp.Text(tgRow+` .channel-state`, &disabledState, chromedp.ByQuery),
	)
	if disabledState != "disabled" || fake.Webhook().URL != "" {
		t.Errorf("after disabling: state %q, webhook at the fake %q", disabledState, fake.Webhook().URL)
	}
	run(t, ctx, "enable it again",
		chromedp.Click(tgRow+` button[data-act=toggle]`, chromedp.ByQuery),
		chromedp.WaitVisible(tgRow+` .channel-state .ok`, chromedp.ByQuery),
	)
	if fake.Webhook().URL != wh.URL {
		t.Errorf("after enabling: webhook at the fake %q", fake.Webhook().URL)
	}
	run(t, ctx, "delete the example channel (two clicks)",
		chromedp.Click(exRow+` button[data-act=delete]`, chromedp.ByQuery),
		chromedp.Click(exRow+` button[data-act=delete]`, chromedp.ByQuery),
		chromedp.WaitNotPresent(exRow, chromedp.ByQuery),
	)
	if exFake.Webhook().URL != "" {
		t.Errorf("the deleted channel's webhook is still registered: %q", exFake.Webhook().URL)
	}

	// The audit log shows the change, filtered by entity.
	var auditText string
	run(t, ctx, "audit log",
		chromedp.Navigate(inst.URL+"/admin/audit?target_type=channel"),
		chromedp.WaitVisible(`#admin-root[data-ready="1"] #audit-table`, chromedp.ByQuery),
		chromedp.Text(`#audit-table tbody`, &auditText, chromedp.ByQuery),
	)
	if !strings.Contains(auditText, "channel.create") || !strings.Contains(auditText, "channel.delete") || !strings.Contains(auditText, "channel.update") || !strings.Contains(auditText, "admin@example.com") || strings.Contains(auditText, "user.create") {
		t.Errorf("audit log (channels only): %q", auditText)
	}

	// Russian: the same page and the provider's form speak Russian.
	admin.Must(t, "PUT", "/api/v1/operators/me", map[string]any{"locale": "ru"}, nil)
	var navRu, instrRu string
	run(t, ctx, "Russian channels page",
		chromedp.Navigate(inst.URL+"/admin/channels"),
		chromedp.WaitVisible(`#admin-root[data-ready="1"] #channel-kind`, chromedp.ByQuery),
		chromedp.Text(`#admin-nav-channels`, &navRu, chromedp.ByQuery),
		pick(`#channel-kind`, "telegram"),
		chromedp.WaitVisible(`#channel-form .instructions`, chromedp.ByQuery),
		chromedp.Text(`#channel-form .instructions`, &instrRu, chromedp.ByQuery),
	)
	shot(t, ctx, "channels-ru")
	if navRu != "Каналы" || !strings.Contains(instrRu, "Создайте бота") {
		t.Errorf("Russian page: nav %q, instructions %.80q", navRu, instrRu)
	}

	// An operator reaches no settings page and sees no admin link.
	signIn(t, ctx, inst.URL, "op@example.com", "test-password-1")
	var adminLinks int
	run(t, ctx, "operator's header", chromedp.Evaluate(`document.querySelectorAll('a[href^="/admin"]').length`, &adminLinks))
	if adminLinks != 0 {
		t.Errorf("the operator sees %d admin links", adminLinks)
	}
	for _, sec := range []string{"", "/channels", "/operators", "/departments", "/settings", "/tokens", "/audit"} {
		var hasRoot bool
		var body string
		run(t, ctx, "operator opens /admin"+sec,
			chromedp.Navigate(inst.URL+"/admin"+sec),
			chromedp.WaitReady(`body`, chromedp.ByQuery),
			chromedp.Evaluate(`!!document.querySelector('#admin-root')`, &hasRoot),
			chromedp.Text(`body`, &body, chromedp.ByQuery),
		)
		if hasRoot || strings.Contains(body, "Support bot") {
			t.Errorf("operator opened /admin%s: %.200q", sec, body)
		}
	}
	// Nor through the API the pages use.
	if code, _ := op.Call(t, "GET", "/api/v1/channels", nil, nil); code != 403 {
		t.Errorf("operator GET /api/v1/channels: HTTP %d", code)
	}

	for _, p := range problems() {
		if strings.Contains(p, "404") || strings.Contains(p, "Failed to load resource") {
			continue // the operator's refused pages
		}
		t.Errorf("browser: %s", p)
	}
	t.Logf("wrong token: %q; Check filled bot name %q; webhook set at %s; list state %q", errText, botName, wh.URL, stateCell)
}

// shot saves a screenshot into $ADMIN_SCREENSHOTS (for looking at the pages by eye).
func shot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("ADMIN_SCREENSHOTS")
	if dir == "" {
		return
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	_ = os.WriteFile(dir+"/"+name+".png", png, 0o644)
}

func clearCookies() chromedp.Action { return network.ClearBrowserCookies() }

func itoa(n int64) string { return fmt.Sprint(n) }
