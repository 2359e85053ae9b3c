package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/internal/testdb"
)

// TestMain is the only one in package store's tests: other test files of the package
// share it (a package may have just one).
func TestMain(m *testing.M) { testdb.Main(m) }

// testMigrations stands in for migrations/: the real schema belongs to the application
// and is tested by the template build (TestEmbeddedMigrations); these tests check the runner.
func testMigrations() fstest.MapFS {
	return fstest.MapFS{
		"0001_first.sql":  {Data: []byte("CREATE TABLE first (id int PRIMARY KEY);")},
		"0002_second.sql": {Data: []byte("CREATE TABLE second (n int); INSERT INTO second VALUES (1);")},
	}
}

func emptyDB(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	url := testdb.NewEmptyURL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, url
}

func count(t *testing.T, pool *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func riverVersions(t *testing.T, pool *pgxpool.Pool) (applied, known int) {
	t.Helper()
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		t.Fatal(err)
	}
	existing, err := m.ExistingVersions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(existing), len(m.AllVersions())
}

func TestMigrateFreshDatabase(t *testing.T) {
	ctx := context.Background()
	pool, _ := emptyDB(t)
	if v, err := store.SchemaVersion(ctx, pool); err != nil || v != 0 {
		t.Fatalf("SchemaVersion of an empty database = %d, %v; want 0, nil", v, err)
	}
	began := time.Now()
	if err := store.MigrateFrom(ctx, pool, testMigrations(), nil); err != nil {
		t.Fatalf("MigrateFrom: %v", err)
	}
	t.Logf("migrate (River + 2 files) took %v", time.Since(began).Round(time.Millisecond))
	if v, err := store.SchemaVersion(ctx, pool); err != nil || v != 2 {
		t.Errorf("SchemaVersion = %d, %v; want 2", v, err)
	}
	if n := count(t, pool, "SELECT count(*) FROM second"); n != 1 {
		t.Errorf("second has %d rows, want 1", n)
	}
	if applied, known := riverVersions(t, pool); applied != known || known == 0 {
		t.Errorf("River migrations applied %d of %d", applied, known)
	}
}

