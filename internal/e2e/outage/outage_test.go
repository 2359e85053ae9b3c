// Package outage proves what omnichat answers while its database is down: 503
// "unavailable" with Retry-After (API, webhooks, /readyz), one WARN line per outage, and
// normal answers once the database is back. The test owns its PostgreSQL cluster, so it can
// stop and start it without disturbing other tests.
package outage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/localpg"
	"github.com/omnichat/omnichat/internal/testdb"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// warnLine is the one line an outage logs (httpapi/outage.go).
const warnLine = "database unavailable: answering 503"

// cluster is a PostgreSQL server of the test's own that it can stop and start again.
type cluster struct {
	t   *testing.T
	dir string
	cl  *localpg.Cluster
	url string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: testdb.DataDir(t)}
	c.start()
	c.url = c.cl.ConnString(localpg.Database)
	return c
}

func (c *cluster) start() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := localpg.Start(ctx, localpg.Options{DataDir: c.dir, InitCache: localpg.DefaultInitCache(),
		Settings: map[string]string{"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "shared_buffers": "32MB"}})
	if errors.Is(err, localpg.ErrNotInstalled) {
		c.t.Skip(err)
	}
	if err != nil {
		c.t.Fatalf("start PostgreSQL: %v", err)
	}
	c.cl = cl
	c.t.Cleanup(func() { _ = cl.Stop() })
	if c.url != "" && cl.ConnString(localpg.Database) != c.url {
		c.t.Fatalf("the restarted cluster moved: %s, was %s", cl.ConnString(localpg.Database), c.url)
	}
}

func (c *cluster) stop() {
	c.t.Helper()
	if err := c.cl.Stop(); err != nil {
		c.t.Fatalf("stop PostgreSQL: %v", err)
	}
}

// get is a GET with the client's token that returns the status, the Retry-After header and
// the error code of the body.
func get(t *testing.T, c *apptest.Client, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.Base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), body.Error.Code
}

func TestDatabaseOutageAnswers503OnceLoggedThenRecovers(t *testing.T) {
	pg := startCluster(t)
	inst := apptest.Start(t, apptest.Options{DatabaseURL: pg.url})
	admin := inst.Admin(t)
	fake := exampletest.NewServer()
	t.Cleanup(fake.Close)
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Example", "settings": fake.Settings()}, nil)
	apptest.Eventually(t, 15*time.Second, "the webhook registration", func() bool { return fake.Webhook().URL != "" })
	ctx := context.Background()
	var seq int64
	deliver := func() (int, string) {
		seq++
		code, body, err := fake.Deliver(ctx, example.NewMessageUpdate(seq, seq, "u1", "", "Anna", "", fmt.Sprintf("message %d", seq), time.Now()))
		if err != nil {
			t.Fatalf("deliver: %v", err)
		}
		return code, string(body)
	}
	if code, body := deliver(); code != http.StatusOK {
		t.Fatalf("webhook before the outage: %d %s", code, body)
	}
	if code, _, _ := get(t, admin, "/api/v1/dialogs"); code != http.StatusOK {
		t.Fatalf("API before the outage: %d", code)
	}

	for outage := 1; outage <= 2; outage++ {
		pg.stop()
		for i := 0; i < 5; i++ {
			for _, path := range []string{"/api/v1/dialogs", "/api/v1/clients?q=anna", "/readyz"} {
				code, ra, errCode := get(t, admin, path)
				if code != http.StatusServiceUnavailable || ra == "" || errCode != "unavailable" {
					t.Fatalf("outage %d: GET %s = %d (Retry-After %q, code %q), want 503 with Retry-After and \"unavailable\"", outage, path, code, ra, errCode)
				}
			}
			// The platform's webhook gets 503 too, so it retries.
			if code, body := deliver(); code != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
				t.Fatalf("outage %d: webhook = %d %s, want 503 unavailable", outage, code, body)
			}
		}
		logs := inst.Log.String()
		if n := strings.Count(logs, warnLine); n != outage {
			t.Fatalf("after outage %d: %d lines %q in the log, want %d (one per outage)", outage, n, warnLine, outage)
		}
		if strings.Contains(logs, `msg="internal error"`) || strings.Contains(logs, `msg="http error"`) {
			t.Fatalf("the outage was logged as an ERROR per request:\n%s", logs)
		}

		pg.start()
		apptest.Eventually(t, 30*time.Second, "the API answering again", func() bool {
			code, _, _ := get(t, admin, "/api/v1/dialogs")
			return code == http.StatusOK
		})
		if code, body := deliver(); code != http.StatusOK {
			t.Fatalf("webhook after outage %d: %d %s", outage, code, body)
		}
		// The watcher notices the database back, so the next outage is logged again.
		apptest.Eventually(t, 15*time.Second, "the end of the outage logged", func() bool {
			return strings.Count(inst.Log.String(), "database available again") == outage
		})
	}
	if os.Getenv("OUTAGE_VERBOSE") != "" {
		t.Log(inst.Log.String())
	}
}
