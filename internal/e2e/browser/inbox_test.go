package browser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

const password = "test-password-1"

// world is a running instance with an example channel and two operators.
type world struct {
	inst     *apptest.Instance
	admin    *apptest.Client
	fake     *exampletest.Server
	anna     *apptest.Client
	boris    *apptest.Client
	updateID int64
}

func setup(t *testing.T) *world {
	t.Helper()
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	// New dialogs wait in the queue, so the test decides who takes them.
	admin.Must(t, "PUT", "/api/v1/settings", map[string]any{"auto_assign": false, "record_type": "client", "default_capacity": 10}, nil)
	fake := exampletest.NewServer()
	t.Cleanup(fake.Close)
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Example", "settings": fake.Settings()}, nil)
	apptest.Eventually(t, 10*time.Second, "the webhook registration", func() bool { return fake.Webhook().URL != "" })
	w := &world{inst: inst, admin: admin, fake: fake}
	w.anna = inst.CreateUser(t, "anna@example.com", "operator")
	w.boris = inst.CreateUser(t, "boris@example.com", "operator")
	admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", w.anna.UserID), map[string]any{"name": "Anna Ops", "status": "online"}, nil)
	admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", w.boris.UserID), map[string]any{"name": "Boris Ops", "status": "online"}, nil)
	return w
}

// visitorSays delivers a visitor's message through the fake platform's webhook.
func (w *world) visitorSays(t *testing.T, userID, first, last, text string) {
	t.Helper()
	w.updateID++
	upd := example.NewMessageUpdate(w.updateID, 1000+w.updateID, userID, "", first, last, text, time.Now())
	code, body, err := w.fake.Deliver(context.Background(), upd)
	if err != nil {
		// The fake's kept-alive connection may have been cut by DropConnections: once more.
		code, body, err = w.fake.Deliver(context.Background(), upd)
	}
	if err != nil || code != 200 {
		t.Fatalf("deliver: %d %s %v", code, body, err)
	}
}

// visitorEdits delivers the visitor's edit of their message number msgID.
func (w *world) visitorEdits(t *testing.T, userID string, msgID int64, text string) {
	t.Helper()
	w.updateID++
	upd := example.Update{UpdateID: w.updateID, Type: example.TypeEdited, Message: &example.Message{
		ID: msgID, ChatID: userID, From: example.User{ID: userID}, Date: time.Now().Add(-time.Minute).Unix(), Text: text, EditDate: time.Now().Unix()}}.Marshal()
	if code, body, err := w.fake.Deliver(context.Background(), upd); err != nil || code != 200 {
		t.Fatalf("deliver edit: %d %s %v", code, body, err)
	}
}

func (w *world) sentTexts() []string {
	var out []string
	for _, s := range w.fake.Sent() {
		if s.FileName != "" {
			out = append(out, "file:"+s.FileName)
		} else {
			out = append(out, s.Text)
		}
	}
	return out
}

