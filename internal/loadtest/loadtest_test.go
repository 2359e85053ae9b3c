package loadtest_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/loadtest"
	"github.com/omnichat/omnichat/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestRunStoresEveryWebhookOnce runs the generator against an in-process instance: every
// webhook accepted, every message stored once and pushed to the stream. Correctness only;
// the figures are for BenchmarkWebhooks and docs/performance.md.
func TestRunStoresEveryWebhookOnce(t *testing.T) {
	ctx := context.Background()
	srv, err := loadtest.StartServer(ctx, testdb.NewURL(t), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := loadtest.Config{URL: srv.URL, Email: srv.Email, Password: srv.Password, DatabaseURL: srv.DatabaseURL,
		Rate: 200, Duration: time.Second, Concurrency: 16, Users: 20, SSEWait: 10 * time.Second}
	res, err := loadtest.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	res.Print(testWriter{t}, cfg)
	if res.Sent != 200 || res.Accepted != 200 || !res.Verified || !res.ExactlyOnce || res.Stored != 200 {
		t.Fatalf("sent %d accepted %d stored %d verified %v exactly once %v: %v", res.Sent, res.Accepted, res.Stored, res.Verified, res.ExactlyOnce, res.FirstErrors)
	}
	if res.SSESeen != 200 || res.SSEMissing != 0 {
		t.Fatalf("SSE events for %d of 200 messages", res.SSESeen)
	}
	if st := srv.App.Dialogs.Batcher().Stats(); st.Items != 200 {
		t.Fatalf("the webhooks did not go through the group commit: %+v", st)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// BenchmarkWebhooks sends signed webhooks at BENCH_RATE a second (default 1000) for
// BENCH_DURATION × b.N (default 5s: with the default -benchtime one round is enough) through
// the whole stack: HTTP, signature check, group commit, NOTIFY, SSE. The database is
// OMNICHAT_DATABASE_URL or a fresh embedded cluster with durable defaults (not the test
// cluster, which runs without fsync). The figures that matter are the custom metrics.
func BenchmarkWebhooks(b *testing.B) {
	rate, dur := 1000, 5*time.Second
	if v, err := strconv.Atoi(os.Getenv("BENCH_RATE")); err == nil && v > 0 {
		rate = v
	}
	if v, err := time.ParseDuration(os.Getenv("BENCH_DURATION")); err == nil && v > 0 {
		dur = v
	}
	ctx := context.Background()
	srv, err := loadtest.StartServer(ctx, os.Getenv("OMNICHAT_DATABASE_URL"), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	cfg := loadtest.Config{URL: srv.URL, Email: srv.Email, Password: srv.Password, DatabaseURL: srv.DatabaseURL,
		Rate: rate, Duration: dur * time.Duration(b.N), Concurrency: 128}
	b.ResetTimer()
	res, err := loadtest.Run(ctx, cfg)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if !res.ExactlyOnce {
		b.Fatalf("not stored exactly once: %+v", res)
	}
	b.ReportMetric(res.AcceptedPerSec, "webhooks/s")
	b.ReportMetric(float64(res.WebhookP50)/1e6, "p50-ms")
	b.ReportMetric(float64(res.WebhookP99)/1e6, "p99-ms")
	b.ReportMetric(float64(res.SSEP99)/1e6, "sse-p99-ms")
}
