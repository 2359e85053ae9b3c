package facebook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	fb "github.com/huandu/facebook/v2"

	"github.com/omnichat/omnichat/providers"
)

// maxResponseBytes caps what we read of one Graph API answer.
const maxResponseBytes = 8 << 20

// session returns a Graph API session for token, bound to ctx.
//
// The library's defaults are all wrong for us (see providers.md §8): no timeout, tokens in
// the query string of GET requests, unversioned URLs, no HTTP status check. So the token
// goes in the Authorization header, the version is pinned, and the HTTP client is wrapped
// by statusClient.
func (p *Provider) session(ctx context.Context, c config, token string) *fb.Session {
	app := fb.New(c.AppID, c.AppSecret)
	s := app.Session(token)
	s.Version = c.GraphVersion
	s.BaseURL = c.APIURL + "/"
	s.HttpClient = statusClient{c: p.client}
	s.UseAuthorizationHeader()
	return s.WithContext(ctx)
}

func (p *Provider) pageSession(ctx context.Context, c config) *fb.Session {
	return p.session(ctx, c, c.PageToken)
}

// appSession uses the app access token ("app_id|app_secret"), which app-level endpoints
// such as /{app-id}/subscriptions require.
func (p *Provider) appSession(ctx context.Context, c config) *fb.Session {
	return p.session(ctx, c, c.AppID+"|"+c.AppSecret)
}

// statusClient makes the HTTP status visible. The library decodes every body as JSON and
// never looks at the status, so a proxy's "502 Bad Gateway" page or a bare 429 would become
// a decode error or, worse, an empty success. Bodies that carry a Graph error object pass
// through untouched: the library turns them into *fb.Error.
type statusClient struct {
	c *http.Client
}

// httpStatusError is a non-2xx answer without a Graph error object in it.
type httpStatusError struct {
	Status     int
	RetryAfter time.Duration
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("graph api answered HTTP %d %s without an error object", e.Status, http.StatusText(e.Status))
}

func (sc statusClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := sc.c.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading graph api answer: %w", err)
	}
	if resp.StatusCode >= 300 && !isGraphError(body) {
		return nil, &httpStatusError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (sc statusClient) Get(url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return sc.Do(req)
}

func (sc statusClient) Post(url, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	return sc.Do(req)
}

func isGraphError(body []byte) bool {
	var v struct {
		Error *json.RawMessage `json:"error"`
	}
	return json.Unmarshal(body, &v) == nil && v.Error != nil
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// Graph API error codes that decide what to do with a failed call
// (https://developers.facebook.com/docs/messenger-platform/error-codes).
const (
	codeUnknown          = 1
	codeService          = 2
	codeTooManyCalls     = 4
	codePermission       = 10
	codeUserTooMany      = 17
	codeInvalidParameter = 100
	codeAppInvalid       = 101
	codeAccessToken      = 190
	codePageRateLimit    = 32
	codePermissionDenied = 200
	codePolicyBlock      = 368
	codeUnavailable      = 551
	codeRateLimit        = 613
	codeTemporarySend    = 1200

	subcodeOutsideWindow = 2018278
	subcodeNoUser        = 2018001
	subcodeUnavailable   = 1545041
)

// defaultRateLimitDelay is used when Meta gives no estimate: its limits are counted over an
// hour-long sliding window, so retrying within seconds only burns more of the quota.
const defaultRateLimitDelay = time.Minute

// classify maps a Graph API failure to omnichat's error classes: Permanent (the message is
// marked failed with the reason), RetryAfter (rate limited), or a plain error (retried with
// backoff). res is the call's result, which carries Meta's usage headers. The returned
// error never contains a credential.
func classify(c config, res fb.Result, err error) error {
	if err == nil {
		return nil
	}
	safe := scrub(err, c.secrets()...)

	var fe *fb.Error
	if errors.As(err, &fe) {
		switch {
		case fe.IsTransient, fe.Code == codeUnknown, fe.Code == codeService, fe.Code == codeTemporarySend:
			return safe
		case fe.Code == codeTooManyCalls, fe.Code == codeUserTooMany, fe.Code == codePageRateLimit, fe.Code == codeRateLimit:
			return providers.RetryAfter(rateLimitDelay(res), safe)
		case fe.Code == codePermission && fe.ErrorSubcode == subcodeOutsideWindow:
			reason := "outside Facebook's 24-hour reply window: the visitor has to write again before we can answer"
			if c.HumanAgent {
				reason = "outside Facebook's reply window (7 days with the Human Agent tag): the visitor has to write again"
			}
			return providers.Permanent(reason, safe)
		case fe.Code == codeUnavailable || fe.ErrorSubcode == subcodeUnavailable:
			return providers.Permanent("this person isn't available on Messenger right now (blocked the page or left Messenger)", safe)
		case fe.Code == codeInvalidParameter && fe.ErrorSubcode == subcodeNoUser:
			return providers.Permanent("Facebook found no such Messenger user for this page", safe)
		case fe.Code == codeAccessToken:
			return providers.Permanent("Facebook rejected the page access token (expired or revoked): update the channel's page token", safe)
		case fe.Code == codePermission || fe.Code == codePermissionDenied || (fe.Code >= 200 && fe.Code <= 299):
			return providers.Permanent("the Facebook app lacks a permission for this (pages_messaging, or the Human Agent feature for tagged messages)", safe)
		case fe.Code == codePolicyBlock:
			return providers.Permanent("Facebook temporarily blocked the page from sending for policy reasons", safe)
		case fe.Code == codeInvalidParameter:
			return providers.Permanent("Facebook refused the message: "+scrubString(fe.Message, c.secrets()...), safe)
		}
		// Unknown codes are retried: the job's attempt limit ends it if it never heals.
		return safe
	}

	var se *httpStatusError
	if errors.As(err, &se) && se.Status == http.StatusTooManyRequests {
		d := se.RetryAfter
		if d <= 0 {
			d = defaultRateLimitDelay
		}
		return providers.RetryAfter(d, safe)
	}
	// 5xx, other statuses, network errors and bodies that are not JSON: retried.
	return safe
}

// rateLimitDelay reads Meta's estimate of when calls will be accepted again from the
// X-Business-Use-Case-Usage / X-App-Usage / X-Page-Usage headers (in minutes).
func rateLimitDelay(res fb.Result) time.Duration {
	minutes := 0
	if res != nil {
		if u := res.UsageInfo(); u != nil {
			minutes = max(minutes, u.App.EstimatedTimeToRegainAccess, u.Page.EstimatedTimeToRegainAccess)
			for _, limits := range u.BusinessUseCase {
				for _, l := range limits {
					if l != nil {
						minutes = max(minutes, l.EstimatedTimeToRegainAccess)
					}
				}
			}
		}
	}
	if minutes <= 0 {
		return defaultRateLimitDelay
	}
	return time.Duration(minutes) * time.Minute
}

// scrubbedError keeps the chain of err (errors.Is/As still work) but prints text with every
// secret replaced. The library puts raw server text and, for some errors, tokens into its
// messages (Session.Validate prints the token); this keeps them out of logs and the UI.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: scrubString(err.Error(), secrets...), err: err}
}

func scrubString(s string, secrets ...string) string {
	for _, v := range secrets {
		// Very short values would blank out ordinary words; real tokens are long.
		if len(v) >= 6 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// resultString reads a string (or a number, the library decodes numbers as json.Number)
// field of a Graph API result.
func resultString(res fb.Result, field string) string {
	switch v := res.Get(field).(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		return ""
	}
}
