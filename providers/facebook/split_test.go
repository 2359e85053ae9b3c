package facebook

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/omnichat/omnichat/providers"
)

func TestSplitText(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		limit int
		want  []string
	}{
		{"short", "hello", 10, []string{"hello"}},
		{"exactly the limit", "0123456789", 10, []string{"0123456789"}},
		{"paragraph break wins", "aaaa bbbb\n\ncccc dddd eeee", 16, []string{"aaaa bbbb", "cccc dddd eeee"}},
		{"line break", "aaaa bbbb\ncccc dddd", 14, []string{"aaaa bbbb", "cccc dddd"}},
		{"sentence end before a plain space", "One two three. Four five six", 20, []string{"One two three.", "Four five six"}},
		{"word break", "alpha beta gamma delta", 12, []string{"alpha beta", "gamma delta"}},
		{"no break: hard cut", "abcdefghijklmnopqrstuvwxyz", 10, []string{"abcdefghij", "klmnopqrst", "uvwxyz"}},
		{"runes, not bytes", strings.Repeat("я", 25), 10, []string{strings.Repeat("я", 10), strings.Repeat("я", 10), strings.Repeat("я", 5)}},
		// A break in the first half of the window would leave tiny parts: it is not used.
		{"early break ignored", "a bcdefghijklmnopqrstu", 10, []string{"a bcdefghi", "jklmnopqrs", "tu"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := splitText(tc.in, tc.limit)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("splitText(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
			}
		})
	}
}

func TestSplitTextLong(t *testing.T) {
	// A realistic long answer: every part fits, nothing but whitespace at the breaks is lost.
	para := strings.Repeat("Доставка по Казани занимает один день. ", 30)
	text := strings.TrimSpace(para + "\n\n" + para + "\n" + strings.Repeat("x", 2500))
	parts := splitText(text, maxTextRunes)
	if len(parts) < 3 {
		t.Fatalf("want at least 3 parts, got %d", len(parts))
	}
	for i, p := range parts {
		if n := utf8.RuneCountInString(p); n > maxTextRunes || n == 0 {
			t.Errorf("part %d has %d runes", i, n)
		}
	}
	squash := func(s string) string { return strings.Join(strings.Fields(s), "") }
	if squash(strings.Join(parts, "")) != squash(text) {
		t.Error("splitting lost or changed text")
	}
}

func TestSplitTail(t *testing.T) {
	cases := []struct {
		name       string
		in         string
		limit      int
		head, tail string
	}{
		{"fits", "short text", 20, "", "short text"},
		{"word break", "one two three four five six", 14, "one two three", "four five six"},
		{"paragraph", "intro words\n\nthe question?", 16, "intro words", "the question?"},
		{"hard cut", "abcdefghijklmnopqrstuvwxyz", 10, "abcdefghijklmnop", "qrstuvwxyz"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			head, tail := splitTail(tc.in, tc.limit)
			if head != tc.head || tail != tc.tail {
				t.Errorf("splitTail(%q, %d) = %q, %q; want %q, %q", tc.in, tc.limit, head, tail, tc.head, tc.tail)
			}
			if utf8.RuneCountInString(tail) > tc.limit {
				t.Errorf("tail has %d runes, limit %d", utf8.RuneCountInString(tail), tc.limit)
			}
		})
	}
}

