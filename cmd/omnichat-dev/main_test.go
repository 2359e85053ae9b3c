package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/omnichat/omnichat/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func TestHelpVersionAndUnknownCommand(t *testing.T) {
	runDev := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(args, strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, _ := runDev("version"); code != 0 || out != "omnichat-dev "+version+"\n" {
		t.Errorf("version: %d %q", code, out)
	}
	code, out, _ := runDev("help")
	for _, want := range []string{"omnichat-dev fake telegram", "omnichat-dev simulate telegram", "omnichat-dev loadtest", "OMNICHAT_DEV_PROVIDERS=true"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("help lacks %q: %d %s", want, code, out)
		}
	}
	if code, out, errOut := runDev(); code != 2 || out != "" || !strings.Contains(errOut, "Usage:") {
		t.Errorf("no command: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := runDev("serve"); code != 2 || out != "" || !strings.HasPrefix(errOut, `omnichat-dev: unknown command "serve"`) {
		t.Errorf("unknown command: %d %q %q", code, out, errOut)
	}
}
