package example

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/omnichat/omnichat/providers"
)

// maxResponseBytes caps what we read of an API answer. The platform's answers are small; a
// proxy's error page or a broken server must not make us buffer megabytes.
const maxResponseBytes = 1 << 20

// defaultRetryAfter is used when the platform says 429 without saying how long to wait.
const defaultRetryAfter = time.Second

// APIError is an error answer of the platform: an HTTP status plus the JSON body
// {"error":{"code","message","retry_after"?}}. Callers classify it with errors.As; the
// provider already wraps it in the typed errors of package providers.
type APIError struct {
	Op         string // "POST /messages": which call failed (no ids, no token)
	Status     int    // HTTP status
	Code       string // the platform's machine-readable code, e.g. "user_blocked"
	Message    string // the platform's human-readable message
	RetryAfter int    // seconds to wait, with 429
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("example messenger: %s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// apiErrorBody is the platform's error envelope.
type apiErrorBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		RetryAfter int    `json:"retry_after"`
	} `json:"error"`
}

// newRequest builds one API request. This and do are the only places that touch the token:
// it goes into the Authorization header, never into the URL, so it cannot leak through
// *url.Error texts, proxy logs or access logs.
func newRequest(ctx context.Context, c config, method, path string, body io.Reader, contentType string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		// The URL comes from the api_url setting (already validated) and our own path, so
		// this is a programming error; the message carries no token.
		return nil, errorf("build %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// callJSON sends in (when not nil) as a JSON body and decodes the answer into out (when not
// nil). op names the call in errors, e.g. "POST /messages".
func (p *Provider) callJSON(ctx context.Context, c config, op, method, path string, in, out any, header http.Header) error {
	var body io.Reader
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return errorf("%s: encode request: %w", op, err)
		}
		body = bytes.NewReader(b)
		contentType = "application/json"
	}
	req, err := newRequest(ctx, c, method, path, body, contentType)
	if err != nil {
		return err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return p.do(req, op, out)
}

// do is the one transport function: it sends req, maps failures to the typed errors of
// package providers, and decodes a successful answer into out. Having exactly one such
// function keeps error mapping consistent across every method.
func (p *Provider) do(req *http.Request, op string, out any) error {
	resp, err := p.client.Do(req)
	if err != nil {
		// Network errors, timeouts and a cancelled ctx: all worth retrying, so a plain error.
		// *url.Error quotes the URL, which is safe because the token is in a header.
		return errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return errorf("%s: read answer: %w", op, err)
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return classify(parseAPIError(op, resp, data))
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		// A 2xx we cannot read: maybe a captive proxy page. Retrying may help; a plain error.
		return errorf("%s: decode answer: %w", op, err)
	}
	return nil
}

// parseAPIError reads the error envelope. A body that is not the platform's JSON (an HTML
// page from a proxy) still gives a usable error from the status alone.
func parseAPIError(op string, resp *http.Response, data []byte) *APIError {
	e := &APIError{Op: op, Status: resp.StatusCode}
	var body apiErrorBody
	if json.Unmarshal(data, &body) == nil {
		e.Code, e.Message, e.RetryAfter = body.Error.Code, body.Error.Message, body.Error.RetryAfter
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if e.RetryAfter <= 0 {
		// Some proxies put the delay only into the standard header.
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = s
		}
	}
	return e
}

// classify turns a platform error into the typed errors the core decides by:
//   - Permanent: retrying cannot help (bad token, blocked visitor, bad request). The message
//     is marked failed with Reason, which an operator reads, so Reason is plain language.
//   - RetryAfter: the platform told us when to come back.
//   - anything else (5xx): a plain error, retried with backoff by the job.
func classify(e *APIError) error {
	switch {
	case e.Status == http.StatusUnauthorized:
		return providers.Permanent("Example Messenger rejected the bot token: check the channel settings", e)
	case e.Status == http.StatusForbidden:
		return providers.Permanent("the visitor blocked the bot", e)
	case e.Status == http.StatusRequestEntityTooLarge:
		return providers.Permanent("the file is too large for Example Messenger", e)
	case e.Status == http.StatusTooManyRequests:
		d := time.Duration(e.RetryAfter) * time.Second
		if d <= 0 {
			d = defaultRetryAfter
		}
		return providers.RetryAfter(d, e)
	case e.Status >= 400 && e.Status < 500:
		return providers.Permanent("Example Messenger refused the request: "+e.Message, e)
	default:
		return e
	}
}

// isStatus reports whether err is an API error with this HTTP status.
func isStatus(err error, status int) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == status
}
