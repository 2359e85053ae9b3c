// Package widgettest is the widget's "platform" for tests: a recording Publisher that
// stands in for omnichat's visitor streams, with the failures a real hub can have, and
// helpers that sign visitor posts as the widget does.
package widgettest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/providertest"
	"github.com/omnichat/omnichat/providers/widget"
)

// Published is one notice a visitor's stream received.
type Published struct {
	ChannelID int64
	Visitor   string
	Notice    widget.Notice
}

// Publisher records notices (providertest.Platform).
type Publisher struct {
	providertest.Recorder
	mu   sync.Mutex
	got  []Published
	fail providertest.Failure
}

// NewPublisher returns an empty recorder.
func NewPublisher() *Publisher { return &Publisher{} }

// URL is the widget's address: the visitor streams have none of their own.
func (p *Publisher) URL() string { return "" }

// Reset forgets what was published and pending failures.
func (p *Publisher) Reset() {
	p.Recorder.Reset()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got, p.fail = nil, 0
}

// FailNext makes the next publish fail as f.
func (p *Publisher) FailNext(f providertest.Failure) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = f
}

// Published returns what was published since the last Reset.
func (p *Publisher) Published() []Published {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Published(nil), p.got...)
}

// Publish implements widget.Publisher.
func (p *Publisher) Publish(_ context.Context, ch providers.Channel, visitor string, n widget.Notice) error {
	body, _ := json.Marshal(n)
	p.Record("publish", body)
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fail
	p.fail = 0
	switch f {
	case providertest.FailTransient:
		return errors.New("notify: connection reset")
	case providertest.FailRateLimited:
		return providers.RetryAfter(time.Second, errors.New("visitor stream busy"))
	case providertest.FailBlocked:
		return providers.Permanent("the visitor is gone", nil)
	}
	p.got = append(p.got, Published{ChannelID: ch.ID, Visitor: visitor, Notice: n})
	return nil
}

// Request is a visitor's post as EventFilter receives it, signed with the visitor's token.
func Request(token string, post widget.Post) *providers.Request {
	body, err := json.Marshal(post)
	if err != nil {
		panic(fmt.Sprintf("widgettest: marshal post: %v", err)) // plain struct
	}
	return RawRequest(token, body)
}

// RawRequest is a post with any body.
func RawRequest(token string, body []byte) *providers.Request {
	return &providers.Request{Method: http.MethodPost, Path: "/messages",
		Header: http.Header{"Content-Type": {"application/json"}, widget.TokenHeader: {token}}, Body: body}
}
