package viber

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"

	mviber "github.com/mileusna/viber"

	"github.com/omnichat/omnichat/providers"
)

func TestSplitText(t *testing.T) {
	cases := []struct {
		name     string
		text     string
		units    int
		bytes    int
		want     []string // nil: only check the invariants
		numParts int
	}{
		{name: "short", text: "hello", units: 10, bytes: 100, want: []string{"hello"}},
		{name: "exactly the limit", text: strings.Repeat("a", 10), units: 10, bytes: 100, want: []string{strings.Repeat("a", 10)}},
		{name: "one over", text: strings.Repeat("a", 11), units: 10, bytes: 100, want: []string{strings.Repeat("a", 10), "a"}},
		{name: "after a line break", text: "aaaaaaa\nbbbbbbbb", units: 10, bytes: 100, want: []string{"aaaaaaa\n", "bbbbbbbb"}},
		{name: "after a space", text: "aaaaaa bbbbbbb", units: 10, bytes: 100, want: []string{"aaaaaa ", "bbbbbbb"}},
		{name: "line break beats a later space", text: "aaaaaa\nb cc dddd", units: 10, bytes: 100, want: []string{"aaaaaa\n", "b cc dddd"}},
		{name: "a space too early is not used", text: "a bbbbbbbbbbbb", units: 10, bytes: 100, want: []string{"a bbbbbbbb", "bbbb"}},
		{name: "emoji count two UTF-16 units", text: strings.Repeat("😀", 6), units: 10, bytes: 100, want: []string{strings.Repeat("😀", 5), "😀"}},
		{name: "cyrillic by bytes", text: strings.Repeat("ж", 6), units: 100, bytes: 10, want: []string{strings.Repeat("ж", 5), "ж"}},
		{name: "quotes cost two bytes", text: strings.Repeat(`"`, 6), units: 100, bytes: 10, want: []string{strings.Repeat(`"`, 5), `"`}},
		{name: "control characters cost six", text: "\x01\x01\x01", units: 100, bytes: 12, want: []string{"\x01\x01", "\x01"}},
		{name: "viber sized", text: strings.Repeat("слово ", 3000), units: maxTextUnits, bytes: maxTextBytes, numParts: 3},
		{name: "long run of emoji at viber size", text: strings.Repeat("👍🏽", 4000), units: maxTextUnits, bytes: maxTextBytes, numParts: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := splitText(tc.text, tc.units, tc.bytes)
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if tc.numParts != 0 && len(got) != tc.numParts {
				t.Errorf("got %d parts, want %d", len(got), tc.numParts)
			}
			if strings.Join(got, "") != tc.text {
				t.Error("the parts do not add up to the text")
			}
			for i, part := range got {
				if part == "" {
					t.Errorf("part %d is empty", i)
				}
				if n := len(utf16.Encode([]rune(part))); n > tc.units {
					t.Errorf("part %d has %d UTF-16 units, limit %d", i, n, tc.units)
				}
				enc, err := marshal(part)
				if err != nil {
					t.Fatal(err)
				}
				if n := len(enc) - 2; n > tc.bytes { // minus the quotes
					t.Errorf("part %d encodes to %d bytes, limit %d", i, n, tc.bytes)
				}
			}
		})
	}
}

