// Package security proves the web app's and API's security rules against whole running
// instances: role checks on every admin route, CSRF for cookie sessions, cookie flags, the
// Content-Security-Policy, password rules, sign-in rate limiting, sessions, and channel
// secrets that never leave the server in plaintext.
package security

import (
	"testing"

	"github.com/omnichat/omnichat/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }
