// Package fetch downloads files from platforms safely: http(s) only, a size cap, timeouts,
// and no connections to loopback, private or link-local addresses (SSRF, checked by
// providers/netguard, the same guard every provider's API calls go through) unless the
// channel's own API URL points there (a self-hosted Bot API server, a fake in tests).
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/omnichat/omnichat/providers/netguard"
)

// Fetcher downloads files.
type Fetcher struct {
	// Guard decides which addresses downloads may reach (the zero value: public only).
	Guard   netguard.Guard
	Timeout time.Duration
}

// ErrBlocked means the address is not allowed.
var ErrBlocked = netguard.ErrBlocked

// Result is a download in progress; the caller closes Body.
type Result struct {
	Body        io.ReadCloser
	ContentType string
	Name        string // from Content-Disposition, when given
	Length      int64
}

// Get fetches rawURL. trusted is the channel's API URL (may be empty): its host may be
// private. Error texts never include the URL (it may carry a token).
func (f *Fetcher) Get(ctx context.Context, rawURL string, header http.Header, trusted string) (*Result, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("download: not an http(s) URL")
	}
	trustedHost := ""
	if t, err := url.Parse(trusted); err == nil && trusted != "" {
		trustedHost = t.Host
	}
	timeout := f.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:           f.dialer(trustedHost).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			MaxIdleConns:          4,
			IdleConnTimeout:       30 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return errors.New("redirect to a non-http URL")
			}
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, errors.New("download: bad request")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the URL
		}
		return nil, fmt.Errorf("download: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &StatusError{Code: resp.StatusCode}
	}
	name := ""
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		// ParseMediaType decodes filename* (RFC 5987) into "filename" too.
		name = params["filename"]
	}
	return &Result{Body: resp.Body, ContentType: resp.Header.Get("Content-Type"), Name: name, Length: resp.ContentLength}, nil
}

// StatusError is a non-200 answer.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("download: HTTP %d", e.Code) }

func (f *Fetcher) dialer(trustedHost string) *net.Dialer {
	return &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(network, address string, c syscall.RawConn) error {
			if trustedHost != "" && sameHostPort(address, trustedHost) {
				return nil
			}
			return f.Guard.Control(network, address, c)
		},
	}
}

// sameHostPort compares the dialled ip:port with the trusted URL host (an IP literal or
// localhost, as fake platforms and self-hosted servers are).
func sameHostPort(addr, host string) bool {
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		h, p = host, ""
	}
	ah, ap, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if p != "" && p != ap {
		return false
	}
	if h == "localhost" {
		ip, err := netip.ParseAddr(ah)
		return err == nil && ip.IsLoopback()
	}
	return h == ah
}
