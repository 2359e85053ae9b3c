// Package testdb gives integration tests a real PostgreSQL database of their own.
//
// The first call in a test process starts one private cluster with internal/localpg (in
// a scratch directory, durability off) — or uses the server at OMNICHAT_TEST_DATABASE_URL
// when that is set — and builds a template database migrated with store.Migrate. Each
// New then clones the template (CREATE DATABASE … TEMPLATE), which takes milliseconds, and
// drops the clone when the test ends. Nothing mocks the database.
//
// Packages that use it call Main from TestMain so the cluster stops when the tests end:
//
//	func TestMain(m *testing.M) { testdb.Main(m) }
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/omnichat/omnichat/internal/localpg"
	"github.com/omnichat/omnichat/internal/store"
)

// EnvURL names the variable that points the tests at an existing server instead of a
// private cluster. Its user must be allowed to create databases.
const EnvURL = "OMNICHAT_TEST_DATABASE_URL"

// settings trade durability for speed: a test cluster is thrown away anyway.
var settings = map[string]string{
	"fsync":              "off",
	"synchronous_commit": "off",
	"full_page_writes":   "off",
	"shared_buffers":     "32MB",
	"max_connections":    "200",
	// A clone per test means many small databases: skip autovacuum's rounds on them.
	"autovacuum": "off",
}

// New returns a pool on a fresh, migrated database of the test's own. The pool is closed
// and the database dropped when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	connString := NewURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, connString)
	if err != nil {
		t.Fatalf("testdb: open pool: %v", err)
	}
	// Registered after NewURL's drop, so it runs before it: cleanups run last-in first-out.
	t.Cleanup(pool.Close)
	return pool
}

// NewURL creates a fresh, migrated database like New and returns its connection string,
// for starting a whole server in-process (OMNICHAT_DATABASE_URL). The database is dropped
// when the test ends, after the test's other cleanups (register the server's shutdown
// with t.Cleanup after calling NewURL).
func NewURL(t testing.TB) string {
	t.Helper()
	s, err := get()
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	name, err := s.clone(s.template)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() { s.drop(t, name) })
	return s.connString(name)
}

// NewEmptyURL is NewURL for a database with nothing in it (not migrated): for testing
// migrations themselves.
func NewEmptyURL(t testing.TB) string {
	t.Helper()
	s, err := get()
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	name, err := s.clone("template0")
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() { s.drop(t, name) })
	return s.connString(name)
}

// DataDir returns an empty directory for a test that starts omnichat with its embedded
// database (OMNICHAT_DATA_DIR without OMNICHAT_DATABASE_URL), removed when the test ends.
// Use it rather than t.TempDir: that one sits inside a mode-0700 directory which, when the
// tests run as root, the cluster's unprivileged account cannot enter.
func DataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp(localpg.ScratchDir(), "omnichat-datadir-")
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// Main runs the tests, then stops the cluster and removes its directory (or drops the
// template on an external server), and exits with the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	shutdown()
	os.Exit(code)
}

// state is the per-process database server and template.
type state struct {
	cluster  *localpg.Cluster // nil with an external server
	dir      string           // the cluster's scratch directory
	base     string           // external server's connection string
	admin    *pgxpool.Pool    // maintenance connections, for CREATE/DROP DATABASE
	template string
	strategy string // CREATE DATABASE strategy clause, empty before PostgreSQL 15
	prefix   string // unique to this process: names of its databases start with it
	seq      atomic.Int64

	// How long setting up took, for the package's own tests to report.
	startTook, migrateTook time.Duration
}

var (
	once    sync.Once
	current *state
	initErr error
)

func get() (*state, error) {
	once.Do(func() {
		current, initErr = setUp()
		if initErr != nil {
			initErr = fmt.Errorf("set up the test database: %w", initErr)
		}
	})
	return current, initErr
}

