package vk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/omnichat/omnichat/providers"
)

func TestSplitText(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int
		want  []string
	}{
		{"short", "hello", 10, []string{"hello"}},
		{"blank", "  \n ", 10, nil},
		{"trimmed", "\n\nhi there\n", 10, []string{"hi there"}},
		{"at a space", "aaaa bbbb cccc", 10, []string{"aaaa bbbb", "cccc"}},
		{"paragraph before space", "aaaaaa\n\nb cc", 10, []string{"aaaaaa", "b cc"}},
		{"line before space", "aaaaa b\ncc dd", 10, []string{"aaaaa b", "cc dd"}},
		{"no boundary", "abcdefghijkl", 5, []string{"abcde", "fghij", "kl"}},
		{"boundary too early is ignored", "a bcdefghijk", 6, []string{"a bcde", "fghijk"}},
		{"emoji count twice", "😀😀😀", 4, []string{"😀😀", "😀"}},
		{"never halves a character", "ab😀", 3, []string{"ab", "😀"}},
		{"cyrillic", "привет мир", 6, []string{"привет", "мир"}},
		{"tiny limit", "😀", 1, []string{"😀"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := splitText(tc.in, tc.limit)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("splitText(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
			}
		})
	}
	// Long real text: every part within the limit, nothing lost but whitespace at cuts.
	text := strings.Repeat("Съешь же ещё этих мягких французских булок 🥐, да выпей чаю.\n", 300)
	parts := splitText(text, maxTextUnits)
	if len(parts) < 4 {
		t.Fatalf("%d parts", len(parts))
	}
	for i, p := range parts {
		if n := len(utf16.Encode([]rune(p))); n > maxTextUnits {
			t.Errorf("part %d: %d units", i, n)
		}
	}
	if strings.Join(strings.Fields(strings.Join(parts, " ")), " ") != strings.Join(strings.Fields(text), " ") {
		t.Error("splitting lost text")
	}
}

func TestRandomID(t *testing.T) {
	seen := map[int64]bool{}
	for id := int64(1); id <= 2000; id++ {
		for part := 0; part < 3; part++ {
			r := randomID(id, part)
			if r <= 0 || r > 1<<31-1 {
				t.Fatalf("randomID(%d,%d) = %d: outside VK's positive int32", id, part, r)
			}
			if seen[r] {
				t.Fatalf("randomID(%d,%d) = %d repeats", id, part, r)
			}
			seen[r] = true
		}
	}
	if a, b := randomID(42, 0), randomID(42, 0); a != b {
		t.Error("randomID is not deterministic")
	}
	for _, id := range []int64{0, -5, 1 << 62} {
		if r := randomID(id, maxParts-1); r <= 0 || r > 1<<31-1 {
			t.Errorf("randomID(%d) = %d", id, r)
		}
	}
}

