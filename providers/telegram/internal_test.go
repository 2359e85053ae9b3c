package telegram

import (
	"encoding/json"
	"errors"
	"fmt"
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
		{"exactly the limit", "0123456789", 10, []string{"0123456789"}},
		{"one over: hard cut", "0123456789a", 10, []string{"0123456789", "a"}},
		{"prefers the line break", "aaaa bbb\ncc ddd", 10, []string{"aaaa bbb\n", "cc ddd"}},
		{"else the space", "aaaa bbbb cccc", 10, []string{"aaaa bbbb ", "cccc"}},
		{"break too early: hard cut", "a bbbbbbbbbbbbbbb", 10, []string{"a bbbbbbbb", "bbbbbbb"}},
		// 🙂 is two UTF-16 code units: it must not be split, nor counted as one.
		{"surrogate pair at the boundary", "123456789🙂", 10, []string{"123456789", "🙂"}},
		{"surrogate pairs fill the limit", "🙂🙂🙂🙂🙂🙂", 10, []string{"🙂🙂🙂🙂🙂", "🙂"}},
		{"Cyrillic counts one unit per letter", "привет мир", 10, []string{"привет мир"}},
		{"white-space parts are dropped", "aaaaaaaaaa          bbb", 10, []string{"aaaaaaaaaa", "bbb"}},
		{"only white space", "   ", 10, nil},
		{"a character wider than the limit", "🙂", 1, []string{"🙂"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := splitText(tc.text, tc.limit)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Errorf("splitText(%q, %d) = %q, want %q", tc.text, tc.limit, got, tc.want)
			}
		})
	}
}

func noSpace(s string) string {
	return strings.Join(strings.Fields(s), "")
}

// TestSplitTextProperties checks the invariants on generated texts: parts fit, are valid
// UTF-8, are not blank, and join back to the text.
func TestSplitTextProperties(t *testing.T) {
	words := []string{"слово", "word", "🙂", "\n", " ", "длинноесловобезпробелов", "a", "\t", "日本語"}
	for seed := 0; seed < 300; seed++ {
		var b strings.Builder
		x := uint32(seed*2654435761 + 1)
		for b.Len() < 3000 {
			x = x*1664525 + 1013904223
			b.WriteString(words[x>>16%uint32(len(words))])
		}
		text := b.String()
		limit := 7 + seed%200
		parts := splitText(text, limit)
		// Only parts made of white space may be dropped: without white space, the parts
		// joined are the text.
		if noSpace(strings.Join(parts, "")) != noSpace(text) {
			t.Fatalf("seed %d: parts do not join back to the text", seed)
		}
		for _, p := range parts {
			if utf16Len(p) > limit || !utf8.ValidString(p) || strings.TrimSpace(p) == "" {
				t.Fatalf("seed %d limit %d: bad part %q (%d units)", seed, limit, p, utf16Len(p))
			}
		}
	}
}