func setUp() (*state, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var r [4]byte
	_, _ = rand.Read(r[:])
	s := &state{prefix: "test_" + hex.EncodeToString(r[:])}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()

	if url := os.Getenv(EnvURL); url != "" {
		s.base = url
	} else {
		removeAbandoned()
		// Named with our pid so a later process can tell an abandoned one (see
		// removeAbandoned); not t.TempDir, whose parent the server's account (when we run
		// as root) could not enter.
		dir, err := os.MkdirTemp(localpg.ScratchDir(), fmt.Sprintf("omnichat-testdb-%d-", os.Getpid()))
		if err != nil {
			return nil, err
		}
		s.dir = dir
		began := time.Now()
		s.cluster, err = localpg.Start(ctx, localpg.Options{
			DataDir:   dir,
			Settings:  settings,
			InitCache: localpg.DefaultInitCache(),
			Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			return nil, err
		}
		s.startTook = time.Since(began)
	}

	admin, err := pgxpool.New(ctx, s.connString("postgres"))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s.admin = admin
	var version int
	if err := admin.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return nil, fmt.Errorf("server version: %w", err)
	}
	if version >= 150000 {
		// Copying the template's files beats WAL-logging every block of them (the
		// default since 15) for databases this small.
		s.strategy = " STRATEGY = FILE_COPY"
	}

	// The template: migrated once, then closed to connections, since CREATE DATABASE …
	// TEMPLATE refuses a source anyone is connected to.
	tmpl, err := s.clone("template0")
	if err != nil {
		return nil, err
	}
	s.template = tmpl
	pool, err := pgxpool.New(ctx, s.connString(tmpl))
	if err != nil {
		return nil, fmt.Errorf("connect to template: %w", err)
	}
	began := time.Now()
	err = store.Migrate(ctx, pool, nil)
	s.migrateTook = time.Since(began)
	pool.Close()
	if err != nil {
		return nil, fmt.Errorf("migrate template: %w", err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident(tmpl)+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return nil, fmt.Errorf("close template: %w", err)
	}
	ok = true
	return s, nil
}

// clone creates a new database from template and returns its name.
func (s *state) clone(template string) (string, error) {
	name := s.prefix + "_" + strconv.FormatInt(s.seq.Add(1), 10)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.admin.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template)+s.strategy)
	if err != nil {
		return "", fmt.Errorf("create database from %s: %w", template, err)
	}
	return name, nil
}

func (s *state) drop(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// FORCE ends sessions the test left open (a server not yet stopped, a leaked conn).
	if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		t.Errorf("testdb: drop database %s: %v", name, err)
	}
}

// connString is the connection string for database name on the server in use.
func (s *state) connString(name string) string {
	if s.cluster != nil {
		return s.cluster.ConnString(name)
	}
	return withDatabase(s.base, name)
}

// withDatabase points a URL or key=value connection string at another database.
func withDatabase(conn, name string) string {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		if u, err := url.Parse(conn); err == nil {
			u.Path = "/" + name
			u.RawPath = ""
			return u.String()
		}
	}
	// In key=value form a later key wins.
	return conn + " dbname='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(name) + "'"
}

func shutdown() {
	if current == nil {
		return
	}
	current.close()
}

// close releases everything setUp made. Errors are printed: the tests have already run.
func (s *state) close() {
	if s.admin != nil {
		if s.cluster == nil && s.template != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(s.template)+" WITH (FORCE)"); err != nil {
				fmt.Fprintf(os.Stderr, "testdb: drop template %s: %v\n", s.template, err)
			}
			cancel()
		}
		s.admin.Close()
	}
	if s.cluster != nil {
		if err := s.cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testdb: stop cluster: %v\n", err)
		}
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// removeAbandoned deletes the scratch directories of test processes that died without
// reaching Main's cleanup (a panic, a timeout, a package without TestMain). Their servers
// died with them; the directories would otherwise pile up in memory-backed /dev/shm.
func removeAbandoned() {
	dirs, _ := filepath.Glob(filepath.Join(localpg.ScratchDir(), "omnichat-testdb-*-*"))
	for _, dir := range dirs {
		fields := strings.Split(filepath.Base(dir), "-")
		pid, err := strconv.Atoi(fields[2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			_ = os.RemoveAll(dir)
		}
	}
}

func ident(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
