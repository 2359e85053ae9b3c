package pgtext

import "testing"

func TestClean(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"hello", "hello"},
		{"Привет", "Привет"},
		{"a\x00b", "ab"},
		{"\x00", ""},
		{"a\xffb", "a\uFFFDb"},
		{"\x00\xff\x00", "\uFFFD"},
		{"ok \uFFFD kept", "ok \uFFFD kept"},
	} {
		got := Clean(c.in)
		if got != c.want {
			t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
		}
		if Dirty(got) || Clean(got) != got {
			t.Errorf("Clean(%q) = %q is not clean", c.in, got)
		}
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "a\x00b", "\xff\xfe", "Привет\x00", "\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Clean(s)
		if Dirty(got) || Clean(got) != got {
			t.Fatalf("Clean(%q) = %q is not clean or not idempotent", s, got)
		}
		if !Dirty(s) && got != s {
			t.Fatalf("Clean changed clean %q to %q", s, got)
		}
	})
}