func TestUTF16Len(t *testing.T) {
	for s, want := range map[string]int{"": 0, "abc": 3, "привет": 6, "🙂": 2, "a🙂b": 4, "\xff": 1, "日本": 2} {
		if got := utf16Len(s); got != want {
			t.Errorf("utf16Len(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestInlineKeyboardJSON(t *testing.T) {
	kb, err := inlineKeyboard([][]providers.Button{
		{{Text: "Да", Data: "yes"}, {Text: "Нет"}},
		nil,
		{{Text: "Сайт", URL: "https://example.com", Data: "dropped"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(kb)
	want := `{"inline_keyboard":[[{"text":"Да","callback_data":"yes"},{"text":"Нет","callback_data":"Нет"}],[{"text":"Сайт","url":"https://example.com"}]]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if kb, err := inlineKeyboard(nil); kb != nil || err != nil {
		t.Errorf("no buttons: %v, %v; want nil markup", kb, err)
	}
	if kb, err := inlineKeyboard([][]providers.Button{{}, {}}); kb != nil || err != nil {
		t.Errorf("empty rows: %v, %v; want nil markup", kb, err)
	}
	if _, err := inlineKeyboard([][]providers.Button{{{Text: "x", Data: strings.Repeat("a", 64)}}}); err != nil {
		t.Errorf("64 bytes of data: %v, want accepted", err)
	}
	if _, err := inlineKeyboard([][]providers.Button{{{Text: "x", Data: strings.Repeat("a", 65)}}}); !providers.IsPermanent(err) {
		t.Errorf("65 bytes of data: %v, want Permanent", err)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err       error
		permanent bool
		retry     time.Duration
	}{
		{&APIError{Code: 429, RetryAfter: 30}, false, 30 * time.Second},
		{&APIError{Code: 500, Description: "Internal Server Error"}, false, 0},
		{&APIError{Code: 403, Description: "Forbidden: bot was blocked by the user"}, true, 0},
		{&APIError{Code: 401, Description: "Unauthorized"}, true, 0},
		{&APIError{Code: 400, Description: "Bad Request: group chat was upgraded", MigrateTo: -100123}, true, 0},
		{&APIError{Code: 409, Description: "Conflict"}, true, 0},
		{fmt.Errorf("error do request for method sendMessage, %w", &APIError{Code: 403}), true, 0},
		{errors.New("connection reset by peer"), false, 0},
	}
	for _, tc := range tests {
		err := classify("sendMessage", tc.err)
		d, _ := providers.RetryDelay(err)
		if providers.IsPermanent(err) != tc.permanent || d != tc.retry {
			t.Errorf("classify(%v) = %v: permanent %v retry %v; want %v %v", tc.err, err, providers.IsPermanent(err), d, tc.permanent, tc.retry)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("classify(%v) does not wrap the cause", tc.err)
		}
	}
	if classify("x", nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

func TestDecodeSettings(t *testing.T) {
	s, err := decodeSettings(providers.Settings{SettingToken: " 1:abc_DEF-9 ", SettingAPIURL: "http://localhost:8081/",
		SettingProxyURL: "socks5://u:p@proxy:1080", SettingAllowGroups: "true"})
	if err != nil {
		t.Fatal(err)
	}
	if s.token != "1:abc_DEF-9" || s.apiURL != "http://localhost:8081" || s.proxy.Host != "proxy:1080" || !s.allowGroups {
		t.Errorf("decoded %+v", s)
	}
	s, err = decodeSettings(providers.Settings{SettingToken: "1:a"})
	if err != nil || s.apiURL != DefaultAPIURL || s.proxy != nil || s.allowGroups {
		t.Errorf("defaults: %+v, %v", s, err)
	}
	for _, bad := range []providers.Settings{
		{},
		{SettingToken: "1:a/b"},
		{SettingToken: "abc:def"},
		{SettingToken: "1:a", SettingAPIURL: "api.telegram.org"},
		{SettingToken: "1:a", SettingAPIURL: "https://x/?token=1"},
		{SettingToken: "1:a", SettingProxyURL: "ftp://proxy"},
		{SettingToken: "1:a", SettingAllowGroups: "yes please"},
	} {
		var se *providers.SettingsError
		if _, err := decodeSettings(bad); !errors.As(err, &se) {
			t.Errorf("decodeSettings(%v) = %v, want a SettingsError", bad, err)
		}
	}
}

func TestOwnPhone(t *testing.T) {
	for in, want := range map[string]string{"79161234567": "+79161234567", "+79161234567": "+79161234567",
		" 380501234567 ": "+380501234567", "8 (916) 123": "8 (916) 123", "": ""} {
		if got := ownPhone(in); got != want {
			t.Errorf("ownPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseMessageID(t *testing.T) {
	tests := []struct {
		id, def  string
		chat     string
		msg      int
		wantFail bool
	}{
		{"111:42", "", "111", 42, false},
		{"-1001987654321:7", "5", "-1001987654321", 7, false},
		{"42", "111", "111", 42, false},
		{"42", "", "", 0, true},
		{"111:x", "", "", 0, true},
		{"111:0", "", "", 0, true},
		{"", "111", "", 0, true},
	}
	for _, tc := range tests {
		chat, msg, err := parseMessageID(tc.id, tc.def)
		if (err != nil) != tc.wantFail || chat != tc.chat || msg != tc.msg {
			t.Errorf("parseMessageID(%q, %q) = %q, %d, %v", tc.id, tc.def, chat, msg, err)
		}
	}
}
