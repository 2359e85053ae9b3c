// Package netguard keeps omnichat's outbound connections (platform API calls, attachment
// downloads, proxies) away from the server's own networks: loopback, private, link-local
// (cloud metadata), unique-local, CGNAT, unspecified, multicast and reserved addresses are
// refused when the connection is dialled, after DNS resolution. Checking the dialled
// address rather than the URL covers every spelling of a host (decimal, hex, IPv4-mapped
// IPv6, DNS names that resolve inside) and every redirect.
//
// It lives under providers/ because providers import nothing of omnichat's internal
// packages; the core builds one Guard from its configuration and hands it to every provider
// and to the attachment downloader.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// ErrBlocked means the address is not allowed. Its text is what an admin reads.
var ErrBlocked = errors.New("address not allowed: omnichat does not connect to private, loopback or link-local addresses")

// Guard decides which addresses outbound connections may reach. The zero value allows only
// public unicast addresses.
type Guard struct {
	// AllowPrivate lets connections reach every address (tests, local fake platforms).
	AllowPrivate bool
	// Allowed are non-public networks that may be reached anyway (a self-hosted Bot API
	// server on the local network).
	Allowed []netip.Prefix
}

// Allows reports whether a connection to ip may be made.
func (g Guard) Allows(ip netip.Addr) bool {
	if g.AllowPrivate || Public(ip) {
		return true
	}
	ip = ip.Unmap()
	for _, p := range g.Allowed {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control function: it runs for every address a dial tries, after
// name resolution, so nothing reaches a refused address.
func (g Guard) Control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return fmt.Errorf("%s: %w", network, ErrBlocked)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return ErrBlocked
	}
	if !g.Allows(ap.Addr()) {
		return ErrBlocked
	}
	return nil
}

// Dialer returns a dialer that refuses what the guard does not allow.
func (g Guard) Dialer() *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.Control}
}

// DialContext dials through the guard.
func (g Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return g.Dialer().DialContext(ctx, network, address)
}

// Transport returns a new HTTP transport whose every connection goes through the guard.
// proxy, when not nil, is the proxy to use (its address passes the guard too: it is what
// the transport dials); environment proxies are not used, since the guard could not see
// where they connect.
func (g Guard) Transport(proxy *url.URL) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = g.DialContext
	t.Proxy = nil
	if proxy != nil {
		t.Proxy = http.ProxyURL(proxy)
	}
	return t
}

// Protect returns a copy of c whose connections go through the guard. A client with its own
// RoundTripper that is not an *http.Transport (a test recorder) is returned unchanged.
func (g Guard) Protect(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{}
	}
	cc := *c
	switch t := c.Transport.(type) {
	case nil:
		cc.Transport = g.Transport(nil)
	case *http.Transport:
		t = t.Clone()
		t.DialContext = g.DialContext
		t.DialTLSContext = nil
		t.Proxy = nil
		cc.Transport = t
	}
	return &cc
}

var (
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	ietf        = netip.MustParsePrefix("192.0.0.0/24")
	benchmark   = netip.MustParsePrefix("198.18.0.0/15")
	reserved4   = netip.MustParsePrefix("240.0.0.0/4")
	ula         = netip.MustParsePrefix("fc00::/7")
	v4compat    = netip.MustParsePrefix("::/96")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	nat64local  = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour   = netip.MustParsePrefix("2002::/16")
	teredo      = netip.MustParsePrefix("2001::/32")
	siteLocal   = netip.MustParsePrefix("fec0::/10")
)

// Public reports whether ip is a public unicast address. IPv6 forms that embed an IPv4
// address (mapped, NAT64, 6to4) are judged by the embedded address.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	if ip.Is4() {
		for _, p := range []netip.Prefix{cgnat, thisNetwork, ietf, benchmark, reserved4} {
			if p.Contains(ip) {
				return false
			}
		}
		return ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	for _, p := range []netip.Prefix{ula, v4compat, nat64local, teredo, siteLocal} {
		if p.Contains(ip) {
			return false
		}
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return Public(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	case sixToFour.Contains(ip):
		return Public(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	return true
}