func TestKeyboard(t *testing.T) {
	t.Run("columns share the row", func(t *testing.T) {
		cases := []struct {
			buttons int
			want    []int
		}{
			{1, []int{6}},
			{2, []int{3, 3}},
			{3, []int{2, 2, 2}},
			{4, []int{2, 2, 1, 1}},
			{5, []int{2, 1, 1, 1, 1}},
			{6, []int{1, 1, 1, 1, 1, 1}},
			{7, []int{1, 1, 1, 1, 1, 1, 6}}, // wraps: 6 on the first row, 1 on the next
			{8, []int{1, 1, 1, 1, 1, 1, 3, 3}},
		}
		for _, tc := range cases {
			var row []providers.Button
			for i := 0; i < tc.buttons; i++ {
				row = append(row, providers.Button{Text: strings.Repeat("x", i+1), Data: "d"})
			}
			kb, _ := keyboard([][]providers.Button{row})
			var cols []int
			for _, b := range kb.Buttons {
				cols = append(cols, b.Columns)
				if b.Rows != 1 {
					t.Errorf("%d buttons: Rows = %d", tc.buttons, b.Rows)
				}
			}
			if !reflect.DeepEqual(cols, tc.want) {
				t.Errorf("%d buttons: columns %v, want %v", tc.buttons, cols, tc.want)
			}
		}
	})

	t.Run("encoding and tracking", func(t *testing.T) {
		kb, tr := keyboard([][]providers.Button{
			{{Text: "Call an operator", Data: "op:call"}, {Text: " No ", Data: ""}},
			{{Text: "Open order", URL: "https://shop.example.com/o/1"}},
			{{Text: "Call an operator", Data: "second-wins?"}},
		})
		got, err := marshal(kb)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"Type":"keyboard","Buttons":[` +
			`{"Columns":3,"Rows":1,"ActionType":"reply","ActionBody":"Call an operator","Text":"Call an operator"},` +
			`{"Columns":3,"Rows":1,"ActionType":"reply","ActionBody":"No","Text":" No "},` +
			`{"Columns":6,"Rows":1,"ActionType":"open-url","ActionBody":"https://shop.example.com/o/1","Text":"Open order","Silent":true},` +
			`{"Columns":6,"Rows":1,"ActionType":"reply","ActionBody":"Call an operator","Text":"Call an operator"}]}`
		if string(got) != want {
			t.Errorf("keyboard\n got %s\nwant %s", got, want)
		}
		dec := decodeTracking(tr)
		if d, ok := dec.button("Call an operator"); !ok || d != "op:call" {
			t.Errorf("button(Call an operator) = %q, %v; the first of two equal texts wins", d, ok)
		}
		if d, ok := dec.button("No"); !ok || d != "No" {
			t.Errorf("a button without data sends its text: got %q, %v", d, ok)
		}
		if !dec.isURL("https://shop.example.com/o/1") || dec.isURL("https://elsewhere.example") {
			t.Error("isURL does not match the open-url buttons")
		}
		if _, ok := dec.button("Open order"); ok {
			t.Error("an open-url button must not count as a reply")
		}
	})

	t.Run("no buttons", func(t *testing.T) {
		if kb, tr := keyboard(nil); kb != nil || tr != "" {
			t.Errorf("got %+v %q", kb, tr)
		}
		if kb, _ := keyboard([][]providers.Button{{}}); kb != nil {
			t.Errorf("empty rows gave a keyboard %+v", kb)
		}
	})

	t.Run("too much data to track", func(t *testing.T) {
		var row []providers.Button
		for i := 0; i < 6; i++ {
			row = append(row, providers.Button{Text: strings.Repeat("b", 10) + string(rune('a'+i)), Data: strings.Repeat("d", 1000)})
		}
		kb, tr := keyboard([][]providers.Button{row})
		if kb == nil || len(kb.Buttons) != 6 {
			t.Fatalf("keyboard lost: %+v", kb)
		}
		if tr != "" {
			t.Errorf("tracking data over Viber's %d bytes was kept (%d bytes)", maxTrackingData, len(tr))
		}
	})
}

func TestDecodeTrackingIgnoresForeignData(t *testing.T) {
	for _, s := range []string{"", "3055", "omnichat:", "omnichat:{", `omnichat:{"b":5}`, `{"b":{"a":"b"}}`} {
		if got := decodeTracking(s); !reflect.DeepEqual(got, tracking{}) {
			t.Errorf("decodeTracking(%q) = %+v", s, got)
		}
	}
}

func TestClassify(t *testing.T) {
	type class int
	const (
		retry class = iota
		permanent
		rateLimited
	)
	cases := []struct {
		method string
		status int
		want   class
	}{
		{"send_message", 1, permanent}, {"send_message", 2, permanent}, {"send_message", 3, permanent},
		{"send_message", 4, permanent}, {"send_message", 5, permanent}, {"send_message", 6, permanent},
		{"send_message", 7, permanent}, {"send_message", 8, permanent}, {"send_message", 9, permanent},
		{"send_message", 10, permanent}, {"send_message", 11, permanent}, {"send_message", 12, rateLimited},
		{"send_message", 13, permanent}, {"send_message", 14, permanent}, {"send_message", 15, permanent},
		{"send_message", 21, permanent}, {"send_message", 23, permanent}, {"send_message", 24, permanent},
		{"send_message", 99, retry}, {"send_message", -1, retry},
		{"get_user_details", 12, rateLimited},
	}
	for _, tc := range cases {
		err := classify(&APIError{Method: tc.method, Status: tc.status, Message: "x"})
		var got class
		if d, ok := providers.RetryDelay(err); ok {
			got = rateLimited
			if tc.method == "get_user_details" && d != userDetailsRetryAfter {
				t.Errorf("get_user_details rate limit: delay %s, want %s", d, userDetailsRetryAfter)
			}
		} else if providers.IsPermanent(err) {
			got = permanent
			if providers.PermanentReason(err) == "" {
				t.Errorf("status %d: permanent without a reason", tc.status)
			}
		}
		if got != tc.want {
			t.Errorf("%s status %d: class %d, want %d (%v)", tc.method, tc.status, got, tc.want, err)
		}
	}
}

func TestSenderName(t *testing.T) {
	cases := []struct{ setting, bot, want string }{
		{"", "Shop Bot", "Shop Bot"},
		{"  Support team ", "Shop Bot", "Support team"},
		{"", "", "Support"},
		{strings.Repeat("я", 40), "", strings.Repeat("я", 28)},
	}
	for _, tc := range cases {
		if got := senderName(tc.setting, tc.bot); got != tc.want {
			t.Errorf("senderName(%q, %q) = %q, want %q", tc.setting, tc.bot, got, tc.want)
		}
	}
}

func TestMediaKindAndFileName(t *testing.T) {
	cases := []struct {
		f    providers.OutFile
		want string
	}{
		{providers.OutFile{Name: "a.jpg", MIME: "image/jpeg"}, "picture"},
		{providers.OutFile{Name: "a.png", MIME: "IMAGE/PNG; charset=binary"}, "picture"},
		{providers.OutFile{Name: "a.gif", MIME: "image/gif"}, "file"},
		{providers.OutFile{Name: "a.mp4", MIME: "video/mp4"}, "video"},
		{providers.OutFile{Name: "a.mov", MIME: "video/quicktime"}, "file"},
		{providers.OutFile{Name: "photo.JPG"}, "picture"},
		{providers.OutFile{Name: "clip.mp4", MIME: "application/octet-stream"}, "video"},
		{providers.OutFile{Name: "report.pdf", MIME: "application/pdf"}, "file"},
	}
	for _, tc := range cases {
		if got := mediaKind(tc.f); got != tc.want {
			t.Errorf("mediaKind(%s, %s) = %s, want %s", tc.f.Name, tc.f.MIME, got, tc.want)
		}
	}
	long := strings.Repeat("н", 300) + ".docx"
	got := fileName(providers.OutFile{Name: long})
	if n := len([]rune(got)); n != maxFileNameRunes || !strings.HasSuffix(got, ".docx") {
		t.Errorf("fileName kept %d runes, suffix ok: %v", n, strings.HasSuffix(got, ".docx"))
	}
	if got := fileName(providers.OutFile{}); got != "file" {
		t.Errorf("empty name → %q", got)
	}
}

// The library's keyboard type must encode the way Viber expects (PascalCase keys).
func TestLibraryKeyboardShape(t *testing.T) {
	b, _ := json.Marshal(mviber.Button{Columns: 6, Rows: 1, ActionType: mviber.Reply, ActionBody: "x"})
	if string(b) != `{"Columns":6,"Rows":1,"ActionType":"reply","ActionBody":"x"}` {
		t.Errorf("mileusna/viber Button encodes as %s", b)
	}
}