func TestKeyboardJSON(t *testing.T) {
	row := func(n int) []providers.Button {
		var r []providers.Button
		for i := 0; i < n; i++ {
			r = append(r, providers.Button{Text: "b", Data: "d"})
		}
		return r
	}
	rows := func(n, per int) [][]providers.Button {
		var rs [][]providers.Button
		for i := 0; i < n; i++ {
			rs = append(rs, row(per))
		}
		return rs
	}
	tests := []struct {
		name      string
		in        [][]providers.Button
		inline    bool
		rowLens   []int
		wantError bool
	}{
		{"one row", rows(1, 2), true, []int{2}, false},
		{"wide row wraps at 5", [][]providers.Button{row(7)}, true, []int{5, 2}, false},
		{"ten fit inline", rows(5, 2), true, []int{2, 2, 2, 2, 2}, false},
		{"eleven: standard keyboard", [][]providers.Button{row(5), row(5), row(1)}, false, []int{5, 5, 1}, false},
		{"seven rows: standard keyboard", rows(7, 1), false, []int{1, 1, 1, 1, 1, 1, 1}, false},
		{"forty", rows(8, 5), false, []int{5, 5, 5, 5, 5, 5, 5, 5}, false},
		{"eleven rows", rows(11, 1), false, nil, true},
		{"empty rows", [][]providers.Button{{}, {}}, false, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := keyboardJSON(tc.in)
			if tc.wantError {
				if err == nil {
					t.Fatalf("want an error, got %s", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kb keyboard
			if err := json.Unmarshal([]byte(s), &kb); err != nil {
				t.Fatal(err)
			}
			var lens []int
			for _, r := range kb.Buttons {
				lens = append(lens, len(r))
			}
			if kb.Inline != tc.inline || kb.OneTime || !equalInts(lens, tc.rowLens) {
				t.Errorf("inline=%v one_time=%v rows %v; want inline=%v rows %v", kb.Inline, kb.OneTime, lens, tc.inline, tc.rowLens)
			}
		})
	}
	s, err := keyboardJSON([][]providers.Button{{{Text: strings.Repeat("я", 50)}}})
	if err != nil {
		t.Fatal(err)
	}
	var kb keyboard
	_ = json.Unmarshal([]byte(s), &kb)
	a := kb.Buttons[0][0].Action
	if n := len([]rune(a.Label)); n != maxLabelRunes || !strings.HasSuffix(a.Label, "…") {
		t.Errorf("label %q (%d runes): want truncated to %d with an ellipsis", a.Label, n, maxLabelRunes)
	}
	if a.Payload != `{"data":"`+strings.Repeat("я", 50)+`"}` {
		t.Errorf("a button without data sends its text: %q", a.Payload)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err       error
		permanent bool
		delay     time.Duration
	}{
		{&APIError{Code: codeUserBlacklisted}, true, 0},
		{&APIError{Code: codeDenySend}, true, 0},
		{&APIError{Code: codePrivacy}, true, 0},
		{&APIError{Code: codeAuthFailed}, true, 0},
		{&APIError{Code: codeBotFeature}, true, 0},
		{&APIError{Code: codeCantDeleteForAll}, true, 0},
		{&APIError{Code: codeKeyboardInvalid}, true, 0},
		{&APIError{Code: codeTooManyPerSecond}, false, time.Second},
		{&APIError{Code: codeFloodControl}, false, time.Minute},
		{&APIError{Code: codeRateLimit}, false, time.Hour},
		{&APIError{Code: codeUnknown}, false, 0},
		{&APIError{Code: codeInternal}, false, 0},
		{&APIError{Code: 31337}, false, 0},
		{&HTTPError{Status: http.StatusTooManyRequests, RetryAfter: 9 * time.Second}, false, 9 * time.Second},
		{&HTTPError{Status: http.StatusTooManyRequests}, false, time.Second},
		{&HTTPError{Status: http.StatusServiceUnavailable}, false, 0},
		{errors.New("connection reset"), false, 0},
	}
	for _, tc := range tests {
		got := classify(tc.err)
		if providers.IsPermanent(got) != tc.permanent {
			t.Errorf("%v: permanent=%v, want %v", tc.err, providers.IsPermanent(got), tc.permanent)
		}
		if tc.permanent && providers.PermanentReason(got) == "" {
			t.Errorf("%v: permanent without a reason", tc.err)
		}
		d, ok := providers.RetryDelay(got)
		if ok != (tc.delay > 0) || d != tc.delay {
			t.Errorf("%v: delay %v %v, want %v", tc.err, d, ok, tc.delay)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("%v: classify must keep the cause", tc.err)
		}
	}
}

func TestParsePayload(t *testing.T) {
	tests := []struct {
		raw, cmd, data string
	}{
		{``, "", ""},
		{`null`, "", ""},
		{`{"data":"yes"}`, "", "yes"},
		{`"{\"data\":\"yes\"}"`, "", "yes"},
		{`"{\"command\":\"start\"}"`, "start", ""},
		{`"{\"button_type\":\"callback\",\"command\":\"not_supported_button\",\"payload\":\"{\\\"data\\\":\\\"op\\\"}\"}"`, "not_supported_button", "op"},
		{`{"button":"1"}`, "", `{"button":"1"}`},
		{`"plain"`, "", "plain"},
		{`[1,2]`, "", "[1,2]"},
	}
	for _, tc := range tests {
		cmd, data := parsePayload(json.RawMessage(tc.raw), 0)
		if cmd != tc.cmd || data != tc.data {
			t.Errorf("parsePayload(%s) = %q, %q; want %q, %q", tc.raw, cmd, data, tc.cmd, tc.data)
		}
	}
}

func TestCallbackSecret(t *testing.T) {
	if got := CallbackSecret("ab-c_D9"); got != "abcD9" {
		t.Errorf("CallbackSecret = %q", got)
	}
	long := strings.Repeat("x", 80)
	if got := CallbackSecret(long); len(got) != maxSecretKey {
		t.Errorf("len %d, want VK's %d", len(got), maxSecretKey)
	}
	if secretOK("", "") || secretOK("-_-_", "") || secretOK("short1", "short1") {
		t.Error("a channel without a usable secret accepted an event")
	}
}

func TestDecodeSettings(t *testing.T) {
	base := providers.Settings{SettingGroupToken: "t", SettingGroupID: "123"}
	tests := []struct {
		name      string
		edit      map[string]string
		groupID   int64
		methodURL string
		field     string
	}{
		{"defaults", nil, 123, "https://api.vk.com/method/", ""},
		{"club prefix", map[string]string{SettingGroupID: "club123"}, 123, "https://api.vk.com/method/", ""},
		{"public prefix", map[string]string{SettingGroupID: " public123 "}, 123, "https://api.vk.com/method/", ""},
		{"negative", map[string]string{SettingGroupID: "-123"}, 123, "https://api.vk.com/method/", ""},
		{"api url", map[string]string{SettingAPIURL: "http://127.0.0.1:9/"}, 123, "http://127.0.0.1:9/method/", ""},
		{"api url with method", map[string]string{SettingAPIURL: "https://proxy.example/vk/method/"}, 123, "https://proxy.example/vk/method/", ""},
		{"zero group", map[string]string{SettingGroupID: "0"}, 0, "", SettingGroupID},
		{"bad api url", map[string]string{SettingAPIURL: "api.vk.com"}, 0, "", SettingAPIURL},
		{"bad app id", map[string]string{SettingAppID: "app"}, 0, "", SettingAppID},
		{"bad server id", map[string]string{SettingCallbackServerID: "x"}, 0, "", SettingCallbackServerID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base.Merge(tc.edit)
			c, err := decodeSettings(s)
			if tc.field != "" {
				var se *providers.SettingsError
				if !errors.As(err, &se) || se.Fields[0] != tc.field {
					t.Fatalf("err %v, want SettingsError on %s", err, tc.field)
				}
				return
			}
			if err != nil || c.groupID != tc.groupID || c.methodURL != tc.methodURL {
				t.Fatalf("got %+v %v", c, err)
			}
		})
	}
}

func TestAuthorizeURL(t *testing.T) {
	u, err := AuthorizeURL("51234567")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"client_id=51234567", "response_type=token", "scope=groups%2Coffline", "v=" + APIVersion,
		"redirect_uri=https%3A%2F%2Foauth.vk.com%2Fblank.html"} {
		if !strings.Contains(u, want) {
			t.Errorf("%s lacks %s", u, want)
		}
	}
	if _, err := AuthorizeURL(""); err == nil {
		t.Error("AuthorizeURL without an app id")
	}
	res, err := New().RunAction(context.Background(), providers.Channel{Settings: providers.Settings{SettingAppID: "51234567"}}, ActionAuthorize)
	if err != nil || res.Code != u || res.Text == "" {
		t.Errorf("RunAction = %+v, %v", res, err)
	}
	if _, err := New().RunAction(context.Background(), providers.Channel{}, "nope"); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("unknown action: %v", err)
	}
}
