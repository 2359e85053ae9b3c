package viber

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

	"github.com/omnichat/omnichat/providers"
)

// maxResponseBytes caps what we read of an API answer. Viber's answers are small; a proxy's
// error page must not make us buffer megabytes.
const maxResponseBytes = 1 << 20

// Retry delays for Viber's status 12 (tooManyRequests), which carries no delay of its own.
// get_user_details is limited per user per 12 hours, so asking again soon is pointless.
const (
	defaultRetryAfter     = 30 * time.Second
	userDetailsRetryAfter = time.Hour
)

// Viber's status codes (developers.viber.com/docs/api/rest-bot-api/#error-codes).
const (
	statusOK                         = 0
	statusInvalidURL                 = 1
	statusInvalidAuthToken           = 2
	statusBadData                    = 3
	statusMissingData                = 4
	statusReceiverNotRegistered      = 5
	statusReceiverNotSubscribed      = 6
	statusPublicAccountBlocked       = 7
	statusPublicAccountNotFound      = 8
	statusPublicAccountSuspended     = 9
	statusWebhookNotSet              = 10
	statusReceiverNoSuitableDevice   = 11
	statusTooManyRequests            = 12
	statusAPIVersionNotSupported     = 13
	statusIncompatibleWithVersion    = 14
	statusPublicAccountNotAuthorized = 15
	statusUnsupportedCountry         = 21
	statusFreeMessagesExceeded       = 23
	statusNoBalance                  = 24
)

// APIError is a non-zero "status" in a Viber answer. The provider wraps it in the typed
// errors of package providers; callers may still inspect it with errors.As.
type APIError struct {
	Method  string // the API method, e.g. "send_message"
	Status  int    // Viber's status code
	Message string // Viber's status_message
}

func (e *APIError) Error() string {
	return fmt.Sprintf("viber: %s: status %d (%s)", e.Method, e.Status, e.Message)
}

// HTTPError is an answer with a non-200 HTTP status (a proxy, an outage). Retryable.
type HTTPError struct {
	Method string
	Status int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("viber: %s: HTTP %d", e.Method, e.Status)
}

// envelope is the part every Viber answer shares.
type envelope struct {
	Status        *int   `json:"status"`
	StatusMessage string `json:"status_message"`
}

// call POSTs in as JSON to {base}/{method} and decodes the answer into out (may be nil).
// It is the only place that touches the token: it goes into the X-Viber-Auth-Token header,
// never into a URL or an error.
func (p *Provider) call(ctx context.Context, c config, method string, in, out any) error {
	body, err := marshal(in)
	if err != nil {
		return errorf("%s: encode request: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/"+method, bytes.NewReader(body))
	if err != nil {
		return errorf("%s: build request: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Viber-Auth-Token", c.token)

	resp, err := p.client.Do(req)
	if err != nil {
		// *url.Error names the URL (no token in it) and the cause: network errors and
		// timeouts are transient, the job retries them.
		return errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return errorf("%s: read response: %w", method, err)
	}

	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return providers.RetryAfter(retryAfterHeader(resp.Header, defaultRetryAfter), &HTTPError{Method: method, Status: resp.StatusCode})
	case resp.StatusCode != http.StatusOK:
		return &HTTPError{Method: method, Status: resp.StatusCode}
	}

	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Status == nil {
		// Not Viber's JSON (a captive portal, a broken proxy): transient.
		return errorf("%s: unexpected response (not a Viber JSON answer)", method)
	}
	if *env.Status != statusOK {
		return classify(&APIError{Method: method, Status: *env.Status, Message: env.StatusMessage})
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return errorf("%s: decode response: %w", method, err)
		}
	}
	return nil
}

