package chatapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/omnichat/omnichat/providers"
)

// maxResponseBytes caps what we read of an answer (a QR PNG is a few kilobytes).
const maxResponseBytes = 4 << 20

// defaultRetryAfter is the delay for a 429 that does not say how long to wait.
const defaultRetryAfter = 5 * time.Second

// APIError is an error answer of ChatAPI: an HTTP error status, a 200 with {"error": …}, or a
// send refused with {"sent": false, "message": …}. Its text never contains the token.
type APIError struct {
	Method     string // the ChatAPI method ("sendMessage"): never the URL, which holds the token
	Status     int    // HTTP status
	Message    string // ChatAPI's error text
	RetryAfter time.Duration
	NotSent    bool // a send answered {"sent": false}
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("chatapi: %s: HTTP %d", e.Method, e.Status)
	if e.NotSent {
		msg += " not sent"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// errorBody is the error envelope; ChatAPI uses either field depending on the method.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// call performs one API call. method is ChatAPI's method name ("sendMessage"), query holds
// extra query parameters, in is JSON-encoded as the body when not nil, and the raw answer
// is returned on success (2xx without an "error" field).
//
// This is the only function that puts the token on the wire. Because ChatAPI wants it in
// the query string, every error it returns is scrubbed: a *url.Error carries the URL
// without its query, and any text that still contains the token has it replaced.
func (p *Provider) call(ctx context.Context, c config, httpMethod, method string, query url.Values, in any) ([]byte, http.Header, error) {
	var body io.Reader
	if in != nil {
		var b []byte
		switch v := in.(type) {
		case []byte: // already encoded (sendFile builds its body itself)
			b = v
		default:
			var err error
			if b, err = json.Marshal(in); err != nil {
				return nil, nil, errorf("%s: encode request: %w", method, err)
			}
		}
		body = bytes.NewReader(b)
	}
	q := url.Values{}
	for k, vs := range query {
		q[k] = vs
	}
	q.Set("token", c.token)
	full := c.baseURL + method + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, httpMethod, full, body)
	if err != nil {
		return nil, nil, errorf("%s: build request: %v", method, scrub(err.Error(), c.token))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := p.noRedirects().Do(req)
	if err != nil {
		// Network error, timeout, cancelled ctx: retried by the job, so a plain error.
		return nil, nil, errorf("%s: %w", method, scrubURLError(err, c.baseURL+method, c.token))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, nil, errorf("%s: read answer: %v", method, scrub(err.Error(), c.token))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, nil, classify(parseError(method, resp, data, c.token))
	}
	// ChatAPI also reports errors with 200 and {"error": "…"}.
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
		return nil, nil, classify(&APIError{Method: method, Status: resp.StatusCode, Message: scrub(eb.Error, c.token)})
	}
	return data, resp.Header, nil
}

// callJSON is call plus decoding the answer into out. A 2xx that is not JSON (a captive
// proxy's page) is a plain error: retrying may help.
func (p *Provider) callJSON(ctx context.Context, c config, httpMethod, method string, query url.Values, in, out any) error {
	data, _, err := p.call(ctx, c, httpMethod, method, query, in)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return errorf("%s: decode answer: %v", method, err)
	}
	return nil
}

// noRedirects returns the provider's client with redirects turned off. The token is in the
// query string, and a redirect would carry it to wherever the Location points.
func (p *Provider) noRedirects() *http.Client {
	c := *p.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// scrubURLError replaces the URL of a *url.Error (which has the token in its query) by
// safeURL, keeping the error's type so callers can still test for timeouts.
func scrubURLError(err error, safeURL, token string) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return errors.New(scrub(err.Error(), token))
	}
	inner := ue.Err
	if inner != nil && token != "" && strings.Contains(inner.Error(), token) {
		inner = errors.New(scrub(inner.Error(), token))
	}
	return &url.Error{Op: ue.Op, URL: safeURL, Err: inner}
}

// scrub removes the token from a text (an upstream error message, a proxy's page).
func scrub(s, token string) string {
	if token == "" {
		return s
	}
	s = strings.ReplaceAll(s, token, "[token]")
	return strings.ReplaceAll(s, url.QueryEscape(token), "[token]")
}

// parseError reads an error answer; a body that is not ChatAPI's JSON still gives an error
// from the status alone.
func parseError(method string, resp *http.Response, data []byte, token string) *APIError {
	e := &APIError{Method: method, Status: resp.StatusCode}
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil {
		e.Message = eb.Error
		if e.Message == "" {
			e.Message = eb.Message
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Message = scrub(truncate(e.Message, 300), token)
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// classify turns an API error into the typed errors the core decides by.
func classify(e *APIError) error {
	lower := strings.ToLower(e.Message)
	switch {
	case e.Status == http.StatusTooManyRequests:
		d := e.RetryAfter
		if d <= 0 {
			d = defaultRetryAfter
		}
		return providers.RetryAfter(d, e)
	case e.Status >= 500:
		return e
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden || strings.Contains(lower, "wrong token"):
		return providers.Permanent("ChatAPI rejected the token: check the channel settings", e)
	case strings.Contains(lower, "paid") || strings.Contains(lower, "payment"):
		return providers.Permanent("the ChatAPI instance is not paid: renew it in the ChatAPI dashboard", e)
	case e.Status == http.StatusNotFound || strings.Contains(lower, "instance not found"):
		return providers.Permanent("ChatAPI does not know this instance: check the API URL and channel id", e)
	case e.NotSent:
		return providers.Permanent("WhatsApp did not accept the message: "+e.Message, e)
	default:
		return providers.Permanent("ChatAPI refused the request: "+e.Message, e)
	}
}

// isStatus reports whether err is an API error with this HTTP status.
func isStatus(err error, status int) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == status
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
