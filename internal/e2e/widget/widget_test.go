// Package widget runs whole omnichat instances with a web-site widget channel: visitors
// talk through the visitor API (and, in browser_test.go, through a real Chromium), and
// operators answer through the operator API.
package widget

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/internal/testdb"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
	"github.com/omnichat/omnichat/providers/widget"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const shop = "https://shop.example"

type channelView struct {
	ID       int64             `json:"id"`
	Settings map[string]string `json:"settings"`
	Actions  []struct {
		Name string `json:"name"`
	} `json:"actions"`
}

// widgetChannel creates a widget channel the way an admin does.
func widgetChannel(t *testing.T, admin *apptest.Client, settings map[string]string) channelView {
	t.Helper()
	var ch channelView
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "widget", "name": "Our site", "settings": settings}, &ch)
	return ch
}

// visitor is a browser on the chat page: same origin as omnichat.
type visitor struct {
	base, api, token string
	http             *http.Client
}

func newVisitor(t *testing.T, inst *apptest.Instance, channelID int64) *visitor {
	t.Helper()
	v := &visitor{base: inst.URL, api: fmt.Sprintf("%s/widget/api/%d", inst.URL, channelID), http: &http.Client{Timeout: 10 * time.Second}}
	var s struct {
		Token   string `json:"token"`
		Started bool   `json:"started"`
	}
	if code, raw := v.do(t, "POST", "/session", map[string]string{"token": ""}, nil, &s); code != 200 || s.Token == "" || s.Started {
		t.Fatalf("session: %d %s", code, raw)
	}
	v.token = s.Token
	return v
}

func (v *visitor) do(t *testing.T, method, path string, body any, header map[string]string, out any) (int, []byte) {
	t.Helper()
	var r io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case *bytes.Buffer:
		r = b
	default:
		j, _ := json.Marshal(b)
		r, ct = bytes.NewReader(j), "application/json"
	}
	req, _ := http.NewRequest(method, v.api+path, r)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if v.token != "" {
		req.Header.Set("X-Widget-Token", v.token)
	}
	req.Header.Set("Origin", v.base)
	for k, val := range header {
		req.Header.Set(k, val)
	}
	resp, err := v.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, raw
}

var seq int

func (v *visitor) say(t *testing.T, text string, extra map[string]any) {
	t.Helper()
	seq++
	body := map[string]any{"type": "message", "id": fmt.Sprintf("m-test-%06d", seq), "text": text}
	for k, val := range extra {
		body[k] = val
	}
	if code, raw := v.do(t, "POST", "/messages", body, nil, nil); code != 200 {
		t.Fatalf("visitor post: %d %s", code, raw)
	}
}

type visitorMsg struct {
	ID     int64  `json:"id"`
	Dir    string `json:"dir"`
	Text   string `json:"text"`
	Author string `json:"author"`
	Status string `json:"status"`
	Files  []struct {
		ID      int64  `json:"id"`
		Kind    string `json:"kind"`
		Name    string `json:"name"`
		Pending bool   `json:"pending"`
	} `json:"files"`
}

func (v *visitor) history(t *testing.T) ([]visitorMsg, []byte) {
	t.Helper()
	var out struct {
		Messages []visitorMsg `json:"messages"`
	}
	code, raw := v.do(t, "GET", "/messages", nil, nil, &out)
	if code != 200 {
		t.Fatalf("history: %d %s", code, raw)
	}
	return out.Messages, raw
}

// stream opens the visitor's SSE stream and returns the message ids it announces.
func (v *visitor) stream(t *testing.T) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", v.api+"/stream?t="+v.token, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("visitor stream: %v %v", resp, err)
	}
	out := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "event: ") {
				event = line[7:]
			}
			if strings.HasPrefix(line, "data: ") {
				out <- event + " " + line[6:]
			}
		}
	}()
	return out
}

