package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/omnichat/omnichat/migrations"
)

// ErrSchemaTooNew is returned by Migrate when the database holds a schema version this
// binary does not know: a newer omnichat migrated it, and serving on it could corrupt data.
var ErrSchemaTooNew = errors.New("database schema is newer than this omnichat binary; run the newer version")

// migrationLockKey is the pg_advisory_lock key that serializes migrations across every
// instance starting at once. Any constant works as long as nothing else on the database
// uses it; this one spells "omnimigr".
const migrationLockKey int64 = 0x6f6d6e696d696772

// Migrate brings the database up to date: River's own migrations first (our migrations
// alter River's indexes), then ours from migrations.FS in order, each in its own
// transaction, all under an advisory lock. Versions are recorded in schema_migrations. A
// database with a version the binary does not know is refused with ErrSchemaTooNew
// (wrapped with the versions) before anything is changed.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	return MigrateFrom(ctx, pool, migrations.FS, log)
}

// MigrateFrom is Migrate with the migration files taken from fsys (tests use their own).
func MigrateFrom(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ours, err := readMigrations(fsys)
	if err != nil {
		return err
	}
	river, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: log.With("migrations", "river")})
	if err != nil {
		return fmt.Errorf("migrate: river migrator: %w", err)
	}

	// The lock lives on a connection of its own, outside the pool: River's migrator takes
	// connections from the pool, and a pool of one must not deadlock against our lock.
	// Closing the connection releases the lock whatever happens.
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close(context.Background())
	waited := time.Now()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	if d := time.Since(waited); d > time.Second {
		log.Info("waited for another instance to finish migrating", "took", d.Round(time.Millisecond))
	}

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, conn)
	if err != nil {
		return err
	}
	latest := ours[len(ours)-1].version
	if len(applied) > 0 && applied[len(applied)-1] > latest {
		return fmt.Errorf("%w: the database is at version %d, this binary knows versions up to %d",
			ErrSchemaTooNew, applied[len(applied)-1], latest)
	}
	riverKnown := river.AllVersions()
	riverLatest := riverKnown[len(riverKnown)-1].Version
	riverAt, err := riverVersion(ctx, conn)
	if err != nil {
		return err
	}
	if riverAt > riverLatest {
		return fmt.Errorf("%w: River's tables are at version %d, this binary's River knows versions up to %d",
			ErrSchemaTooNew, riverAt, riverLatest)
	}

	if _, err := river.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate: river: %w", err)
	}

	for _, m := range ours {
		if slices.Contains(applied, m.version) {
			continue
		}
		began := time.Now()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// No arguments: pgx sends the file with the simple protocol, so it may hold
			// many statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", m.name, err)
		}
		log.Info("applied migration", "version", m.version, "name", m.name, "took", time.Since(began).Round(time.Millisecond))
	}
	return nil
}

// SchemaVersion returns the newest of our migrations applied to the database (0 for a
// database never migrated).
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

// LatestVersion is the newest migration this binary carries.
func LatestVersion() (int, error) {
	ms, err := readMigrations(migrations.FS)
	if err != nil {
		return 0, err
	}
	return ms[len(ms)-1].version, nil
}

type migration struct {
	version int
	name    string // file name
	sql     string
}

// readMigrations loads NNNN_name.sql files in version order, insisting on versions
// 1, 2, 3… with none missing or doubled: two branches that picked the same number, or a
// file lost in a merge, should stop the build's tests, not reach a database.
func readMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrate: list migrations: %w", err)
	}
	var ms []migration
	for _, name := range names {
		digits := name[:len(name)-len(strings.TrimLeft(name, "0123456789"))]
		rest := name[len(digits):]
		v, err := strconv.Atoi(digits)
		if err != nil || v < 1 || !(strings.HasPrefix(rest, "_") || rest == ".sql") {
			return nil, fmt.Errorf("migrate: %s: want a name like 0001_init.sql (version number, underscore, name)", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	if len(ms) == 0 {
		return nil, errors.New("migrate: no migration files")
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrate: %s has version %d, want %d: versions must run 1, 2, 3… with no gap or duplicate", m.name, m.version, i+1)
		}
	}
	return ms, nil
}

func appliedVersions(ctx context.Context, conn *pgx.Conn) ([]int, error) {
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	return vs, nil
}

// riverVersion is the newest River migration applied on River's main line (0 if none).
func riverVersion(ctx context.Context, conn *pgx.Conn) (int, error) {
	var hasTable, hasLine bool
	err := conn.QueryRow(ctx, `SELECT to_regclass('river_migration') IS NOT NULL,
		EXISTS (SELECT 1 FROM information_schema.columns
		        WHERE table_schema = current_schema() AND table_name = 'river_migration' AND column_name = 'line')`).
		Scan(&hasTable, &hasLine)
	if err != nil {
		return 0, fmt.Errorf("migrate: look for river_migration: %w", err)
	}
	if !hasTable {
		return 0, nil
	}
	// River's line column arrived in its version 5; before that every row was main.
	q := "SELECT coalesce(max(version), 0) FROM river_migration"
	if hasLine {
		q += " WHERE line = 'main'"
	}
	var v int
	if err := conn.QueryRow(ctx, q).Scan(&v); err != nil {
		return 0, fmt.Errorf("migrate: read river_migration: %w", err)
	}
	return v, nil
}
