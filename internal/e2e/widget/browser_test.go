package widget

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/apptest/chrome"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

// startBrowser starts a headless Chromium; JS exceptions and console errors are collected.
func startBrowser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	actx := chrome.Allocator(t, chromedp.WindowSize(1200, 900))
	ctx, cancel2 := chromedp.NewContext(actx, chromedp.WithErrorf(chrome.Logf(t)))
	t.Cleanup(cancel2)
	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				problems = append(problems, fmt.Sprintf("console.error: %v", e.Args))
			}
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), problems...) }
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(tctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// inFrame evaluates JS in the chat iframe's document (same origin as the demo page).
func inFrame(js string) string {
	return `(() => { const d = document.getElementById('omnichat-widget-frame').contentDocument; ` + js + ` })()`
}

func waitJS(expr string) chromedp.Action {
	return chromedp.PollFunction(`() => { try { return !!(`+expr+`); } catch (e) { return false; } }`, nil, chromedp.WithPollingInterval(50*time.Millisecond))
}

// TestWidgetDemoInChromium: a visitor on /widget/demo opens the chat, fills the pre-chat
// form and writes; the operator sees it through the API and SSE and answers; the answer
// appears in the widget, live and again after a reload.
func TestWidgetDemoInChromium(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)

	// Another site, allowed to embed the widget, and one that is not.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	site := httptest.NewUnstartedServer(nil)
	site.Listener.Close()
	site.Listener = ln
	site.Start()
	t.Cleanup(site.Close)
	allowed := site.URL                                               // http://127.0.0.1:PORT
	refused := strings.Replace(site.URL, "127.0.0.1", "localhost", 1) // same server, another origin

	ch := widgetChannel(t, admin, map[string]string{"allowed_origins": allowed, "title": "Demo shop chat", "greeting": "Hi! Ask us anything.", "prechat_name": "true"})
	site.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Shop</title><h1>Shop</h1><script src="%s/widget.js" data-channel="%d" async></script>`, inst.URL, ch.ID)
	})

	ctx, problems := startBrowser(t)
	opStream := admin.Stream(t)

	// The demo page shows the button; the chat opens in an iframe with the pre-chat form.
	var frames []*cdp.Node
	run(t, ctx, "open the demo and the chat",
		chromedp.Navigate(inst.URL+"/widget/demo"),
		chromedp.WaitVisible(`#omnichat-widget-button`, chromedp.ByQuery),
		chromedp.Click(`#omnichat-widget-button`, chromedp.ByQuery),
		// The frame's node is taken once its page has loaded (before, it holds about:blank).
		chromedp.WaitVisible(`#omnichat-widget-frame[data-loaded]`, chromedp.ByQuery),
		chromedp.Nodes(`#omnichat-widget-frame`, &frames, chromedp.ByQuery),
	)
	frame := chromedp.FromNode(frames[0])
	run(t, ctx, "fill the pre-chat form",
		chromedp.WaitVisible(`#prechat input[name=name]`, chromedp.ByQuery, frame),
		chromedp.SendKeys(`#prechat input[name=name]`, "Maria", chromedp.ByQuery, frame),
		chromedp.Click(`#prechat button[type=submit]`, chromedp.ByQuery, frame),
		chromedp.WaitVisible(`#text`, chromedp.ByQuery, frame),
	)
	var title, greeting string
	run(t, ctx, "read the header",
		chromedp.Text(`#title`, &title, chromedp.ByQuery, frame),
		chromedp.Text(`.msg.greeting`, &greeting, chromedp.ByQuery, frame),
	)
	if title != "Demo shop chat" || greeting != "Hi! Ask us anything." {
		t.Fatalf("widget header %q, greeting %q", title, greeting)
	}

	// The visitor writes.
	run(t, ctx, "write a message",
		chromedp.SendKeys(`#text`, "Hello from the browser", chromedp.ByQuery, frame),
		chromedp.Click(`#send`, chromedp.ByQuery, frame),
		waitJS(inFrame(`return [...d.querySelectorAll('.msg.in')].some(e => e.textContent.includes('Hello from the browser'));`)),
	)

	// The operator sees it live and through the API.
	ev := opStream.Next(t, "dialog.created", 10*time.Second)
	var p struct {
		D int64 `json:"d"`
		M int64 `json:"m"`
	}
	if err := json.Unmarshal(ev.Data, &p); err != nil {
		t.Fatal(err)
	}
	var d store.Dialog
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d", p.D), nil, &d)
	var msgs struct {
		Messages []store.Message `json:"messages"`
	}
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages", p.D), nil, &msgs)
	if d.Visitor.FirstName != "Maria" || d.ChannelKind != "widget" || len(msgs.Messages) != 1 || msgs.Messages[0].Text != "Hello from the browser" {
		t.Fatalf("operator sees dialog %+v, messages %+v", d, msgs.Messages)
	}

	// The operator answers: the reply appears in the widget without a reload.
	admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages", p.D), map[string]string{"text": "Hi Maria, we are here to help!"}, nil)
	run(t, ctx, "see the reply live",
		waitJS(inFrame(`return [...d.querySelectorAll('.msg.out')].some(e => e.textContent.includes('Hi Maria, we are here to help!'));`)),
	)

	// Buttons under a reply: the visitor's press comes back to the operator.
	admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages", p.D), map[string]any{"text": "Was this helpful?",
		"buttons": [][]map[string]string{{{"text": "Yes", "data": "helpful:yes"}, {"text": "No", "data": "helpful:no"}}}}, nil)
	run(t, ctx, "press a button",
		waitJS(inFrame(`return [...d.querySelectorAll('.msg.out .buttons button')].some(b => b.textContent === 'Yes');`)),
		chromedp.Evaluate(inFrame(`[...d.querySelectorAll('.msg.out .buttons button')].find(b => b.textContent === 'Yes').click(); return true;`), nil),
	)
	apptest.Eventually(t, 10*time.Second, "the button press at the operator", func() bool {
		msgs.Messages = nil
		admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages", p.D), nil, &msgs)
		for _, m := range msgs.Messages {
			if m.Kind == "button" && strings.Contains(string(m.Data), "helpful:yes") {
				return true
			}
		}
		return false
	})

	// The visitor attaches a photo: uploaded, stored, shown to the operator and in the widget.
	photoPath := filepath.Join(t.TempDir(), "receipt.jpg")
	if err := os.WriteFile(photoPath, telegramtest.SampleJPEG(), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "attach a photo",
		chromedp.SetUploadFiles(`#file`, []string{photoPath}, chromedp.ByQuery, frame),
		waitJS(inFrame(`return [...d.querySelectorAll('.msg.in img')].some(i => i.complete && i.naturalWidth > 0);`)),
	)
	var photo store.Attachment
	apptest.Eventually(t, 10*time.Second, "the photo at the operator", func() bool {
		msgs.Messages = nil
		admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages", p.D), nil, &msgs)
		for _, m := range msgs.Messages {
			if len(m.Attachments) == 1 && m.Attachments[0].FileID != 0 {
				photo = m.Attachments[0]
				return true
			}
		}
		return false
	})
	if photo.Name != "receipt.jpg" || photo.Kind != "image" {
		t.Fatalf("the operator got %+v", photo)
	}

	// After a reload the same conversation is back (the token is in localStorage).
	var token string
	run(t, ctx, "read the stored token", chromedp.Evaluate(inFrame(`return d.defaultView.localStorage.getItem('omnichat.widget.`+fmt.Sprint(ch.ID)+`.token');`), &token))
	if token == "" {
		t.Fatal("no visitor token in the iframe's localStorage")
	}
	run(t, ctx, "reload and reopen",
		chromedp.Reload(),
		chromedp.WaitVisible(`#omnichat-widget-button`, chromedp.ByQuery),
		chromedp.Click(`#omnichat-widget-button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#omnichat-widget-frame`, chromedp.ByQuery),
		waitJS(inFrame(`const t = [...d.querySelectorAll('.msg')].map(e => e.textContent).join('|'); return t.includes('Hello from the browser') && t.includes('Hi Maria, we are here to help!');`)),
	)
	var cookies []string
	run(t, ctx, "no cookies", chromedp.Evaluate(`document.cookie ? [document.cookie] : []`, &cookies))
	if len(cookies) != 0 {
		t.Fatalf("the widget set cookies: %v", cookies)
	}

	// An allowed site gets the widget; another origin does not.
	var state string
	run(t, ctx, "the allowed site",
		chromedp.Navigate(allowed),
		waitJS(`document.documentElement.getAttribute('data-omnichat-widget')`),
		chromedp.Evaluate(`document.documentElement.getAttribute('data-omnichat-widget')`, &state),
	)
	if state != "ready" {
		t.Fatalf("on the allowed site the widget is %q", state)
	}
	// Its page may frame the chat (frame-ancestors lists it): the chat page loads inside.
	var siteTitle string
	run(t, ctx, "its button and chat",
		chromedp.WaitVisible(`#omnichat-widget-button`, chromedp.ByQuery),
		chromedp.Click(`#omnichat-widget-button`, chromedp.ByQuery),
		// The frame's node is taken once its page has loaded (before, it holds about:blank).
		chromedp.WaitVisible(`#omnichat-widget-frame[data-loaded]`, chromedp.ByQuery),
		chromedp.Nodes(`#omnichat-widget-frame`, &frames, chromedp.ByQuery),
	)
	run(t, ctx, "the chat in the other site's frame",
		chromedp.WaitVisible(`#title`, chromedp.ByQuery, chromedp.FromNode(frames[0])),
		chromedp.Poll(`document.getElementById('title').textContent === 'Demo shop chat'`, nil, chromedp.WithPollingInFrame(frames[0])),
		chromedp.Text(`#title`, &siteTitle, chromedp.ByQuery, chromedp.FromNode(frames[0])),
	)
	if siteTitle != "Demo shop chat" {
		t.Fatalf("chat title on the allowed site: %q", siteTitle)
	}
	var buttons int
	run(t, ctx, "a site that is not allowed",
		chromedp.Navigate(refused),
		waitJS(`document.documentElement.getAttribute('data-omnichat-widget')`),
		chromedp.Evaluate(`document.documentElement.getAttribute('data-omnichat-widget')`, &state),
		chromedp.Evaluate(`document.querySelectorAll('#omnichat-widget-button').length`, &buttons),
	)
	if state != "unavailable" || buttons != 0 {
		t.Fatalf("on a site that is not allowed the widget is %q with %d buttons", state, buttons)
	}

	for _, pr := range problems() {
		// The refused site's CORS failure is logged by Chromium as an error; anything else is a bug.
		if !strings.Contains(pr, "omnichat widget: not available") {
			t.Errorf("browser problem: %s", pr)
		}
	}
}

