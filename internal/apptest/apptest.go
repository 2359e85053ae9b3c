// Package apptest starts whole omnichat instances inside a test, on a fresh real database,
// and talks to them over HTTP the way a browser or an integration would.
//
// Every test package that uses it needs
//
//	func TestMain(m *testing.M) { testdb.Main(m) }
package apptest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/omnichat/omnichat/internal/app"
	"github.com/omnichat/omnichat/internal/config"
	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/testdb"
	"github.com/omnichat/omnichat/providers"
)

// Options change the instance.
type Options struct {
	// DatabaseURL shares a database with another instance; empty = a fresh one.
	DatabaseURL string
	// Env overrides OMNICHAT_* variables.
	Env map[string]string
	// Registry replaces the production provider list.
	Registry *providers.Registry
	// NoWorkers runs no background jobs on this instance.
	NoWorkers bool
}

// Instance is a running omnichat.
type Instance struct {
	App         *app.App
	URL         string
	DatabaseURL string
	Pool        *pgxpool.Pool
	Log         *LogBuffer
	server      *httptest.Server
}

// Start runs an instance until the test ends.
func Start(t testing.TB, o Options) *Instance {
	t.Helper()
	inst, err := TryStart(t, o)
	if err != nil {
		t.Fatalf("apptest: %v", err)
	}
	return inst
}

