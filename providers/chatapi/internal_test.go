package chatapi

import (
	"errors"
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
		{"empty", "", 10, []string{""}},
		{"hard cut", "0123456789abc", 10, []string{"0123456789", "abc"}},
		{"at a space", "aaaaaaaa bbbbbbb", 10, []string{"aaaaaaaa ", "bbbbbbb"}},
		{"space too early is ignored", "a bbbbbbbbbbbb", 10, []string{"a bbbbbbbb", "bbbb"}},
		{"newline wins over space", "aaaaaaa\nb cccccc", 10, []string{"aaaaaaa\n", "b cccccc"}},
		{"runes, not bytes", "ааааааааааббб", 10, []string{"аааааааааа", "ббб"}},
		{"emoji stay whole", strings.Repeat("🙂", 12), 5, []string{strings.Repeat("🙂", 5), strings.Repeat("🙂", 5), "🙂🙂"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := splitText(tc.text, tc.limit)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("splitText(%q, %d) = %q, want %q", tc.text, tc.limit, got, tc.want)
			}
			if strings.Join(got, "") != tc.text {
				t.Errorf("parts do not join back to the text: %q", got)
			}
			for _, p := range got {
				if utf8.RuneCountInString(p) > tc.limit || !utf8.ValidString(p) {
					t.Errorf("part %q is longer than %d runes or not valid UTF-8", p, tc.limit)
				}
			}
		})
	}
}

func TestRenderButtons(t *testing.T) {
	tests := []struct {
		name string
		rows [][]providers.Button
		want string
		perm bool
	}{
		{"none", nil, "", false},
		{"one row", [][]providers.Button{{{Text: "Yes", Data: "yes"}, {Text: "No", Data: "no"}}}, "1. Yes\n2. No", false},
		{"rows are numbered on", [][]providers.Button{{{Text: "A"}}, {{Text: " B ", Data: "b"}, {Text: "Site", URL: "https://shop.example/"}}},
			"1. A\n2. B\n3. Site: https://shop.example/", false},
		{"empty rows skipped", [][]providers.Button{{}, {{Text: "Only"}}}, "1. Only", false},
		{"button without text", [][]providers.Button{{{Text: " ", Data: "x"}}}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := renderButtons(tc.rows)
			if tc.perm {
				if !providers.IsPermanent(err) {
					t.Errorf("want a Permanent error, got %q, %v", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("renderButtons = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestDecodeSettings(t *testing.T) {
	tests := []struct {
		name       string
		s          providers.Settings
		wantBase   string
		wantID     string
		wantFields []string
	}{
		{"default URL", providers.Settings{"token": "t", "channel_id": "123456"}, "https://api.chat-api.com/instance123456/", "123456", nil},
		{"instance URL", providers.Settings{"token": "t", "channel_id": "123456", "api_url": "https://eu86.chat-api.com/instance123456"}, "https://eu86.chat-api.com/instance123456/", "123456", nil},
		{"pasted account number", providers.Settings{"token": "t", "channel_id": "WhatsApp #123456", "api_url": " https://eu86.chat-api.com/instance123456/ "}, "https://eu86.chat-api.com/instance123456/", "123456", nil},
		{"proxy URL without instance", providers.Settings{"token": "t", "channel_id": "#42", "api_url": "http://127.0.0.1:8080/wa/"}, "http://127.0.0.1:8080/wa/", "42", nil},
		{"no token", providers.Settings{"channel_id": "1"}, "", "", []string{"token"}},
		{"no channel id", providers.Settings{"token": "t"}, "", "", []string{"channel_id"}},
		{"channel id not a number", providers.Settings{"token": "t", "channel_id": "my whatsapp"}, "", "", []string{"channel_id"}},
		{"not a URL", providers.Settings{"token": "t", "channel_id": "1", "api_url": "eu86.chat-api.com"}, "", "", []string{"api_url"}},
		{"token in the URL", providers.Settings{"token": "t", "channel_id": "1", "api_url": "https://eu86.chat-api.com/instance1/?token=abc"}, "", "", []string{"api_url"}},
		{"URL and id disagree", providers.Settings{"token": "t", "channel_id": "2", "api_url": "https://eu86.chat-api.com/instance1/"}, "", "", []string{"api_url", "channel_id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := decodeSettings(tc.s)
			if tc.wantFields != nil {
				var se *providers.SettingsError
				if !errors.As(err, &se) || strings.Join(se.Fields, ",") != strings.Join(tc.wantFields, ",") {
					t.Fatalf("want a SettingsError on %v, got %v", tc.wantFields, err)
				}
				if strings.Contains(err.Error(), "abc") {
					t.Errorf("the error quotes a secret: %v", err)
				}
				return
			}
			if err != nil || c.baseURL != tc.wantBase || c.instanceID != tc.wantID {
				t.Errorf("got %+v, %v; want base %q id %q", c, err, tc.wantBase, tc.wantID)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		e      APIError
		perm   string // the reason's start, "" when not permanent
		retry  time.Duration
		plain5 bool
	}{
		{"bad token", APIError{Status: 401, Message: "Wrong token. Please provide token as a GET parameter."}, "ChatAPI rejected the token", 0, false},
		{"bad token at 200", APIError{Status: 200, Message: "Wrong token. Please provide token as a GET parameter."}, "ChatAPI rejected the token", 0, false},
		{"forbidden", APIError{Status: 403, Message: "Forbidden"}, "ChatAPI rejected the token", 0, false},
		{"not paid", APIError{Status: 200, Message: "Instance is not paid"}, "the ChatAPI instance is not paid", 0, false},
		{"no instance", APIError{Status: 404, Message: "Instance not found"}, "ChatAPI does not know this instance", 0, false},
		{"not sent", APIError{Status: 200, NotSent: true, Message: "Wrong chatId format"}, "WhatsApp did not accept the message: Wrong chatId format", 0, false},
		{"other 4xx", APIError{Status: 400, Message: "body is required"}, "ChatAPI refused the request: body is required", 0, false},
		{"rate limited", APIError{Status: 429, RetryAfter: 7 * time.Second}, "", 7 * time.Second, false},
		{"rate limited without delay", APIError{Status: 429}, "", defaultRetryAfter, false},
		{"server error", APIError{Status: 502, Message: "Bad Gateway"}, "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.e
			e.Method = "sendMessage"
			err := classify(&e)
			if got := providers.PermanentReason(err); !strings.HasPrefix(got, tc.perm) || (tc.perm == "") != (got == "") {
				t.Errorf("reason %q, want prefix %q", got, tc.perm)
			}
			if d, ok := providers.RetryDelay(err); ok != (tc.retry > 0) || d != tc.retry {
				t.Errorf("retry %v %v, want %v", d, ok, tc.retry)
			}
			if tc.plain5 && (providers.IsPermanent(err) || err == nil) {
				t.Errorf("a 5xx must be a plain (retried) error, got %v", err)
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != tc.e.Status {
				t.Errorf("the APIError is not wrapped: %v", err)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	const token = "s3cr3t+/tok"
	in := "GET https://x/instance1/status?token=" + "s3cr3t%2B%2Ftok" + " and raw " + token
	got := scrub(in, token)
	if strings.Contains(got, token) || strings.Contains(got, "s3cr3t%2B%2Ftok") {
		t.Errorf("scrub left the token: %q", got)
	}
	if scrub("nothing", "") != "nothing" {
		t.Error("scrub with an empty token changed the text")
	}
	if got := truncate("ёёё", 3); got != "ё…" {
		t.Errorf("truncate cut inside a rune: %q", got)
	}
}
