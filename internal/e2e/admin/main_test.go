// Package admin drives the admin settings pages in a real Chromium (chromedp) against a
// whole running instance and the fake platforms.
package admin

import (
	"testing"

	"github.com/omnichat/omnichat/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }
