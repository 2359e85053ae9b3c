package browser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/apptest/chrome"
	"github.com/omnichat/omnichat/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// browser is one signed-in person: a separate browser context (own cookies) in one
// headless Chromium shared by the test.
type browser struct {
	t    *testing.T
	name string
	ctx  context.Context
	base string

	mu       sync.Mutex
	problems []string // JS exceptions and console errors (CSP violations show up here)
}

// startChromium starts one headless Chromium for the test.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	actx := chrome.Allocator(t)
	// The first context starts the browser; each person then gets a fresh browser context.
	quiet := chrome.Logf(t)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithBrowserOption(chromedp.WithBrowserErrorf(quiet)))
	t.Cleanup(bcancel)
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

func newBrowser(t *testing.T, root context.Context, inst *apptest.Instance, name string, w, h int64) *browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &browser{t: t, name: name, ctx: ctx, base: inst.URL}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.problem("exception: " + e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError || e.Type == runtime.APITypeWarning {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.problem("console." + string(e.Type) + ": " + strings.Join(parts, " "))
			}
		case *cdplog.EventEntryAdded:
			// A stream cut by the network (the reconnect test does that) is ordinary life.
			cut := strings.Contains(e.Entry.Text, "net::ERR_") && strings.HasSuffix(e.Entry.URL, "/api/v1/stream")
			if e.Entry.Level == cdplog.LevelError && !strings.Contains(e.Entry.Text, "404") && !cut {
				b.problem("log: " + e.Entry.Text + " " + e.Entry.URL)
			}
		}
	})
	// The first Run allocates the tab and binds it to its context: use the long-lived one
	// (a per-step timeout context would close the tab when the step ends).
	if err := chromedp.Run(ctx, cdplog.Enable()); err != nil {
		t.Fatalf("%s: open a tab: %v", name, err)
	}
	b.run("set the viewport", chromedp.EmulateViewport(w, h))
	t.Cleanup(func() {
		if ps := b.Problems(); len(ps) > 0 {
			t.Errorf("%s: browser problems:\n%s", name, strings.Join(ps, "\n"))
		}
	})
	return b
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// Problems are the JS errors seen so far.
func (b *browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// run runs actions with a timeout; on failure it saves a screenshot and stops the test.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		path := b.screenshot(what)
		b.t.Fatalf("%s: %s: %v (screenshot: %s; JS problems: %v)", b.name, what, err, path, b.Problems())
	}
}

// screenshot saves the page to $OMNICHAT_SCREENSHOTS (default: the temp dir) and returns the path.
func (b *browser) screenshot(what string) string {
	dir := os.Getenv("OMNICHAT_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "omnichat-screenshots")
	}
	_ = os.MkdirAll(dir, 0o755)
	var png []byte
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		return "none (" + err.Error() + ")"
	}
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, b.t.Name()+"-"+b.name+"-"+what)
	path := filepath.Join(dir, safe+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return "none (" + err.Error() + ")"
	}
	return path
}

// signIn fills the sign-in form and waits for the inbox.
func (b *browser) signIn(email, password string) {
	b.t.Helper()
	b.run("sign in",
		chromedp.Navigate(b.base+"/inbox"),
		chromedp.WaitVisible(`#login-form`, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=email]`, email, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, password, chromedp.ByQuery),
		chromedp.Submit(`#login-form`, chromedp.ByQuery),
		chromedp.WaitVisible(`#inbox`, chromedp.ByQuery),
		waitJS(`document.getElementById('live-state').dataset.state === 'up'`),
	)
}

// waitJS polls a JS expression until it is true.
func waitJS(expr string) chromedp.Action {
	return chromedp.PollFunction(`() => { try { return !!(`+expr+`); } catch (e) { return false; } }`, nil,
		chromedp.WithPollingInterval(50*time.Millisecond))
}

// waitText waits until the element matched by sel contains text.
func waitText(sel, text string) chromedp.Action {
	return waitJS(fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.textContent.includes(%q))`, sel, text))
}

// click clicks the first element matching sel whose text contains text.
func clickText(sel, text string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var ok bool
		js := fmt.Sprintf(`(() => { const e = [...document.querySelectorAll(%q)].find(e => e.textContent.includes(%q)); if (!e) return false; e.click(); return true; })()`, sel, text)
		if err := chromedp.Evaluate(js, &ok).Do(ctx); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no %s with text %q", sel, text)
		}
		return nil
	})
}

// visible reports whether sel is displayed (has a layout box).
func visible(ctx context.Context, sel string) (bool, error) {
	var ok bool
	err := chromedp.Evaluate(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.getClientRects().length > 0 && getComputedStyle(e).display !== 'none'; })()`, sel), &ok).Do(ctx)
	return ok, err
}

// jsClick waits for sel and clicks it from JS (the node may be redrawn meanwhile, which
// makes a CDP mouse click on a stale node fail).
func jsClick(sel string) chromedp.Action {
	return chromedp.PollFunction(fmt.Sprintf(`() => { const e = document.querySelector(%q); if (!e || e.disabled) return false; e.click(); return true; }`, sel), nil,
		chromedp.WithPollingInterval(50*time.Millisecond))
}
