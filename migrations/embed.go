// Package migrations holds omnichat's schema as numbered SQL files (0001_init.sql,
// 0002_….sql; the number is the version), embedded into the binary and applied in order by
// store.Migrate. Files are append-only: a released file never changes, a change is a new file.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