// encoded is a built message as the Send API receives it.
func encoded(t *testing.T, m outMessage) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestBuildMessagesButtons(t *testing.T) {
	t.Run("plain text", func(t *testing.T) {
		msgs, err := buildMessages("hi", nil)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%v %v", msgs, err)
		}
		if got := string(mustJSON(t, msgs[0])); got != `{"text":"hi"}` {
			t.Errorf("got %s", got)
		}
	})

	t.Run("up to three buttons make a button template", func(t *testing.T) {
		msgs, err := buildMessages("Pick one", [][]providers.Button{
			{{Text: "Yes", Data: "yes"}, {Text: "No"}},
			{{Text: "Open the site", URL: "https://shop.example/"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"attachment":{"type":"template","payload":{"template_type":"button","text":"Pick one","buttons":[` +
			`{"type":"postback","title":"Yes","payload":"yes"},` +
			`{"type":"postback","title":"No","payload":"No"},` +
			`{"type":"web_url","title":"Open the site","url":"https://shop.example/"}]}}}`
		if len(msgs) != 1 || string(mustJSON(t, msgs[0])) != want {
			t.Errorf("got %s\nwant %s", mustJSON(t, msgs), want)
		}
	})

	t.Run("template text over 640 characters goes first as plain text", func(t *testing.T) {
		text := strings.Repeat("word ", 200) + "Which one?"
		msgs, err := buildMessages(text, [][]providers.Button{{{Text: "A", Data: "a"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 || msgs[0].Text == "" || msgs[1].Attachment == nil {
			t.Fatalf("want text then template, got %s", mustJSON(t, msgs))
		}
		tmpl := msgs[1].Attachment.Payload.(buttonTemplate)
		if n := utf8.RuneCountInString(tmpl.Text); n > maxTemplateTextRunes || !strings.HasSuffix(tmpl.Text, "Which one?") {
			t.Errorf("template text has %d runes: %q", n, tmpl.Text)
		}
	})

	t.Run("more than three buttons make quick replies, links go into the text", func(t *testing.T) {
		msgs, err := buildMessages("Delivery?", [][]providers.Button{
			{{Text: "Courier", Data: "courier"}, {Text: "Pickup", Data: "pickup"}},
			{{Text: "Post office, tracked and insured", Data: "post"}, {Text: "Tariffs", URL: "https://shop.example/tariffs"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 {
			t.Fatalf("got %d messages", len(msgs))
		}
		v := encoded(t, msgs[0])
		if v["text"] != "Delivery?\n\nTariffs: https://shop.example/tariffs" {
			t.Errorf("text %q", v["text"])
		}
		qr := msgs[0].QuickReplies
		if len(qr) != 3 || qr[0] != (quickReply{"text", "Courier", "courier"}) {
			t.Fatalf("quick replies %+v", qr)
		}
		if qr[2].Title != "Post office, tracke…" || qr[2].Payload != "post" {
			t.Errorf("a long title is cut to 20 characters, the payload kept: %+v", qr[2])
		}
	})

	t.Run("quick replies go with the last part of a long text", func(t *testing.T) {
		text := strings.Repeat("слово ", 500)
		rows := [][]providers.Button{{{Text: "1"}, {Text: "2"}, {Text: "3"}, {Text: "4"}}}
		msgs, err := buildMessages(text, rows)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 || msgs[0].QuickReplies != nil || len(msgs[1].QuickReplies) != 4 {
			t.Fatalf("got %s", mustJSON(t, msgs))
		}
	})

	t.Run("buttons without text", func(t *testing.T) {
		msgs, err := buildMessages("  ", [][]providers.Button{{{Text: "Go", Data: "go"}}})
		if err != nil {
			t.Fatal(err)
		}
		if tmpl := msgs[0].Attachment.Payload.(buttonTemplate); tmpl.Text != emptyTextWithButtons {
			t.Errorf("template text %q", tmpl.Text)
		}
	})

	for name, tc := range map[string]struct {
		text string
		rows [][]providers.Button
	}{
		"empty message":        {"", nil},
		"too many quick reply": {"x", [][]providers.Button{buttons(14)}},
		"payload too long":     {"x", [][]providers.Button{{{Text: "x", Data: strings.Repeat("d", 1001)}}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := buildMessages(tc.text, tc.rows)
			if !providers.IsPermanent(err) || providers.PermanentReason(err) == "" {
				t.Fatalf("want a Permanent error with a reason, got %v", err)
			}
		})
	}
}

func buttons(n int) []providers.Button {
	var out []providers.Button
	for i := range n {
		out = append(out, providers.Button{Text: strings.Repeat("b", i+1)})
	}
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAttachmentType(t *testing.T) {
	for mime, want := range map[string]string{
		"image/jpeg": "image", "image/PNG": "image", "image/gif": "image", "image/webp": "image",
		"image/svg+xml": "file", "image/heic": "file",
		"video/mp4": "video", "audio/ogg; codecs=opus": "audio", "audio/mpeg": "audio",
		"application/pdf": "file", "": "file",
	} {
		if got := attachmentType(mime); got != want {
			t.Errorf("attachmentType(%q) = %q, want %q", mime, got, want)
		}
	}
}
