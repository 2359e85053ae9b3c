package netguard

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2a00:1450:4010::64": true, "64:ff9b::808:808": true,
		"127.0.0.1": false, "127.5.6.7": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "0.1.2.3": false, "224.0.0.1": false,
		"255.255.255.255": false, "240.0.0.1": false, "198.18.0.1": false, "192.0.0.8": false,
		"::": false, "::1": false, "fe80::1": false, "fd00::1": false, "fc00::1": false, "ff02::1": false,
		"::ffff:127.0.0.1": false, "::ffff:169.254.169.254": false, "::127.0.0.1": false, "::ffff:10.0.0.1": false,
		"64:ff9b::7f00:1": false, "64:ff9b::a9fe:a9fe": false, "2002:7f00:1::": false, "2002:a9fe:a9fe::1": false,
		"fec0::1": false, "2001::1": false,
	} {
		if got := Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

// canary is a server on 127.0.0.2 (loopback, outside the 127.0.0.1/32 a test may allow)
// that counts what reaches it.
func canary(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	var hits atomic.Int32
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("internal answer"))
	}))
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s, &hits
}

func TestGuardRefusesAtDialTime(t *testing.T) {
	c, hits := canary(t)
	port := c.Listener.Addr().(*net.TCPAddr).Port
	pstr := ":" + strconv.Itoa(port)
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, c.URL+"/x", http.StatusFound)
	}))
	defer allowed.Close()

	g := Guard{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	client := g.Protect(&http.Client{Timeout: 5 * time.Second})
	for _, u := range []string{
		c.URL,
		"http://127.0.0.2" + pstr,
		"http://[::ffff:127.0.0.2]" + pstr,
		"http://[::ffff:7f00:2]" + pstr,
		allowed.URL + "/redirect", // allowed host, redirect into a refused one
	} {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: allowed", u)
			continue
		}
		if !errors.Is(err, ErrBlocked) {
			t.Errorf("%s: %v, want ErrBlocked", u, err)
		}
	}
	// Through a proxy on a refused address: the proxy is what is dialled.
	proxied := &http.Client{Timeout: 5 * time.Second, Transport: g.Transport(mustURL(t, c.URL))}
	if resp, err := proxied.Get("http://example.com/"); err == nil {
		resp.Body.Close()
		t.Error("a proxy on a refused address was used")
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the canary got %d requests", n)
	}

	// AllowPrivate lets everything through.
	open := Guard{AllowPrivate: true}.Protect(&http.Client{Timeout: 5 * time.Second})
	resp, err := open.Get(c.URL)
	if err != nil {
		t.Fatalf("AllowPrivate: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatal("AllowPrivate: the canary got nothing")
	}
}

func TestGuardRefusesLocalhostNames(t *testing.T) {
	var hits atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer s.Close()
	port := ":" + strconv.Itoa(s.Listener.Addr().(*net.TCPAddr).Port)
	client := Guard{}.Protect(nil)
	client.Timeout = 5 * time.Second
	for _, u := range []string{s.URL, "http://localhost" + port, "http://[::ffff:127.0.0.1]" + port, "http://[::1]" + port} {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: allowed", u)
		} else if !errors.Is(err, ErrBlocked) && !strings.Contains(u, "[::1]") {
			t.Errorf("%s: %v, want ErrBlocked", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback server got %d requests", n)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
