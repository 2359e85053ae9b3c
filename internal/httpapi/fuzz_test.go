package httpapi

import (
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/example"
)

const fuzzSecret = "fuzz-secret-0123456789abcdef"

// FuzzWebhookRequest feeds arbitrary requests through the webhook's request building and
// the example provider's handshake and EventFilter: never a panic, the cap always holds,
// and nothing unsigned ever yields events.
func FuzzWebhookRequest(f *testing.F) {
	good := example.NewMessageUpdate(1, 1, "u-1", "", "Anna", "", "hi", time.Unix(1700000000, 0))
	f.Add("POST", "/webhooks/7", "", good, true)
	f.Add("POST", "/webhooks/7", "", good, false)
	f.Add("POST", "/webhooks/7/extra/path", "a=1&b=2", good[:len(good)/2], true)
	f.Add("GET", "/webhooks/7", "challenge=abc", []byte{}, true)
	f.Add("GET", "/webhooks/7", "challenge=", []byte{}, false)
	f.Add("POST", "/webhooks/7", "", example.NewBatch(good, example.NewReceiptUpdate(2, example.TypeRead, "u-1", "", []int64{5}, time.Unix(1700000000, 0))), true)
	f.Add("POST", "/webhooks/7", "", []byte(`{"updates":null,"type":"message","message":null}`), true)
	f.Add("POST", "/webhooks/7", "", []byte(strings.Repeat("[", 600)), true)
	f.Add("PUT", "/webhooks/7", "%zz", []byte("\x00\xff"), true)

	p := example.New()
	ch := providers.Channel{ID: 7, Kind: example.Kind, Secret: fuzzSecret,
		Settings: providers.Settings{example.SettingToken: "t", example.SettingAPIURL: "http://127.0.0.1:1"}}
	const max = 4096
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte, sign bool) {
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			method = "POST"
		}
		u := &url.URL{Path: path, RawQuery: query}
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Method, r.URL = method, u
		signed := false
		if sign {
			signed = true
			r.Header.Set(example.SignatureHeader, example.Sign(fuzzSecret, body))
			if q := u.Query(); q.Has(example.ChallengeParam) {
				r.Header.Set(example.SignatureHeader, example.Sign(fuzzSecret, []byte(q.Get(example.ChallengeParam))))
			}
		}
		req, err := webhookRequest(r, "7", max, "192.0.2.1")
		if len(body) > max {
			var he *echo.HTTPError
			if !errors.As(err, &he) || he.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("a %d-byte body over a %d cap: %v, want 413", len(body), max, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("webhookRequest: %v", err)
		}
		if !bytes.Equal(req.Body, body) || req.Method != method {
			t.Fatalf("request changed: %q %q", req.Method, req.Body)
		}
		ctx := context.Background()
		if _, handled, err := p.CallbackServerConfirmation(ctx, ch, req); handled || err != nil {
			return
		}
		evs, err := p.EventFilter(ctx, ch, req)
		if !signed && (err == nil || len(evs) > 0) {
			t.Fatalf("an unsigned request gave %d events, err %v", len(evs), err)
		}
		if err != nil && !errors.Is(err, providers.ErrMalformed) && !errors.Is(err, providers.ErrUnauthorized) {
			t.Fatalf("EventFilter error %v is neither malformed nor unauthorized (the core would answer 500)", err)
		}
	})
}

// FuzzSendJSON: the JSON reply decoder never panics and answers 400 or 413, never 500.
func FuzzSendJSON(f *testing.F) {
	f.Add([]byte(`{"text":"hello"}`))
	f.Add([]byte(`{"text":"hi","buttons":[[{"text":"Yes","data":"y"},{"text":"Site","url":"https://example.com"}]]}`))
	f.Add([]byte(`{"text":"hi","buttons":[{"text":"not a row"}]}`))
	f.Add([]byte(`{"text":`))
	f.Add([]byte(`{"text":"\ud800"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := decodeSendJSON(bytes.NewReader(data))
		if err != nil && statusOf(err) != http.StatusBadRequest && statusOf(err) != http.StatusRequestEntityTooLarge {
			t.Fatalf("error %v would answer %d", err, statusOf(err))
		}
	})
}

// FuzzUploadForm: arbitrary multipart bodies never panic; a file is returned only when the
// form has one within the cap; errors are 400 or 413.
func FuzzUploadForm(f *testing.F) {
	form := func(field, name string, content []byte, text string) []byte {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.SetBoundary("fuzzboundary")
		if text != "" {
			mw.WriteField("text", text)
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+field+`"; filename="`+name+`"`)
		h.Set("Content-Type", "application/octet-stream")
		w, _ := mw.CreatePart(h)
		w.Write(content)
		mw.Close()
		return b.Bytes()
	}
	f.Add(form("file", "a.txt", []byte("hello"), "caption"))
	f.Add(form("file", "../../etc/passwd", []byte("x"), ""))
	f.Add(form("other", "a.txt", []byte("hello"), ""))
	f.Add(form("file", "big.bin", bytes.Repeat([]byte("x"), 300), ""))
	f.Add([]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nno end"))
	f.Add([]byte("garbage"))
	const limit = 256
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/api/v1/dialogs/1/messages", bytes.NewReader(body))
		r.Header.Set("Content-Type", "multipart/form-data; boundary=fuzzboundary")
		fh, err := readUploadForm(httptest.NewRecorder(), r, limit)
		if r.MultipartForm != nil {
			defer r.MultipartForm.RemoveAll()
		}
		if err != nil {
			if s := statusOf(err); s != http.StatusBadRequest && s != http.StatusUnprocessableEntity && s != http.StatusRequestEntityTooLarge {
				t.Fatalf("error %v would answer %d", err, s)
			}
			return
		}
		if fh == nil || fh.Size > limit {
			t.Fatalf("accepted file %+v over the %d cap", fh, limit)
		}
		file, err := fh.Open()
		if err != nil {
			t.Fatalf("open accepted file: %v", err)
		}
		file.Close()
	})
}

// statusOf is the HTTP status the error handler would answer for err.
func statusOf(err error) int {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he.Code
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		if s := codeStatus[ae.Code]; s != 0 {
			return s
		}
	}
	return http.StatusInternalServerError
}
