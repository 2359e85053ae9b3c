package example

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/omnichat/omnichat/providers"
)

func TestSplitText(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"short", "hello", 10, []string{"hello"}},
		{"exact", "0123456789", 10, []string{"0123456789"}},
		{"hard cut without spaces", "0123456789abc", 10, []string{"0123456789", "abc"}},
		{"cut after a space", "aaaaaaaa bbbbbbb", 10, []string{"aaaaaaaa ", "bbbbbbb"}},
		{"cut after a newline before a later space", "aaaaaaa\nb cc", 10, []string{"aaaaaaa\n", "b cc"}},
		// A space early in the part would make a tiny part: cut hard instead.
		{"early space ignored", "a bbbbbbbbbbbbbb", 10, []string{"a bbbbbbbb", "bbbbbb"}},
		{"runes not bytes", strings.Repeat("я", 25), 10, []string{strings.Repeat("я", 10), strings.Repeat("я", 10), strings.Repeat("я", 5)}},
		{"emoji stays whole", strings.Repeat("😀", 11), 10, []string{strings.Repeat("😀", 10), "😀"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := splitText(tc.text, tc.limit)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("splitText(%q, %d) = %q, want %q", tc.text, tc.limit, got, tc.want)
			}
		})
	}
}

// FuzzSplitText: parts are valid where the input is, within the limit, and add up to the text.
func FuzzSplitText(f *testing.F) {
	f.Add("hello world, this is a test", 5)
	f.Add("строка\nещё строка", 4)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if limit < 1 || limit > 100 || !utf8.ValidString(text) {
			return
		}
		parts := splitText(text, limit)
		if strings.Join(parts, "") != text {
			t.Fatalf("parts %q do not add up to %q", parts, text)
		}
		for _, p := range parts {
			if utf8.RuneCountInString(p) > limit || !utf8.ValidString(p) || (p == "" && text != "") {
				t.Fatalf("bad part %q (limit %d)", p, limit)
			}
		}
	})
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://api.example-messenger.invalid/download/1", "https://api.example-messenger.invalid", true},
		{"https://API.example-messenger.invalid/x", "https://api.example-messenger.invalid", true},
		{"http://api.example-messenger.invalid/x", "https://api.example-messenger.invalid", false},
		{"https://api.example-messenger.invalid:8443/x", "https://api.example-messenger.invalid", false},
		{"https://cdn.example-messenger.invalid/x", "https://api.example-messenger.invalid", false},
		{"https://api.example-messenger.invalid.evil.example/x", "https://api.example-messenger.invalid", false},
		{"/download/1", "https://api.example-messenger.invalid", false},
	}
	for _, tc := range tests {
		if got := sameOrigin(tc.a, tc.b); got != tc.want {
			t.Errorf("sameOrigin(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestQuoteFilename(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":         "report.pdf",
		"":                   "file",
		`a "quoted" name`:    `a \"quoted\" name`,
		`back\slash`:         `back\\slash`,
		"line\r\nbreak.txt":  "linebreak.txt",
		"отчёт за март.xlsx": "отчёт за март.xlsx",
	} {
		if got := quoteFilename(in); got != want {
			t.Errorf("quoteFilename(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status    int
		retry     int
		permanent bool
		delay     time.Duration
	}{
		{http.StatusUnauthorized, 0, true, 0},
		{http.StatusForbidden, 0, true, 0},
		{http.StatusNotFound, 0, true, 0},
		{http.StatusRequestEntityTooLarge, 0, true, 0},
		{http.StatusTooManyRequests, 3, false, 3 * time.Second},
		{http.StatusTooManyRequests, 0, false, time.Second}, // no delay given: a default, never zero
		{http.StatusInternalServerError, 0, false, 0},
		{http.StatusServiceUnavailable, 0, false, 0},
	}
	for _, tc := range tests {
		err := classify(&APIError{Op: "POST /messages", Status: tc.status, RetryAfter: tc.retry, Message: "m"})
		if providers.IsPermanent(err) != tc.permanent {
			t.Errorf("%d: permanent = %v, want %v", tc.status, !tc.permanent, tc.permanent)
		}
		if d, _ := providers.RetryDelay(err); d != tc.delay {
			t.Errorf("%d: delay %v, want %v", tc.status, d, tc.delay)
		}
	}
}

func TestDecodeSettings(t *testing.T) {
	c, err := decodeSettings(providers.Settings{SettingToken: " tok ", SettingAPIURL: "http://127.0.0.1:9000/api/"})
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "tok" || c.baseURL != "http://127.0.0.1:9000/api" {
		t.Errorf("decoded %+v", c)
	}
	c, err = decodeSettings(providers.Settings{SettingToken: "tok"})
	if err != nil || c.baseURL != DefaultAPIURL {
		t.Errorf("default api_url: %+v %v", c, err)
	}
}