// marshal encodes v without HTML escaping: Viber counts characters, and "<" as "\u003c"
// would eat into its 30 KB request limit six bytes at a time.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// classify maps a Viber status to the error classes the core acts on.
func classify(e *APIError) error {
	switch e.Status {
	case statusTooManyRequests:
		d := defaultRetryAfter
		if e.Method == "get_user_details" {
			d = userDetailsRetryAfter
		}
		return providers.RetryAfter(d, e)
	case statusReceiverNotRegistered:
		return providers.Permanent("the visitor is not a Viber user any more", e)
	case statusReceiverNotSubscribed:
		return providers.Permanent("the visitor unsubscribed from the bot (blocked it or deleted the chat)", e)
	case statusReceiverNoSuitableDevice:
		return providers.Permanent("the visitor's Viber app does not support bots", e)
	case statusInvalidAuthToken:
		return providers.Permanent("Viber rejected the channel's auth token: check the channel settings", e)
	case statusPublicAccountBlocked, statusPublicAccountSuspended:
		return providers.Permanent("the Viber bot is blocked or suspended by Viber", e)
	case statusPublicAccountNotFound, statusPublicAccountNotAuthorized:
		return providers.Permanent("Viber does not know this bot or does not allow it to send: check the channel settings", e)
	case statusWebhookNotSet:
		return providers.Permanent("the bot has no webhook: save the channel again to register it", e)
	case statusInvalidURL:
		return providers.Permanent("Viber rejected the URL (webhooks need public HTTPS with a trusted certificate)", e)
	case statusUnsupportedCountry:
		return providers.Permanent("Viber does not deliver this message to the visitor's country", e)
	case statusFreeMessagesExceeded, statusNoBalance:
		return providers.Permanent("the bot has used up its Viber message allowance (billing)", e)
	case statusBadData, statusMissingData, statusAPIVersionNotSupported, statusIncompatibleWithVersion,
		16, 17, 18, 19, 20, 22:
		return providers.Permanent("Viber rejected the message as invalid", e)
	default:
		// "General error" and codes Viber may add later: retry with backoff.
		return e
	}
}

// retryAfterHeader reads Retry-After in seconds (or an HTTP date); def when absent.
func retryAfterHeader(h http.Header, def time.Duration) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return def
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return def
}

// accountInfo is the part of get_account_info we read.
type accountInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URI  string `json:"uri"`
}

// Check implements providers.Provider: get_account_info fills bot_id and bot_name.
func (p *Provider) Check(ctx context.Context, s providers.Settings) (providers.Settings, error) {
	c, err := decodeSettings(s)
	if err != nil {
		return nil, err
	}
	var acc accountInfo
	if err := p.call(ctx, c, "get_account_info", struct{}{}, &acc); err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			switch ae.Status {
			case statusInvalidAuthToken, statusPublicAccountNotFound:
				return nil, &providers.SettingsError{Fields: []string{SettingToken},
					Msg: "Viber rejected the auth token (" + ae.Message + ")"}
			}
		}
		return nil, errorf("check the bot: %w", err)
	}
	if acc.ID == "" {
		return nil, errorf("get_account_info: the answer has no bot id")
	}
	out := s.Clone()
	out[SettingBotID] = acc.ID
	out[SettingBotName] = acc.Name
	if out[SettingBotName] == "" {
		// A bot always has a name; fall back to its URI so the Filled field is never empty.
		out[SettingBotName] = acc.URI
	}
	return out, nil
}

// eventTypes are the optional callbacks we subscribe to; message, subscribed and
// unsubscribed are always sent.
var eventTypes = []string{"delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"}

// setWebhookRequest is set_webhook's body. mileusna/viber's WebhookReq lacks send_name and
// send_photo, without which Viber sends placeholder names and avatars.
type setWebhookRequest struct {
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types,omitempty"`
	SendName   bool     `json:"send_name,omitempty"`
	SendPhoto  bool     `json:"send_photo,omitempty"`
}

// SetWebhook implements providers.Provider. Viber checks the URL right away by POSTing a
// signed {"event":"webhook"} callback to it, which CallbackServerConfirmation answers, so
// the channel must already be saved and the route live when this is called. Viber signs its
// callbacks with the auth token, so the URL carries no secret of ours.
func (p *Provider) SetWebhook(ctx context.Context, ch providers.Channel, url string) (providers.Settings, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return nil, err
	}
	req := setWebhookRequest{URL: url, EventTypes: eventTypes, SendName: true, SendPhoto: true}
	if err := p.call(ctx, c, "set_webhook", req, nil); err != nil {
		return nil, errorf("register the webhook: %w", err)
	}
	return nil, nil
}

// DeleteWebhook implements providers.Provider: set_webhook with an empty URL.
func (p *Provider) DeleteWebhook(ctx context.Context, ch providers.Channel) error {
	c, err := channelConfig(ch)
	if err != nil {
		return err
	}
	if err := p.call(ctx, c, "set_webhook", setWebhookRequest{URL: ""}, nil); err != nil {
		return errorf("remove the webhook: %w", err)
	}
	return nil
}
