package testdb

import (
	"context"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/omnichat/omnichat/internal/localpg"
)

func TestMain(m *testing.M) { Main(m) }

func TestNewGivesMigratedIsolatedDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := New(t), New(t)
	s, _ := get()
	t.Logf("cluster start %v, template migration %v", s.startTook.Round(time.Millisecond), s.migrateTook.Round(time.Millisecond))

	for _, pool := range []*pgxpool.Pool{a, b} {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n == 0 {
			t.Fatalf("clone not migrated: %d rows in schema_migrations, %v", n, err)
		}
	}
	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := b.QueryRow(ctx, "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("a table made in one test database shows up in another")
	}
}

func TestNewIsFast(t *testing.T) {
	New(t) // setup outside the measurement
	const n = 20
	took := make([]time.Duration, n)
	for i := range took {
		began := time.Now()
		url := NewURL(t)
		took[i] = time.Since(began)
		if url == "" {
			t.Fatal("empty URL")
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("fresh database: median %v, max %v (of %d)", took[n/2].Round(time.Millisecond), took[n-1].Round(time.Millisecond), n)
	if took[n/2] > 500*time.Millisecond {
		t.Errorf("median fresh database took %v; want well under a second", took[n/2])
	}
}

func TestDatabaseDroppedAfterTest(t *testing.T) {
	var name string
	t.Run("user", func(t *testing.T) {
		pool := New(t)
		if err := pool.QueryRow(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	s, _ := get()
	var exists bool
	if err := s.admin.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

// TestExternalServer runs this package's tests again in a child process pointed at a
// server by OMNICHAT_TEST_DATABASE_URL, and checks the child left no database behind.
func TestExternalServer(t *testing.T) {
	if os.Getenv(EnvURL) != "" {
		s, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if s.cluster != nil {
			t.Fatalf("%s is set but a private cluster was started", EnvURL)
		}
		New(t)
		return
	}
	dir, err := os.MkdirTemp(localpg.ScratchDir(), "testdb-external-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	server, err := localpg.Start(ctx, localpg.Options{DataDir: dir, Settings: settings, InitCache: localpg.DefaultInitCache()})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Stop()

	for _, form := range []string{"url", "keyword"} {
		base := server.ConnString("postgres")
		if form == "keyword" {
			cfg, err := pgx.ParseConfig(base)
			if err != nil {
				t.Fatal(err)
			}
			base = "host=" + cfg.Host + " port=5432 user=" + cfg.User + " dbname=postgres sslmode=disable"
		}
		cmd := exec.Command(os.Args[0], "-test.run=^(TestExternalServer|TestNewGivesMigratedIsolatedDatabases|TestDatabaseDroppedAfterTest)$", "-test.v")
		cmd.Env = append(os.Environ(), EnvURL+"="+base)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestExternalServer") {
			t.Fatalf("%s form: child tests failed (%v):\n%s", form, err, out)
		}
	}

	conn, err := pgx.Connect(ctx, server.ConnString("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'test%'")
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("databases left on the external server: %v", left)
	}
}

func TestWithDatabase(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://u:p@db:5432/postgres?sslmode=disable", "postgres://u:p@db:5432/x?sslmode=disable"},
		{"postgresql://u@db/", "postgresql://u@db/x"},
		{"host=db user=u dbname=postgres", "host=db user=u dbname=postgres dbname='x'"},
	}
	for _, c := range cases {
		got := withDatabase(c.in, "x")
		if got != c.want {
			t.Errorf("withDatabase(%q) = %q, want %q", c.in, got, c.want)
		}
		cfg, err := pgx.ParseConfig(got)
		if err != nil || cfg.Database != "x" {
			t.Errorf("%q parses to database %q (%v)", got, cfg.Database, err)
		}
	}
}

// A whole embedded cluster in DataDir, as a test of `serve` without a database URL would
// start one; as root this is where t.TempDir would fail.
func TestDataDirHostsAnEmbeddedCluster(t *testing.T) {
	dir := DataDir(t)
	c, err := localpg.Start(context.Background(), localpg.Options{DataDir: dir, Settings: settings, InitCache: localpg.DefaultInitCache()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	conn, err := pgx.Connect(context.Background(), c.ConnString(localpg.Database))
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(context.Background())
}
