// Command testsummary reads `go test -json` on stdin and prints what plain `go test`
// would (a line per package, the output of failed tests only), then a summary: packages
// passed and failed, skipped tests with their reasons, failed tests, and a last line
// "tests: N passed, N failed, N skipped". It exits 1 if anything failed, built or not.
//
//	go test -json ./... | go run ./scripts/testsummary
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of test2json output (go doc test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail events
	Test       string
	Output     string
}

type key struct{ pkg, test string }

type summary struct {
	out io.Writer

	buffered map[key]*strings.Builder // output of tests still running

	passed, failed, skipped   int // top-level tests
	pkgOK, pkgFailed, pkgNone int
	buildFailed               int
	failedTests               []string
	skips                     []string
}

func main() {
	s := &summary{out: os.Stdout, buffered: map[key]*strings.Builder{}}
	if err := s.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if !s.print() {
		os.Exit(1)
	}
}

func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			// Not an event: the go command's own messages (downloads, vet, setup errors).
			fmt.Fprintln(s.out, string(line))
			continue
		}
		s.handle(ev)
	}
	return sc.Err()
}

func (s *summary) handle(ev event) {
	k := key{ev.Package, ev.Test}
	topLevel := ev.Test != "" && !strings.Contains(ev.Test, "/")
	switch ev.Action {
	case "build-output":
		fmt.Fprint(s.out, ev.Output)
	case "build-fail":
		s.buildFailed++
	case "output":
		if ev.Test == "" {
			// Package lines: "ok  pkg 1.2s", "FAIL pkg", "?  pkg [no test files]", and
			// whatever a test binary prints outside any test (a panic in TestMain).
			if ev.Output != "PASS\n" {
				fmt.Fprint(s.out, ev.Output)
			}
			return
		}
		b := s.buffered[k]
		if b == nil {
			b = &strings.Builder{}
			s.buffered[k] = b
		}
		b.WriteString(ev.Output)
	case "pass":
		switch {
		case ev.Test == "":
			s.pkgOK++
		case topLevel:
			s.passed++
		}
		delete(s.buffered, k)
	case "skip":
		switch {
		case ev.Test == "":
			s.pkgNone++ // no test files, or no tests matched
		case topLevel:
			s.skipped++
			s.skips = append(s.skips, fmt.Sprintf("%s %s: %s", ev.Package, ev.Test, skipReason(s.buffered[k])))
		}
		delete(s.buffered, k)
	case "fail":
		if ev.Test == "" {
			s.pkgFailed++
			// Tests that never finished (a panic, a timeout): their output explains it.
			for bk, b := range s.buffered {
				if bk.pkg == ev.Package {
					fmt.Fprint(s.out, b.String())
					delete(s.buffered, bk)
				}
			}
			return
		}
		if b := s.buffered[k]; b != nil {
			fmt.Fprint(s.out, b.String())
		}
		delete(s.buffered, k)
		if topLevel {
			s.failed++
			s.failedTests = append(s.failedTests, ev.Package+" "+ev.Test)
		}
	}
}

// skipReason picks the message a skipped test logged (t.Skip's arguments).
func skipReason(b *strings.Builder) string {
	if b == nil {
		return "(no reason given)"
	}
	var reasons []string
	for _, line := range strings.Split(b.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "=== ") || strings.HasPrefix(line, "--- ") {
			continue
		}
		reasons = append(reasons, line)
	}
	if len(reasons) == 0 {
		return "(no reason given)"
	}
	return strings.Join(reasons, " | ")
}

// print writes the summary and reports whether everything passed.
func (s *summary) print() bool {
	fmt.Fprintln(s.out)
	fmt.Fprintf(s.out, "packages: %d ok, %d failed, %d without tests", s.pkgOK, s.pkgFailed, s.pkgNone)
	if s.buildFailed > 0 {
		fmt.Fprintf(s.out, ", %d failed to build", s.buildFailed)
	}
	fmt.Fprintln(s.out)
	for _, sk := range s.skips {
		fmt.Fprintln(s.out, "skipped:", sk)
	}
	for _, f := range s.failedTests {
		fmt.Fprintln(s.out, "FAILED:", f)
	}
	fmt.Fprintf(s.out, "tests: %d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	return s.failed == 0 && s.pkgFailed == 0 && s.buildFailed == 0
}
