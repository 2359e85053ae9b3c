package main

import (
	"strings"
	"testing"
)

// stream is test2json output in the shape `go test -json` writes it (Go 1.24+).
const stream = `{"Action":"start","Package":"ex/a"}
{"Action":"run","Package":"ex/a","Test":"TestOK"}
{"Action":"output","Package":"ex/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"ex/a","Test":"TestOK","Output":"    a_test.go:9: chatty log line\n"}
{"Action":"output","Package":"ex/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"ex/a","Test":"TestOK","Elapsed":0}
{"Action":"run","Package":"ex/a","Test":"TestTable"}
{"Action":"run","Package":"ex/a","Test":"TestTable/one"}
{"Action":"output","Package":"ex/a","Test":"TestTable/one","Output":"    a_test.go:20: want 2, got 3\n"}
{"Action":"output","Package":"ex/a","Test":"TestTable/one","Output":"--- FAIL: TestTable/one (0.00s)\n"}
{"Action":"fail","Package":"ex/a","Test":"TestTable/one","Elapsed":0}
{"Action":"output","Package":"ex/a","Test":"TestTable","Output":"--- FAIL: TestTable (0.00s)\n"}
{"Action":"fail","Package":"ex/a","Test":"TestTable","Elapsed":0}
{"Action":"run","Package":"ex/a","Test":"TestBrowser"}
{"Action":"output","Package":"ex/a","Test":"TestBrowser","Output":"=== RUN   TestBrowser\n"}
{"Action":"output","Package":"ex/a","Test":"TestBrowser","Output":"    a_test.go:30: skipped: chromium not installed\n"}
{"Action":"output","Package":"ex/a","Test":"TestBrowser","Output":"--- SKIP: TestBrowser (0.00s)\n"}
{"Action":"skip","Package":"ex/a","Test":"TestBrowser","Elapsed":0}
{"Action":"output","Package":"ex/a","Output":"FAIL\n"}
{"Action":"output","Package":"ex/a","Output":"FAIL\tex/a\t0.01s\n"}
{"Action":"fail","Package":"ex/a","Elapsed":0.01}
{"Action":"start","Package":"ex/b"}
{"Action":"output","Package":"ex/b","Output":"?   \tex/b\t[no test files]\n"}
{"Action":"skip","Package":"ex/b","Elapsed":0}
{"ImportPath":"ex/c [ex/c.test]","Action":"build-output","Output":"c.go:3:1: syntax error\n"}
{"ImportPath":"ex/c [ex/c.test]","Action":"build-fail"}
{"Action":"start","Package":"ex/d"}
{"Action":"run","Package":"ex/d","Test":"TestHang"}
{"Action":"output","Package":"ex/d","Test":"TestHang","Output":"panic: test timed out after 9m0s\n"}
{"Action":"output","Package":"ex/d","Output":"FAIL\tex/d\t540.1s\n"}
{"Action":"fail","Package":"ex/d","Elapsed":540.1}
{"Action":"start","Package":"ex/e"}
{"Action":"run","Package":"ex/e","Test":"TestFine"}
{"Action":"pass","Package":"ex/e","Test":"TestFine","Elapsed":0}
{"Action":"output","Package":"ex/e","Output":"PASS\n"}
{"Action":"output","Package":"ex/e","Output":"ok  \tex/e\t0.01s\n"}
{"Action":"pass","Package":"ex/e","Elapsed":0.01}
go: downloading example.com/m v1.0.0
`

func TestSummary(t *testing.T) {
	var out strings.Builder
	s := &summary{out: &out, buffered: map[key]*strings.Builder{}}
	if err := s.read(strings.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	if s.print() {
		t.Error("print reported success for a run with failures")
	}
	got := out.String()
	for _, want := range []string{
		"want 2, got 3",                    // a failed subtest's output
		"FAIL\tex/a\t0.01s",                // package lines pass through
		"c.go:3:1: syntax error",           // build errors too
		"panic: test timed out after 9m0s", // and an unfinished test's output
		"ok  \tex/e",
		"go: downloading example.com/m",
		"packages: 1 ok, 2 failed, 1 without tests, 1 failed to build\n",
		"skipped: ex/a TestBrowser: a_test.go:30: skipped: chromium not installed\n",
		"FAILED: ex/a TestTable\n",
		"tests: 2 passed, 1 failed, 1 skipped\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"chatty log line", "PASS\n"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("output has %q, which plain go test would not print:\n%s", unwanted, got)
		}
	}
	if !strings.HasSuffix(got, "tests: 2 passed, 1 failed, 1 skipped\n") {
		t.Errorf("the tests line must close the output:\n%s", got)
	}
}

func TestSummaryAllPassed(t *testing.T) {
	var out strings.Builder
	s := &summary{out: &out, buffered: map[key]*strings.Builder{}}
	in := `{"Action":"run","Package":"ex/e","Test":"TestFine"}
{"Action":"pass","Package":"ex/e","Test":"TestFine","Elapsed":0}
{"Action":"pass","Package":"ex/e","Elapsed":0.01}
`
	if err := s.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if !s.print() {
		t.Errorf("print reported failure for a passing run:\n%s", out.String())
	}
}
