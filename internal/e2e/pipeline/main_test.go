// Package pipeline runs whole omnichat instances on a real PostgreSQL against the fake
// platforms, the way platforms, operators and integrations use them.
package pipeline

import (
	"testing"

	"github.com/omnichat/omnichat/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }
