// Package chrome starts the headless Chromium that browser tests drive with chromedp.
// It is its own package so that chromedp stays out of everything apptest is linked into.
package chrome

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// RequireEnv, when set (make test sets it: its deps step installs Chromium), turns a
// missing Chromium into a failure instead of a skip, so CI can never skip browser tests.
const RequireEnv = "OMNICHAT_REQUIRE_BROWSER"

// Path is where Chromium is: on PATH, else Debian's /usr/bin/chromium.
func Path() string {
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return "/usr/bin/chromium"
}

// Allocator starts one headless Chromium for the test (stopped at its end) and returns the
// allocator context to create browser contexts from. Without Chromium the test is skipped
// with the reason — or fails when RequireEnv is set. extra options come after the
// defaults and override them (a window size, say).
func Allocator(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := Path()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("Chromium is required (%s is set) but not installed at %s: %v", RequireEnv, path, err)
		}
		t.Skipf("skipping the browser test: no Chromium at %s (make test installs it): %v", path, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox as root
	}
	ctx, cancel := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	t.Cleanup(cancel)
	return ctx
}

// Logf is an error logger for chromedp that drops the noise of the pinned cdproto, which
// predates some of the installed Chromium's enum values ("Loopback" address spaces) and
// reports every event it cannot decode; those are not events the tests use.
func Logf(t testing.TB) func(string, ...any) {
	return func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if strings.Contains(msg, "could not unmarshal event") || strings.Contains(msg, "unhandled node event") {
			return
		}
		t.Logf("chromium: %s", msg)
	}
}
