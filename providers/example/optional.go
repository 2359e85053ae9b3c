package example

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/omnichat/omnichat/providers"
)

// This file implements the optional interfaces. The core discovers each one with a type
// assertion on the interface (never on *example.Provider), so a provider implements exactly
// what its platform needs and nothing in the core changes.

// fileInfo is the answer of GET /files/{file_id}.
type fileInfo struct {
	ID   string `json:"id"`
	URL  string `json:"url"`
	Name string `json:"name"`
	MIME string `json:"mime"`
	Size int64  `json:"size"`
}

// ResolveFile implements providers.FileResolver: it turns an attachment's Ref (the
// platform's file_id) into a download. The platform serves files only to the bot, so the
// Download carries our Authorization header; the core uses it for this one download and
// never stores or logs it.
func (p *Provider) ResolveFile(ctx context.Context, ch providers.Channel, ref string) (providers.Download, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.Download{}, err
	}
	if ref == "" {
		return providers.Download{}, providers.Permanent("no file id to resolve", nil)
	}
	var fi fileInfo
	path := "/files/" + url.PathEscape(ref)
	if err := p.callJSON(ctx, c, "GET /files/{file_id}", http.MethodGet, path, nil, &fi, nil); err != nil {
		return providers.Download{}, err
	}
	if fi.URL == "" {
		return providers.Download{}, errorf("GET /files/{file_id} returned no url")
	}
	d := providers.Download{URL: fi.URL}
	// Send the token only back to the API's own host. If the platform ever hands out a URL
	// on another host (a CDN, or a forged answer through a compromised proxy), the token
	// must not travel with the request.
	if sameOrigin(fi.URL, c.baseURL) {
		d.Header = http.Header{"Authorization": {"Bearer " + c.token}}
	}
	return d, nil
}

// sameOrigin reports whether a and b have the same scheme and host.
func sameOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && strings.EqualFold(ua.Host, ub.Host)
}

// answerRequest is the body of POST /buttons/{id}/answer.
type answerRequest struct {
	Text string `json:"text,omitempty"`
}

// AnswerButton implements providers.ButtonAnswerer. The visitor's app shows a spinner on a
// pressed button until the bot answers the press. EventFilter cannot answer (it makes no
// network calls), so it puts the press id into Event.ExternalID ("btn:<id>") and the core
// calls this from a job once the press is stored.
func (p *Provider) AnswerButton(ctx context.Context, ch providers.Channel, ev providers.Event) error {
	c, err := channelConfig(ch)
	if err != nil {
		return err
	}
	id, ok := strings.CutPrefix(ev.ExternalID, "btn:")
	if !ok || id == "" {
		return providers.Permanent("the event is not an Example Messenger button press", nil)
	}
	path := "/buttons/" + url.PathEscape(id) + "/answer"
	return p.callJSON(ctx, c, "POST /buttons/{id}/answer", http.MethodPost, path, answerRequest{}, nil, nil)
}

// ActionWebhookStatus is the name of the settings page's "Webhook status" action.
const ActionWebhookStatus = "webhook_status"

// Actions implements providers.Actioner: extra buttons on the channel's settings page.
func (p *Provider) Actions(ch providers.Channel) []providers.Action {
	return []providers.Action{{
		Name:  ActionWebhookStatus,
		Label: providers.Text{En: "Webhook status", Ru: "Состояние webhook"},
	}}
}

// webhookInfo is the answer of GET /webhook. It carries no secret: the platform never
// returns the one we registered.
type webhookInfo struct {
	URL            string `json:"url"`
	PendingUpdates int    `json:"pending_updates"`
	LastError      string `json:"last_error"`
	LastErrorDate  int64  `json:"last_error_date"`
}

// RunAction implements providers.Actioner. "webhook_status" shows what the platform knows
// about our webhook: the first place to look when messages stop arriving.
func (p *Provider) RunAction(ctx context.Context, ch providers.Channel, name string) (providers.ActionResult, error) {
	if name != ActionWebhookStatus {
		return providers.ActionResult{}, fmt.Errorf("example messenger: action %q: %w", name, providers.ErrUnsupported)
	}
	c, err := channelConfig(ch)
	if err != nil {
		return providers.ActionResult{}, err
	}
	var wi webhookInfo
	if err := p.callJSON(ctx, c, "GET /webhook", http.MethodGet, "/webhook", nil, &wi, nil); err != nil {
		return providers.ActionResult{}, err
	}
	var b strings.Builder
	switch {
	case wi.URL == "":
		b.WriteString("No webhook is registered: save the channel to register it.\n")
	case wi.URL != ch.WebhookURL:
		fmt.Fprintf(&b, "The webhook points elsewhere: %s (expected %s). Save the channel to fix it.\n", wi.URL, ch.WebhookURL)
	default:
		fmt.Fprintf(&b, "Webhook: %s\n", wi.URL)
	}
	fmt.Fprintf(&b, "Updates waiting for delivery: %d\n", wi.PendingUpdates)
	if wi.LastError != "" {
		fmt.Fprintf(&b, "Last delivery error: %s", wi.LastError)
		if t := unixTime(wi.LastErrorDate); !t.IsZero() {
			fmt.Fprintf(&b, " (%s)", t.Format(time.RFC3339))
		}
		b.WriteString("\n")
	}
	return providers.ActionResult{Text: b.String()}, nil
}
