package vk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/omnichat/omnichat/providers"
)

// maxResponseBytes caps what we read of an API answer: VK's answers are small, and a proxy's
// error page must not make us buffer megabytes.
const maxResponseBytes = 4 << 20

// VK API error codes this package acts on. https://dev.vk.com/ru/reference/errors
const (
	codeUnknown           = 1
	codeAuthFailed        = 5
	codeTooManyPerSecond  = 6
	codePermissionDenied  = 7
	codeInvalidRequest    = 8
	codeFloodControl      = 9
	codeInternal          = 10
	codeAccessDenied      = 15
	codeUserDeleted       = 18
	codeGroupAuthFailed   = 27
	codeRateLimit         = 29
	codeInvalidParam      = 100
	codeInvalidUserID     = 113
	codeUserBlacklisted   = 900 // the visitor blocked the community
	codeDenySend          = 901 // no permission: the visitor never allowed messages, or denied them
	codePrivacy           = 902
	codeKeyboardInvalid   = 911
	codeBotFeature        = 912 // keyboards need "bot abilities" switched on
	codeTooManyForwards   = 913
	codeMessageTooLong    = 914
	codeChatNoAccess      = 917
	codeCantForward       = 921
	codeCantDeleteForAll  = 924 // older than 24 hours, or not ours
	codeChatNotAdmin      = 925
	codeChatNotExist      = 927
	codeGroupPeerAccess   = 932
	codeChatUserNotInChat = 935
	codeContactNotFound   = 936
	codeChatDisabled      = 945
	codeChatNotSupported  = 946
)

// permanentReasons maps error codes that retrying cannot fix to a reason an operator can
// read. Codes not listed (1 unknown, 10 internal, and any new code) are retried with backoff.
var permanentReasons = map[int]string{
	codeAuthFailed:        "VK rejected the community token: create a new one and update the channel",
	codePermissionDenied:  "the VK token lacks a permission this needs",
	codeInvalidRequest:    "VK rejected the request as invalid",
	codeAccessDenied:      "VK denied access",
	codeUserDeleted:       "the visitor's VK account is deleted or banned",
	codeGroupAuthFailed:   "VK rejected the community token",
	codeInvalidParam:      "VK rejected a parameter of the request",
	codeInvalidUserID:     "VK does not know this user id",
	codeUserBlacklisted:   "the visitor blocked the community",
	codeDenySend:          "the visitor has not allowed messages from the community (or turned them off)",
	codePrivacy:           "the visitor's privacy settings forbid messages from the community",
	codeKeyboardInvalid:   "VK rejected the buttons",
	codeBotFeature:        "bot abilities are off in the VK community: turn on Manage → Messages → Bot settings → Bot abilities",
	codeTooManyForwards:   "too many forwarded messages for VK",
	codeMessageTooLong:    "the message is too long for VK",
	codeChatNoAccess:      "the community has no access to this VK conversation",
	codeCantForward:       "VK cannot forward or quote that message",
	codeCantDeleteForAll:  "VK lets a community delete a message for everyone only within 24 hours",
	codeChatNotAdmin:      "the community is not an administrator of this VK conversation",
	codeChatNotExist:      "the VK conversation does not exist",
	codeGroupPeerAccess:   "the community cannot write to this VK conversation",
	codeChatUserNotInChat: "the visitor is not in this VK conversation",
	codeContactNotFound:   "VK contact not found",
	codeChatDisabled:      "the VK conversation is disabled",
	codeChatNotSupported:  "VK does not support this conversation",
}

// APIError is an error answer of the VK API: HTTP 200 with {"error":{error_code, error_msg}}.
type APIError struct {
	Method string // the API method, e.g. "messages.send"
	Code   int
	Msg    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("vk %s: error %d: %s", e.Method, e.Code, e.Msg)
}

// HTTPError is an answer with an HTTP status other than 200 (VK itself answers 200 even for
// errors; other statuses come from its front ends or a proxy).
type HTTPError struct {
	Op         string // the API method or "upload"
	Status     int
	RetryAfter time.Duration // from a Retry-After header, with 429
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("vk %s: HTTP %d", e.Op, e.Status)
}

// apiAnswer is VK's answer envelope.
type apiAnswer struct {
	Response json.RawMessage `json:"response"`
	Error    *struct {
		Code int    `json:"error_code"`
		Msg  string `json:"error_msg"`
	} `json:"error"`
}

// call invokes one API method and decodes "response" into out (when not nil). It is the only
// function that puts a token on the wire: in the Authorization header, never in the URL or
// the body, so it cannot leak through *url.Error texts or proxy logs. There are no retries
// and no rate limiter here: the core's jobs retry, with the delays classify returns.
func (p *Provider) call(ctx context.Context, c config, token, method string, params url.Values, out any) error {
	form := url.Values{}
	for k, vs := range params {
		form[k] = vs
	}
	form.Set("v", APIVersion)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.methodURL+method, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("vk %s: build request: %w", method, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("vk %s: %w", method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("vk %s: read answer: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &HTTPError{Op: method, Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header)}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("vk %s: answer is %q, not JSON", method, mt)
	}
	var a apiAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("vk %s: decode answer: %w", method, err)
	}
	if a.Error != nil && a.Error.Code != 0 {
		return &APIError{Method: method, Code: a.Error.Code, Msg: a.Error.Msg}
	}
	if len(a.Response) == 0 {
		return fmt.Errorf("vk %s: answer has neither response nor error", method)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(a.Response, out); err != nil {
		return fmt.Errorf("vk %s: decode response: %w", method, err)
	}
	return nil
}

// retryAfter reads a Retry-After header given in seconds.
func retryAfter(h http.Header) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// classify turns an API failure into the typed errors of package providers: Permanent for
// what retrying cannot fix, RetryAfter for rate limits, and the error itself (retried with
// backoff) for everything else: 5xx, network errors, non-JSON answers, unknown codes.
func classify(err error) error {
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case codeTooManyPerSecond:
			// A per-second limit: a second later the call goes through.
			return providers.RetryAfter(time.Second, err)
		case codeFloodControl:
			// Flood control: too many identical messages or too many in a short time.
			return providers.RetryAfter(time.Minute, err)
		case codeRateLimit:
			// A per-method quota: it recovers slowly.
			return providers.RetryAfter(time.Hour, err)
		case codeUnknown, codeInternal:
			return err
		}
		if reason, ok := permanentReasons[ae.Code]; ok {
			return providers.Permanent(reason, err)
		}
		return err
	}
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusTooManyRequests {
		d := he.RetryAfter
		if d <= 0 {
			d = time.Second
		}
		return providers.RetryAfter(d, err)
	}
	return err
}

// apiCode returns the VK error code inside err (0 when none).
func apiCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}