// TryStart is Start that returns why the instance refused to start (a test of that refusal).
func TryStart(t testing.TB, o Options) (*Instance, error) {
	t.Helper()
	dbURL := o.DatabaseURL
	if dbURL == "" {
		dbURL = testdb.NewURL(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	env := map[string]string{
		"OMNICHAT_DATABASE_URL":            dbURL,
		"OMNICHAT_HTTP_ADDR":               ln.Addr().String(),
		"OMNICHAT_PUBLIC_URL":              url,
		"OMNICHAT_DATA_DIR":                t.TempDir(),
		"OMNICHAT_SECRET_KEY":              "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"OMNICHAT_ALLOW_PRIVATE_ADDRESSES": "true",
		"OMNICHAT_DB_MAX_CONNS":            "10",
		"OMNICHAT_LOG_LEVEL":               "debug",
		// Tests use the example provider and its fake platform.
		"OMNICHAT_DEV_PROVIDERS": "true",
	}
	for k, v := range o.Env {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("apptest: config: %v", err)
	}
	logs := &LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	own := push.NewBackends()
	pool, _, err := app.OpenTracked(ctx, cfg, log, own)
	if err != nil {
		cancel()
		t.Fatalf("apptest: open database: %v", err)
	}
	a, err := app.Build(cfg, log, app.Options{Version: "test", Registry: o.Registry, NoWorkers: o.NoWorkers, Backends: own}, pool)
	if err != nil {
		cancel()
		pool.Close()
		ln.Close()
		return nil, fmt.Errorf("build: %w", err)
	}
	if err := a.Start(ctx); err != nil {
		cancel()
		a.Close()
		ln.Close()
		return nil, fmt.Errorf("start: %w", err)
	}
	srv := httptest.NewUnstartedServer(a.HTTP.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	select {
	case <-a.Hub.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("apptest: the push hub did not start listening")
	}
	inst := &Instance{App: a, URL: url, DatabaseURL: dbURL, Pool: pool, Log: logs, server: srv}
	t.Cleanup(func() {
		a.Hub.CloseStreams()
		srv.Close()
		cancel()
		a.Close()
		if t.Failed() && os.Getenv("APPTEST_QUIET") == "" {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return inst, nil
}

// LogBuffer collects the server's log (printed when a test fails; searched by tests that
// prove a secret never reaches it).
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// CreateUser adds a user directly through the auth service and returns a signed-in client.
func (i *Instance) CreateUser(t testing.TB, email, role string) *Client {
	t.Helper()
	const password = "test-password-1"
	if _, _, err := i.App.Auth.CreateUser(context.Background(), 0, email, "", role, password, 0); err != nil {
		t.Fatalf("apptest: create %s: %v", email, err)
	}
	return i.SignIn(t, email, password)
}

// Admin creates an admin and signs in.
func (i *Instance) Admin(t testing.TB) *Client { return i.CreateUser(t, "admin@example.com", "admin") }

// SignIn posts the credentials and returns a client carrying the bearer token.
func (i *Instance) SignIn(t testing.TB, email, password string) *Client {
	t.Helper()
	c := &Client{Base: i.URL, HTTP: &http.Client{Timeout: 30 * time.Second}}
	var out struct {
		Token string `json:"token"`
		User  struct {
			ID int64 `json:"id"`
		} `json:"user"`
	}
	c.Must(t, "POST", "/api/v1/session", map[string]string{"email": email, "password": password}, &out)
	c.Token, c.UserID = out.Token, out.User.ID
	return c
}

// Client calls the API with a bearer token.
type Client struct {
	Base   string
	Token  string
	UserID int64
	HTTP   *http.Client
}

// Call sends a JSON request and decodes a JSON answer into out (when not nil). It returns
// the status and the raw body.
func (c *Client) Call(t testing.TB, method, path string, body any, out any) (int, []byte) {
	t.Helper()
	return c.CallWithHeader(t, method, path, body, nil, out)
}

// CallWithHeader is Call with extra request headers.
func (c *Client) CallWithHeader(t testing.TB, method, path string, body any, header map[string]string, out any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		if b, ok := body.([]byte); ok {
			r = bytes.NewReader(b)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			r = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, c.Base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	if out != nil && resp.StatusCode < 300 && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, raw
}

// Must is Call that fails the test on a status >= 300.
func (c *Client) Must(t testing.TB, method, path string, body any, out any) {
	t.Helper()
	if code, raw := c.Call(t, method, path, body, out); code >= 300 {
		t.Fatalf("%s %s: HTTP %d: %s", method, path, code, raw)
	}
}

// Event is one server-sent event.
type Event struct {
	ID, Kind string
	Data     json.RawMessage
}

// Stream is an open /api/v1/stream.
type Stream struct {
	C      chan Event
	cancel context.CancelFunc
}

// Stream opens the operator's event stream and waits for its "hello".
func (c *Client) Stream(t testing.TB) *Stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", c.Base+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("stream: %v", err)
	}
	if resp.StatusCode != 200 {
		cancel()
		t.Fatalf("stream: HTTP %d", resp.StatusCode)
	}
	s := &Stream{C: make(chan Event, 1024), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		defer close(s.C)
		sc := bufio.NewScanner(resp.Body)
		var ev Event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Kind != "" {
					s.C <- ev
				}
				ev = Event{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Kind = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Data = json.RawMessage(line[6:])
			}
		}
	}()
	t.Cleanup(cancel)
	if ev := s.Next(t, "hello", 10*time.Second); ev.Kind != "hello" {
		t.Fatalf("stream: first event %q, want hello", ev.Kind)
	}
	return s
}

// Next waits for the next event of kind (skipping others).
func (s *Stream) Next(t testing.TB, kind string, timeout time.Duration) Event {
	t.Helper()
	deadline := time.After(timeout)
	var skipped []string
	for {
		select {
		case ev, ok := <-s.C:
			if !ok {
				t.Fatalf("stream closed while waiting for %q (skipped %v)", kind, skipped)
			}
			if ev.Kind == kind {
				return ev
			}
			skipped = append(skipped, ev.Kind+" "+string(ev.Data))
		case <-deadline:
			t.Fatalf("no %q event within %s (skipped %v)", kind, timeout, skipped)
		}
	}
}

// Close ends the stream.
func (s *Stream) Close() { s.cancel() }

// Eventually polls cond until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Path formats an API path.
func Path(format string, args ...any) string { return fmt.Sprintf(format, args...) }