// TestWidgetLanguageInChromium: a browser that prefers Russian gets the chat in Russian
// (the default title too); the channel's language setting overrides the browser.
func TestWidgetLanguageInChromium(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	settings := map[string]string{"allowed_origins": "https://shop.example", "prechat_name": "true", "language": "auto"}
	ch := widgetChannel(t, admin, settings)

	ctx, problems := startBrowser(t)
	var ua string
	run(t, ctx, "read the user agent", chromedp.Evaluate(`navigator.userAgent`, &ua))
	// The override sets both the Accept-Language header and navigator.languages.
	run(t, ctx, "prefer Russian", emulation.SetUserAgentOverride(ua).WithAcceptLanguage("ru-RU,ru;q=0.9,en;q=0.8"))

	// texts reads the chat's visible texts after its config has been applied.
	texts := func(what string) map[string]string {
		t.Helper()
		var frames []*cdp.Node
		run(t, ctx, what,
			chromedp.Navigate(inst.URL+"/widget/demo"),
			chromedp.WaitVisible(`#omnichat-widget-button`, chromedp.ByQuery),
			chromedp.Click(`#omnichat-widget-button`, chromedp.ByQuery),
			chromedp.WaitVisible(`#omnichat-widget-frame[data-loaded]`, chromedp.ByQuery),
			chromedp.Nodes(`#omnichat-widget-frame`, &frames, chromedp.ByQuery),
		)
		frame := chromedp.FromNode(frames[0])
		got := map[string]string{}
		var lang, intro, name, start, placeholder, title, send string
		run(t, ctx, what+": read",
			chromedp.WaitVisible(`#prechat input[name=name]`, chromedp.ByQuery, frame),
			chromedp.Text(`#title`, &title, chromedp.ByQuery, frame),
			chromedp.Text(`#prechat-intro`, &intro, chromedp.ByQuery, frame),
			chromedp.Text(`[data-field=name] span`, &name, chromedp.ByQuery, frame),
			chromedp.Text(`#prechat button[type=submit]`, &start, chromedp.ByQuery, frame),
			chromedp.Evaluate(inFrame(`return d.documentElement.lang;`), &lang),
			chromedp.Evaluate(inFrame(`return d.getElementById('text').placeholder;`), &placeholder),
			chromedp.Evaluate(inFrame(`return d.getElementById('send').textContent;`), &send),
		)
		got["lang"], got["title"], got["intro"], got["name"], got["start"], got["placeholder"], got["send"] = lang, title, intro, name, start, placeholder, send
		return got
	}

	ru := texts("a Russian browser, language auto")
	want := map[string]string{"lang": "ru", "title": "Напишите нам", "intro": "Пожалуйста, представьтесь перед началом чата.", "name": "Имя",
		"start": "Начать чат", "placeholder": "Напишите сообщение…", "send": "Отправить"}
	for k, v := range want {
		if ru[k] != v {
			t.Errorf("Russian browser: %s is %q, want %q", k, ru[k], v)
		}
	}

	// The channel says English: the Russian browser gets English.
	settings["language"] = "en"
	admin.Must(t, "PUT", apptest.Path("/api/v1/channels/%d", ch.ID), map[string]any{"settings": settings}, nil)
	apptest.Eventually(t, 10*time.Second, "the public config in English", func() bool {
		res, err := http.Get(fmt.Sprintf("%s/widget/api/%d/config", inst.URL, ch.ID))
		if err != nil {
			return false
		}
		defer res.Body.Close()
		var c struct {
			Config struct {
				Language string `json:"language"`
			} `json:"config"`
		}
		return json.NewDecoder(res.Body).Decode(&c) == nil && c.Config.Language == "en"
	})
	en := texts("a Russian browser, language en")
	want = map[string]string{"lang": "en", "title": "Chat with us", "intro": "Please introduce yourself before we start.", "name": "Name",
		"start": "Start chat", "placeholder": "Type a message…", "send": "Send"}
	for k, v := range want {
		if en[k] != v {
			t.Errorf("language en: %s is %q, want %q", k, en[k], v)
		}
	}
	for _, pr := range problems() {
		t.Errorf("browser problem: %s", pr)
	}
}
