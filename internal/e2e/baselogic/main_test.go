// Package baselogic proves the base-logic rules (client base, departments, assignment,
// transfers, shared dialogs, auto-replies, auto-close, visibility) on whole instances over
// a real PostgreSQL.
package baselogic

import (
	"testing"

	"github.com/omnichat/omnichat/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }
