package main

import (
	"os/exec"
	"strings"
	"testing"
)

// testCode lists the packages among pkg's dependencies that are test code: the testing
// packages, net/http/httptest, and any non-standard package named like one (apptest,
// providertest, telegramtest, …). The standard library's own internals (internal/testlog,
// which every program links) do not count.
func testCode(t *testing.T, pkg string) []string {
	t.Helper()
	// go test puts its own toolchain first on PATH.
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	var found []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, std, _ := strings.Cut(line, " ")
		last := path[strings.LastIndex(path, "/")+1:]
		switch {
		case path == "testing" || strings.HasPrefix(path, "testing/") || path == "net/http/httptest":
			found = append(found, path)
		case std == "false" && strings.HasSuffix(last, "test"):
			found = append(found, path)
		}
	}
	return found
}

// The shipped binary links no test code: the fakes, the simulated visitor and the load
// test live in cmd/omnichat-dev.
func TestBinaryLinksNoTestCode(t *testing.T) {
	if found := testCode(t, "."); len(found) != 0 {
		t.Errorf("cmd/omnichat links test code: %v (move its user to cmd/omnichat-dev)", found)
	}
	// The check itself sees test code where it is: the developer binary links the fakes.
	found := testCode(t, "../omnichat-dev")
	for _, want := range []string{"testing", "net/http/httptest", "github.com/omnichat/omnichat/providers/telegram/telegramtest"} {
		if !strings.Contains(" "+strings.Join(found, " ")+" ", " "+want+" ") {
			t.Errorf("the check does not see %s in cmd/omnichat-dev: %v", want, found)
		}
	}
}