func TestMigrateAgainIsNoOpAndAppliesOnlyNewFiles(t *testing.T) {
	ctx := context.Background()
	pool, _ := emptyDB(t)
	fsys := testMigrations()
	for i := 0; i < 2; i++ {
		if err := store.MigrateFrom(ctx, pool, fsys, nil); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	if n := count(t, pool, "SELECT count(*) FROM second"); n != 1 {
		t.Fatalf("second has %d rows after two runs: a migration ran twice", n)
	}
	fsys["0003_third.sql"] = &fstest.MapFile{Data: []byte("INSERT INTO second VALUES (3);")}
	if err := store.MigrateFrom(ctx, pool, fsys, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT count(*) FROM second"); n != 2 {
		t.Errorf("second has %d rows, want 2 (only 0003 new)", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM schema_migrations"); n != 3 {
		t.Errorf("schema_migrations has %d rows, want 3", n)
	}
}

// Several instances starting at once, each with its own pool: the advisory lock lets one
// migrate and the others find the work done.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	_, url := emptyDB(t)
	const instances = 6
	var wg sync.WaitGroup
	errs := make([]error, instances)
	for i := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg, err := pgxpool.ParseConfig(url)
			if err != nil {
				errs[i] = err
				return
			}
			cfg.MaxConns = 1 // the smallest pool must not deadlock against the lock
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			errs[i] = store.MigrateFrom(ctx, pool, testMigrations(), nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if n := count(t, pool, "SELECT count(*) FROM second"); n != 1 {
		t.Errorf("second has %d rows: migration 0002 ran %d times", n, n)
	}
	if n := count(t, pool, "SELECT count(*) FROM schema_migrations"); n != 2 {
		t.Errorf("schema_migrations has %d rows, want 2", n)
	}
	if applied, known := riverVersions(t, pool); applied != known {
		t.Errorf("River migrations applied %d of %d", applied, known)
	}
}

func TestMigrateWaitsForTheLock(t *testing.T) {
	pool, _ := emptyDB(t)
	ctx := context.Background()
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	var key int64
	if err := holder.QueryRow(ctx, "SELECT x'6f6d6e696d696772'::bigint").Scan(&key); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = store.MigrateFrom(short, pool, testMigrations(), nil)
	if err == nil || !strings.Contains(err.Error(), "migration lock") {
		t.Fatalf("MigrateFrom while another holds the lock: err = %v, want it to wait on the lock until ctx ends", err)
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
		t.Fatal(err)
	}
	if err := store.MigrateFrom(ctx, pool, testMigrations(), nil); err != nil {
		t.Fatalf("after the lock is released: %v", err)
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := context.Background()
	pool, _ := emptyDB(t)
	fsys := testMigrations()
	fsys["0003_broken.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE half (id int); SELECT no_such_function();")}
	err := store.MigrateFrom(ctx, pool, fsys, nil)
	if err == nil || !strings.Contains(err.Error(), "0003_broken.sql") {
		t.Fatalf("err = %v, want a failure naming 0003_broken.sql", err)
	}
	if v, _ := store.SchemaVersion(ctx, pool); v != 2 {
		t.Errorf("SchemaVersion = %d, want 2 (the broken file not recorded)", v)
	}
	if n := count(t, pool, "SELECT count(*) FROM pg_tables WHERE tablename = 'half'"); n != 0 {
		t.Errorf("table from the failed migration exists: its transaction was not rolled back")
	}
}

func TestSchemaTooNewRefused(t *testing.T) {
	ctx := context.Background()
	pool, _ := emptyDB(t)
	fsys := testMigrations()
	fsys["0003_third.sql"] = &fstest.MapFile{Data: []byte("SELECT 1;")}
	if err := store.MigrateFrom(ctx, pool, fsys, nil); err != nil {
		t.Fatal(err)
	}
	err := store.MigrateFrom(ctx, pool, testMigrations(), nil) // an older binary: knows 1–2
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("err = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "version 3") || !strings.Contains(err.Error(), "up to 2") {
		t.Errorf("error %q should name both versions", err)
	}

	// The same for River's own tables, migrated by a newer River.
	pool2, _ := emptyDB(t)
	if err := store.MigrateFrom(ctx, pool2, testMigrations(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pool2.Exec(ctx, "INSERT INTO river_migration (line, version) VALUES ('main', 999)"); err != nil {
		t.Fatal(err)
	}
	if err := store.MigrateFrom(ctx, pool2, testMigrations(), nil); !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("River at 999: err = %v, want ErrSchemaTooNew", err)
	}
}

func TestMigrationFileNamesChecked(t *testing.T) {
	cases := map[string]fstest.MapFS{
		"gap":        {"0001_a.sql": {}, "0003_c.sql": {}},
		"duplicate":  {"0001_a.sql": {}, "0001_b.sql": {}},
		"no number":  {"init.sql": {}},
		"zero":       {"0000_a.sql": {}, "0001_b.sql": {}},
		"no files":   {},
		"bad suffix": {"0001a.sql": {}},
	}
	pool, _ := emptyDB(t)
	for name, fsys := range cases {
		t.Run(name, func(t *testing.T) {
			if err := store.MigrateFrom(context.Background(), pool, fsys, nil); err == nil {
				t.Fatalf("migrations %v accepted", fsys)
			}
		})
	}
	if v, _ := store.SchemaVersion(context.Background(), pool); v != 0 {
		t.Errorf("a rejected set of files changed the database (version %d)", v)
	}
}

// The real schema, as every integration test gets it from testdb.New.
func TestEmbeddedMigrations(t *testing.T) {
	ctx := context.Background()
	latest, err := store.LatestVersion()
	if err != nil {
		t.Fatal(err)
	}
	pool := testdb.New(t)
	if v, err := store.SchemaVersion(ctx, pool); err != nil || v != latest {
		t.Fatalf("testdb database at version %d (%v), want the latest %d", v, err, latest)
	}
	if applied, known := riverVersions(t, pool); applied != known {
		t.Errorf("River migrations applied %d of %d", applied, known)
	}
	// Migrating a migrated database again is a no-op, not an error.
	if err := store.Migrate(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
}