func TestWidgetVisitorAndOperator(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	// Phones from the pre-chat form feed the client base.
	var st map[string]any
	admin.Must(t, "GET", "/api/v1/settings", nil, &st)
	st["auto_add"] = true
	admin.Must(t, "PUT", "/api/v1/settings", st, nil)

	ch := widgetChannel(t, admin, map[string]string{"allowed_origins": shop + "\nhttps://www.shop.example", "greeting": "Hi! Ask us anything.", "prechat_name": "true", "prechat_phone": "true", "color": "#aa3300"})
	if len(ch.Actions) != 1 || ch.Actions[0].Name != "embed" {
		t.Fatalf("channel actions %+v", ch.Actions)
	}
	var embed struct {
		Code string `json:"code"`
	}
	admin.Must(t, "POST", apptest.Path("/api/v1/channels/%d/actions/embed", ch.ID), nil, &embed)
	if want := fmt.Sprintf(`<script src="%s/widget.js" data-channel="%d" async></script>`, inst.URL, ch.ID); embed.Code != want {
		t.Fatalf("embed code %q, want %q", embed.Code, want)
	}

	// Settings are validated: an origin must be an origin.
	code, raw := admin.Call(t, "POST", "/api/v1/channels", map[string]any{"kind": "widget", "name": "bad", "settings": map[string]string{"allowed_origins": "shop.example/path"}}, nil)
	if code != 422 || !strings.Contains(string(raw), "allowed_origins") {
		t.Fatalf("a bad origin: %d %s", code, raw)
	}

	// The script and the chat page.
	resp, err := http.Get(inst.URL + "/widget.js")
	if err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("/widget.js: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(fmt.Sprintf("%s/widget/frame/%d", inst.URL, ch.ID))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("frame: %v %v", resp, err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self' "+shop+" https://www.shop.example;") {
		t.Fatalf("frame CSP %q", csp)
	}

	// CORS on the config: allowed sites only.
	for origin, want := range map[string]int{shop: 200, "https://evil.example": 403} {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/widget/api/%d/config", inst.URL, ch.ID), nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		acao := resp.Header.Get("Access-Control-Allow-Origin")
		if resp.StatusCode != want || (want == 200) != (acao == origin) {
			t.Fatalf("config from %s: %d, ACAO %q, %s", origin, resp.StatusCode, acao, body)
		}
		if want == 200 && (!strings.Contains(string(body), `"prechat":["name","phone"]`) || strings.Contains(string(body), "allowed_origins")) {
			t.Fatalf("public config %s", body)
		}
	}

	v := newVisitor(t, inst, ch.ID)
	opStream := admin.Stream(t)

	// No token, a forged token, another site's page: refused, nothing stored.
	forged := *v
	forged.token = v.token[:23] + strings.Repeat("A", len(v.token)-23)
	seq++
	post := map[string]any{"type": "message", "id": fmt.Sprintf("m-test-%06d", seq), "text": "forged"}
	if code, raw := forged.do(t, "POST", "/messages", post, nil, nil); code != 401 {
		t.Fatalf("forged token: %d %s", code, raw)
	}
	if code, raw := v.do(t, "POST", "/messages", post, map[string]string{"Origin": "https://evil.example"}, nil); code != 403 {
		t.Fatalf("cross-origin post: %d %s", code, raw)
	}
	var list struct {
		Dialogs []store.Dialog `json:"dialogs"`
	}
	admin.Must(t, "GET", "/api/v1/dialogs", nil, &list)
	if len(list.Dialogs) != 0 {
		t.Fatalf("a refused post was stored: %+v", list.Dialogs)
	}

	// The visitor writes (with the pre-chat form): the operator sees it live.
	v.say(t, "Hello, do you deliver on Sundays?", map[string]any{"name": "Anna", "phone": "8 (916) 123-45-67"})
	ev := opStream.Next(t, "dialog.created", 10*time.Second)
	var p struct {
		D int64 `json:"d"`
		M int64 `json:"m"`
	}
	_ = json.Unmarshal(ev.Data, &p)
	admin.Must(t, "GET", "/api/v1/dialogs", nil, &list)
	if len(list.Dialogs) != 1 || list.Dialogs[0].Visitor.FirstName != "Anna" || list.Dialogs[0].Visitor.Phone != "+79161234567" || list.Dialogs[0].ChannelKind != "widget" {
		t.Fatalf("dialog %+v", list.Dialogs)
	}
	d := list.Dialogs[0]
	apptest.Eventually(t, 10*time.Second, "the visitor linked to a client by phone", func() bool {
		var dd store.Dialog
		admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d", d.ID), nil, &dd)
		return dd.Visitor.ClientID != nil && dd.Visitor.FirstName == "Anna"
	})

	// A retried post (same widget id) is stored once.
	seq--
	v.say(t, "Hello, do you deliver on Sundays?", nil)
	var msgs struct {
		Messages []store.Message `json:"messages"`
	}
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages", d.ID), nil, &msgs)
	if len(msgs.Messages) != 1 {
		t.Fatalf("after a retried post: %d messages", len(msgs.Messages))
	}

	// The operator answers: the visitor's stream announces it, the history shows it with
	// the operator's name and nothing else about them.
	vs := v.stream(t)
	// The visitor's browser may be connected to another instance: the reply reaches it too.
	inst2 := apptest.Start(t, apptest.Options{DatabaseURL: inst.DatabaseURL, NoWorkers: true})
	v2 := *v
	v2.base, v2.api = inst2.URL, fmt.Sprintf("%s/widget/api/%d", inst2.URL, ch.ID)
	vs2 := v2.stream(t)
	admin.Must(t, "PUT", apptest.Path("/api/v1/operators/%d", admin.UserID), map[string]any{"name": "Olga"}, nil)
	var reply store.Message
	admin.Must(t, "POST", apptest.Path("/api/v1/dialogs/%d/messages", d.ID), map[string]string{"text": "Yes, every day from 9 to 21."}, &reply)
	waitAnnounced(t, vs, reply.ID)
	waitAnnounced(t, vs2, reply.ID)
	var hist []visitorMsg
	apptest.Eventually(t, 10*time.Second, "the reply in the visitor's history", func() bool {
		hist, raw = v.history(t)
		return len(hist) == 2 && hist[1].Status == "sent"
	})
	if hist[0].Dir != "in" || hist[0].Status != "read" || hist[1].Dir != "out" || hist[1].Text != "Yes, every day from 9 to 21." || hist[1].Author != "Olga" {
		t.Fatalf("history %+v", hist)
	}
	for _, leak := range []string{"admin@example.com", "author_id", "assignee", "department", "external", "visitor_id"} {
		if strings.Contains(string(raw), leak) {
			t.Fatalf("the visitor's history leaks %q: %s", leak, raw)
		}
	}

	// The visitor sends a file: uploaded, downloaded into our storage, shown to the operator.
	photo := telegramtest.SampleJPEG()
	var up map[string]any
	if code, raw := v.do(t, "POST", "/uploads", multipartFile(t, "receipt.jpg", photo), map[string]string{"Content-Type": lastContentType}, &up); code != 201 {
		t.Fatalf("upload: %d %s", code, raw)
	}
	v.say(t, "", map[string]any{"files": []any{up}})
	var fileMsg store.Message
	defer func() {
		if t.Failed() {
			t.Logf("messages: %+v", msgs.Messages)
		}
	}()
	apptest.Eventually(t, 15*time.Second, "the visitor's file stored", func() bool {
		msgs.Messages = nil // decoding into reused elements would keep stale "pending" flags
		admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages", d.ID), nil, &msgs)
		for _, m := range msgs.Messages {
			if len(m.Attachments) == 1 && m.Direction == "in" && !m.Attachments[0].Pending {
				fileMsg = m
				return true
			}
		}
		return false
	})
	if a := fileMsg.Attachments[0]; a.FileID == 0 || a.Kind != "image" || a.Error != "" {
		t.Fatalf("visitor file %+v", a)
	}
	code, raw = admin.Call(t, "GET", apptest.Path("/api/v1/files/%d", fileMsg.Attachments[0].FileID), nil, nil)
	if code != 200 || !bytes.Equal(raw, photo) {
		t.Fatalf("served visitor file: %d, %d bytes", code, len(raw))
	}
	// …and the visitor sees their own file, another visitor does not.
	if code, _ := v.do(t, "GET", fmt.Sprintf("/files/%d", fileMsg.Attachments[0].FileID), nil, nil, nil); code != 200 {
		t.Fatalf("the visitor's own file: %d", code)
	}
	other := newVisitor(t, inst, ch.ID)
	if code, _ := other.do(t, "GET", fmt.Sprintf("/files/%d", fileMsg.Attachments[0].FileID), nil, nil, nil); code != 404 {
		t.Fatalf("another visitor read the file: %d", code)
	}
	if h, _ := other.history(t); len(h) != 0 {
		t.Fatalf("another visitor sees history: %+v", h)
	}
	// The signed upload link was read once by the download job, and is gone now.
	_, live, err := inst.App.Channels.Live(context.Background(), ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(fmt.Sprintf("%s/uploads/%s?sig=%s", v.api, up["ref"], widget.UploadSig(live, up["ref"].(string)))); err != nil || resp.StatusCode != 404 {
		t.Fatalf("a second read of the upload: %v %v", resp, err)
	}
	// An upload link without the signature is refused.
	if resp, err := http.Get(fmt.Sprintf("%s/uploads/%s", v.api, up["ref"])); err != nil || resp.StatusCode != 404 {
		t.Fatalf("unsigned upload read: %v %v", resp, err)
	}

	// Size caps: text and files.
	seq++
	if code, _ := v.do(t, "POST", "/messages", map[string]any{"type": "message", "id": fmt.Sprintf("m-test-%06d", seq), "text": strings.Repeat("x", 4001)}, nil, nil); code != 400 {
		t.Fatalf("a 4001-character message: %d", code)
	}
	if code, _ := v.do(t, "POST", "/uploads", multipartFile(t, "big.bin", make([]byte, 10<<20+1)), map[string]string{"Content-Type": lastContentType}, nil); code != 413 {
		t.Fatalf("an 10 MB + 1 upload: %d", code)
	}

	// Resume: the same token on reload gives the same conversation.
	var s struct {
		Token   string `json:"token"`
		Started bool   `json:"started"`
	}
	v.do(t, "POST", "/session", map[string]string{"token": v.token}, nil, &s)
	if s.Token != v.token || !s.Started {
		t.Fatalf("resume: %+v", s)
	}

	// One visitor cannot hold open streams without end (one is open on this instance).
	for i := 0; i < 7; i++ {
		v.stream(t)
	}
	req, _ := http.NewRequest("GET", v.api+"/stream?t="+v.token, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 429 {
		t.Fatalf("a ninth stream: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Rate limit: a script flooding the chat is slowed down.
	limited := false
	for i := 0; i < 25 && !limited; i++ {
		seq++
		code, _ := other.do(t, "POST", "/messages", map[string]any{"type": "message", "id": fmt.Sprintf("m-flood-%06d", seq), "text": "spam"}, nil, nil)
		limited = code == 429
	}
	if !limited {
		t.Fatal("25 messages in a row were all accepted: no rate limit")
	}
}

var lastContentType string

func multipartFile(t *testing.T, name string, content []byte) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, _ := w.CreateFormFile("file", name)
	_, _ = fw.Write(content)
	_ = w.Close()
	lastContentType = w.FormDataContentType()
	return &buf
}

func waitAnnounced(t *testing.T, vs <-chan string, id int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	var seen []string
	for {
		select {
		case ev := <-vs:
			seen = append(seen, ev)
			if ev == fmt.Sprintf(`message {"m":%d}`, id) {
				return
			}
		case <-deadline:
			t.Fatalf("the visitor's stream did not announce message %d (saw %v)", id, seen)
		}
	}
}