// TestInboxLive: sign in; a webhook message appears live in the list and in the open
// conversation; reply (Enter sends, Shift+Enter breaks the line); attach a file; transfer
// to another operator (on a second instance) who sees it live in their own browser; invite
// and leave; close, seen live by the first.
func TestInboxLive(t *testing.T) {
	root := startChromium(t)
	w := setup(t)
	// Boris works through a second instance on the same database: what he sees live
	// crosses instances through PostgreSQL notifications.
	second := apptest.Start(t, apptest.Options{DatabaseURL: w.inst.DatabaseURL, NoWorkers: true})
	anna := newBrowser(t, root, w.inst, "anna", 1280, 900)
	boris := newBrowser(t, root, second, "boris", 1280, 900)
	anna.signIn("anna@example.com", password)
	boris.signIn("boris@example.com", password)

	// The webhook arrives while Anna looks at the queue: the row and the count appear live.
	anna.run("open the queue tab", chromedp.Click(`[data-tab=queue]`, chromedp.ByQuery),
		// Desktop notifications on, with a recording stand-in for the browser's.
		chromedp.Evaluate(`localStorage.setItem('omnichat.notify', '1');
			window.Notification = class { constructor(title, o) { (window.__notes = window.__notes || []).push(title + ' | ' + o.body); } static get permission() { return 'granted'; } };`, nil))
	w.visitorSays(t, "v-1", "Vera", "Visitor", "Hello, I need help")
	anna.run("the new dialog appears live",
		waitText(`#dialogs .dialog-row`, "Vera Visitor"),
		waitText(`#dialogs .dialog-row .preview`, "Hello, I need help"),
		waitText(`[data-count=queue]`, "1"),
		waitJS(`document.title.startsWith('(1)')`),
		waitJS(`(window.__notes || []).includes('New conversation: Vera Visitor | Hello, I need help')`),
	)

	// Open it and take it.
	anna.run("open the conversation",
		clickText(`#dialogs .dialog-row`, "Vera Visitor"),
		waitText(`#messages .msg.in`, "Hello, I need help"),
		waitJS(`location.pathname.startsWith('/inbox/')`),
		jsClick(`#act-take`),
		waitText(`#side .people`, "Anna Ops"),
		waitText(`#messages .msg.system`, "Anna Ops"),
	)

	// A later message shows up live in the open conversation.
	w.visitorSays(t, "v-1", "Vera", "Visitor", "Are you there?")
	anna.run("the next message appears in the open conversation", waitText(`#messages .msg.in`, "Are you there?"))
	// The visitor edits it: the new text shows, marked as edited.
	w.visitorEdits(t, "v-1", 1000+w.updateID, "Are you there? Anyone?")
	anna.run("the edit shows live", waitJS(`[...document.querySelectorAll('#messages .msg.in')].some(e => e.textContent.includes('Anyone?') && e.querySelector('.edited'))`))

	// Reply: Shift+Enter breaks the line, Enter sends; pending at once, then sent.
	anna.run("type a reply",
		chromedp.Click(`#text`, chromedp.ByQuery),
		chromedp.SendKeys(`#text`, "Good afternoon,", chromedp.ByQuery),
		chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(input.ModifierShift)),
		chromedp.SendKeys(`#text`, "how can I help?", chromedp.ByQuery),
		waitJS(`document.getElementById('text').value === 'Good afternoon,\nhow can I help?'`),
	)
	anna.run("Enter sends",
		chromedp.KeyEvent(kb.Enter),
		// CDP sends the Enter's "char" separately from the keydown the page cancels, so a
		// stray line break may land in the emptied box; a real keyboard does not do that.
		waitJS(`document.getElementById('text').value.trim() === ''`),
		waitText(`#messages .msg.out`, "how can I help?"),
	)
	want := "Good afternoon,\nhow can I help?"
	apptest.Eventually(t, 10*time.Second, "the reply at the platform", func() bool {
		for _, s := range w.sentTexts() {
			if s == want {
				return true
			}
		}
		return false
	})
	anna.run("the reply turns sent",
		waitJS(`[...document.querySelectorAll('#messages .msg.out')].some(e => e.textContent.includes('how can I help?') && ['sent','delivered','read'].includes(e.dataset.status))`))
	// The platform reports it read: the state follows live.
	var platformID int64
	for _, m := range w.fake.Sent() {
		if m.Text == want {
			platformID = m.ID
		}
	}
	w.updateID++
	if code, body, err := w.fake.Deliver(context.Background(), example.NewReceiptUpdate(w.updateID, example.TypeRead, "v-1", "", []int64{platformID}, time.Now())); err != nil || code != 200 {
		t.Fatalf("deliver receipt: %d %s %v", code, body, err)
	}
	anna.run("the reply turns read",
		waitJS(`[...document.querySelectorAll('#messages .msg.out')].some(e => e.textContent.includes('how can I help?') && e.dataset.status === 'read')`))

	// Attach a file: it is uploaded, sent to the platform and shown as a download link.
	file := filepath.Join(t.TempDir(), "report.txt")
	if err := os.WriteFile(file, []byte("quarterly numbers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	anna.run("attach a file", chromedp.SetUploadFiles(`#file-input`, []string{file}, chromedp.ByQuery))
	apptest.Eventually(t, 10*time.Second, "the file at the platform", func() bool {
		for _, s := range w.sentTexts() {
			if s == "file:report.txt" {
				return true
			}
		}
		return false
	})
	anna.run("the file shows as a link", waitJS(`[...document.querySelectorAll('#messages .msg.out a')].some(a => a.textContent === 'report.txt' && a.getAttribute('href').startsWith('/api/v1/files/'))`))

	// A file dropped onto the conversation is sent too.
	anna.run("drop a file",
		chromedp.Evaluate(`(() => { const dt = new DataTransfer(); dt.items.add(new File(['dropped content'], 'dropped.txt', {type: 'text/plain'}));
			const pane = document.getElementById('conv');
			for (const type of ['dragenter', 'dragover', 'drop']) pane.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true})); })()`, nil),
		waitJS(`[...document.querySelectorAll('#messages .msg.out a')].some(a => a.textContent === 'dropped.txt')`))
	apptest.Eventually(t, 10*time.Second, "the dropped file at the platform", func() bool {
		for _, s := range w.sentTexts() {
			if s == "file:dropped.txt" {
				return true
			}
		}
		return false
	})

	// No double sends: each reply reached the platform once and shows once.
	if got := w.sentTexts(); len(got) != 3 {
		t.Fatalf("platform got %q, want the reply and the two files once each", got)
	}
	var bubbles int
	anna.run("count bubbles", chromedp.Evaluate(`document.querySelectorAll('#messages .msg.out').length`, &bubbles))
	if bubbles != 3 {
		t.Fatalf("%d outgoing bubbles, want 3", bubbles)
	}

	// Transfer to Boris with a comment: his Mine tab shows it live.
	boris.run("boris looks at his dialogs", chromedp.Click(`[data-tab=mine]`, chromedp.ByQuery), waitText(`#dialogs .list-end`, ""))
	anna.run("transfer to boris",
		jsClick(`#act-transfer`),
		chromedp.WaitVisible(`#transfer-user`, chromedp.ByQuery),
		chromedp.SetValue(`#transfer-user`, fmt.Sprint(w.boris.UserID), chromedp.ByQuery),
		chromedp.SendKeys(`#transfer-comment`, "VIP, please help", chromedp.ByQuery),
		clickText(`#modal-form button.primary`, ""),
	)
	boris.run("the dialog arrives live in boris's list",
		waitText(`#dialogs .dialog-row`, "Vera Visitor"),
		waitText(`[data-count=mine]`, "1"),
		clickText(`#dialogs .dialog-row`, "Vera Visitor"),
		waitText(`#messages .msg.system`, "VIP, please help"),
		waitText(`#side .people`, "Boris Ops"),
	)
	anna.run("anna's sidebar shows the new assignee live", waitText(`#side .people`, "Boris Ops"))

	// Boris invites Anna back as a participant; she leaves again.
	boris.run("invite anna",
		jsClick(`#act-invite`),
		chromedp.WaitVisible(`#invite-user`, chromedp.ByQuery),
		chromedp.SetValue(`#invite-user`, fmt.Sprint(w.anna.UserID), chromedp.ByQuery),
		clickText(`#modal-form button.primary`, ""),
		waitText(`#messages .msg.system`, "invited Anna Ops"),
	)
	anna.run("anna is a participant and leaves", waitText(`#side .people`, "Anna Ops"), jsClick(`#act-leave`))
	boris.run("boris sees her leave", waitText(`#messages .msg.system`, "Anna Ops left"))

	// Boris closes; Anna, still looking at it, sees it closed live.
	boris.run("close",
		chromedp.Evaluate(`window.confirm = () => true`, nil),
		jsClick(`#act-close`),
		waitText(`#conv-sub`, "closed"),
		waitJS(`document.getElementById('text').disabled`),
	)
	anna.run("anna sees the close live", waitText(`#messages .msg.system`, "closed the conversation"), waitText(`#conv-sub`, "closed"))
}

// TestPhoneLayout: at a phone-sized viewport the list and the conversation are separate views.
func TestPhoneLayout(t *testing.T) {
	root := startChromium(t)
	w := setup(t)
	w.visitorSays(t, "v-2", "Pavel", "Phone", "Hi from my phone")
	phone := newBrowser(t, root, w.inst, "phone", 390, 844)
	phone.signIn("anna@example.com", password)
	phone.run("the queue", chromedp.Click(`[data-tab=queue]`, chromedp.ByQuery), waitText(`#dialogs .dialog-row`, "Pavel Phone"))
	phone.expectVisible(".list-pane", true)
	phone.expectVisible(".conv-pane", false)
	phone.run("open the conversation", clickText(`#dialogs .dialog-row`, "Pavel Phone"), waitText(`#messages .msg.in`, "Hi from my phone"))
	phone.expectVisible(".list-pane", false)
	phone.expectVisible(".conv-pane", true)
	phone.expectVisible("#back", true)
	phone.expectVisible("#composer", true)
	var fits bool
	phone.run("nothing overflows sideways", chromedp.Evaluate(`document.documentElement.scrollWidth <= window.innerWidth`, &fits))
	if !fits {
		t.Error("the page is wider than the phone screen")
	}

	// The details open over the conversation; the client record is created, unlinked and
	// found again and linked.
	phone.expectVisible("#side", false)
	phone.run("open the details", jsClick(`#side-toggle`), chromedp.WaitVisible(`#client-create`, chromedp.ByQuery))
	phone.expectVisible("#side", true)
	phone.run("create a client record",
		jsClick(`#client-create`),
		chromedp.WaitVisible(`#modal-form input[name=name]`, chromedp.ByQuery),
		chromedp.SetValue(`#modal-form input[name=phones]`, "+7 912 345-67-89", chromedp.ByQuery),
		clickText(`#modal-form button.primary`, ""),
		waitText(`#client-card`, "Pavel Phone"),
		waitText(`#messages .msg.system`, "linked a client record"),
	)
	phone.run("unlink it", jsClick(`#client-unlink`), waitText(`#client-card`, "No client record"))
	phone.run("find and link it again",
		chromedp.SendKeys(`#client-search`, "Pavel", chromedp.ByQuery),
		waitText(`#client-card .results`, "Pavel Phone"),
		clickText(`#client-card .results button`, ""),
		waitJS(`!!document.getElementById('client-unlink')`),
	)
	var d struct {
		Visitor struct {
			ClientID *int64 `json:"client_id"`
		} `json:"visitor"`
	}
	var list struct {
		Dialogs []struct {
			ID int64 `json:"id"`
		} `json:"dialogs"`
	}
	w.admin.Must(t, "GET", "/api/v1/dialogs?status=open", nil, &list)
	w.admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d", list.Dialogs[0].ID), nil, &d)
	if d.Visitor.ClientID == nil {
		t.Fatal("the visitor is not linked to a client record")
	}
	phone.run("close the details", jsClick(`#side-toggle`))
	phone.run("back to the list", chromedp.Click(`#back`, chromedp.ByQuery), waitJS(`location.pathname === '/inbox'`))
	phone.expectVisible(".list-pane", true)
	phone.expectVisible(".conv-pane", false)
}

func (b *browser) expectVisible(sel string, want bool) {
	b.t.Helper()
	var got bool
	b.run("check "+sel, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		got, err = visible(ctx, sel)
		return err
	}))
	if got != want {
		path := b.screenshot("visible-" + strings.Trim(sel, ".#"))
		b.t.Fatalf("%s: %s visible = %v, want %v (screenshot %s)", b.name, sel, got, want, path)
	}
}
