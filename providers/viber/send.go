package viber

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"path"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	mviber "github.com/mileusna/viber"

	"github.com/omnichat/omnichat/providers"
)

// Viber's limits for send_message.
const (
	maxTextUnits       = 7000     // text length (counted here in UTF-16 units, the stricter reading)
	maxRequestBytes    = 30000    // the whole JSON request ("30 KB")
	maxTextBytes       = 24000    // encoded text per message: the rest of the request must fit too
	maxPictureCaption  = 512      // text under a picture
	maxPictureBytes    = 1 << 20  // bigger images go as files
	maxVideoBytes      = 26 << 20 // bigger videos go as files
	maxFileNameRunes   = 256
	maxTrackingData    = 4096
	keyboardColumns    = 6 // a keyboard row is 6 columns wide
	trackingDataPrefix = "omnichat:"
)

// sendResponse is send_message's answer. message_token is a 64-bit integer: json.Number
// keeps it exact (a float64 would round it).
type sendResponse struct {
	MessageToken json.Number `json:"message_token"`
}

// send posts one message and returns its token.
func (p *Provider) send(ctx context.Context, c config, msg any) (string, error) {
	var resp sendResponse
	if err := p.call(ctx, c, "send_message", msg, &resp); err != nil {
		return "", err
	}
	token := resp.MessageToken.String()
	if _, err := strconv.ParseUint(token, 10, 64); err != nil {
		return "", errorf("send_message: the answer has no message_token")
	}
	return token, nil
}

// SendMessage implements providers.Provider. Texts over Viber's limit go as several
// messages; buttons become a keyboard under the last one. Viber has no replies to a
// particular message for bots, so m.ReplyTo is ignored.
func (p *Provider) SendMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, m providers.OutMessage) (providers.Sent, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.Sent{}, err
	}
	receiver := to.Chat()
	if receiver == "" {
		return providers.Sent{}, providers.Permanent("the message has no recipient", nil)
	}
	if strings.TrimSpace(m.Text) == "" {
		return providers.Sent{}, providers.Permanent("Viber cannot send an empty text", nil)
	}

	kb, tracking := keyboard(m.Buttons)
	budget := maxTextBytes
	if kb != nil {
		extra, err := marshal(struct {
			K *mviber.Keyboard `json:"keyboard"`
			T string           `json:"tracking_data"`
		}{kb, tracking})
		if err != nil {
			return providers.Sent{}, errorf("encode the keyboard: %w", err)
		}
		budget = min(budget, maxRequestBytes-1024-len(extra))
		if budget < 1000 {
			return providers.Sent{}, providers.Permanent("too many or too long buttons for one Viber message", nil)
		}
	}

	parts := splitText(m.Text, maxTextUnits, budget)
	var sent providers.Sent
	for i, part := range parts {
		msg := mviber.TextMessage{
			Receiver: receiver,
			Sender:   mviber.Sender{Name: c.senderName},
			Type:     mviber.TypeTextMessage,
			Text:     part,
		}
		if i == len(parts)-1 {
			msg.Keyboars = kb
			msg.TrackingData = tracking
		}
		token, err := p.send(ctx, c, msg)
		if err != nil {
			return sent, err
		}
		sent.Parts = append(sent.Parts, token)
		sent.ExternalID = token
	}
	return sent, nil
}

// fileMessage is Viber's "file" message, which mileusna/viber lacks.
type fileMessage struct {
	Receiver     string        `json:"receiver"`
	Sender       mviber.Sender `json:"sender"`
	Type         string        `json:"type"`
	Media        string        `json:"media"`
	Size         int64         `json:"size"`
	FileName     string        `json:"file_name"`
	TrackingData string        `json:"tracking_data,omitempty"`
}

// SendFile implements providers.Provider. Viber fetches files from a public URL (there is
// no upload), so f.URL is required. JPEG/PNG up to 1 MB go as pictures (with the caption
// under them), MP4 up to 26 MB as videos, anything else as a file; captions that do not fit
// follow as a text message.
func (p *Provider) SendFile(ctx context.Context, ch providers.Channel, to providers.Recipient, f providers.OutFile) (providers.Sent, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.Sent{}, err
	}
	receiver := to.Chat()
	if receiver == "" {
		return providers.Sent{}, providers.Permanent("the message has no recipient", nil)
	}
	if f.URL == "" {
		return providers.Sent{}, providers.Permanent("Viber fetches files by URL, and this file has no public URL", nil)
	}
	size := f.Size
	if size <= 0 {
		// Viber requires the size of files and videos; count it when the caller did not.
		if size, err = measure(f); err != nil {
			return providers.Sent{}, errorf("measure the file: %w", err)
		}
	}
	if size > MaxUploadBytes {
		return providers.Sent{}, providers.Permanent("the file is larger than Viber's 50 MB limit", nil)
	}

	from := mviber.Sender{Name: c.senderName}
	caption := strings.TrimSpace(f.Caption)
	var msg any
	switch mediaKind(f) {
	case "picture":
		pic := mviber.PictureMessage{
			TextMessage: mviber.TextMessage{Receiver: receiver, Sender: from, Type: mviber.TypePictureMessage},
			Media:       f.URL,
		}
		if size <= maxPictureBytes {
			if utf8.RuneCountInString(caption) <= maxPictureCaption {
				pic.Text, caption = caption, ""
			}
			msg = pic
			break
		}
		msg = fileMessage{Receiver: receiver, Sender: from, Type: "file", Media: f.URL, Size: size, FileName: fileName(f)}
	case "video":
		if size <= maxVideoBytes {
			msg = mviber.VideoMessage{
				TextMessage: mviber.TextMessage{Receiver: receiver, Sender: from, Type: mviber.TypeVideoMessage},
				Media:       f.URL,
				Size:        uint(size),
			}
			break
		}
		msg = fileMessage{Receiver: receiver, Sender: from, Type: "file", Media: f.URL, Size: size, FileName: fileName(f)}
	default:
		msg = fileMessage{Receiver: receiver, Sender: from, Type: "file", Media: f.URL, Size: size, FileName: fileName(f)}
	}

	token, err := p.send(ctx, c, msg)
	if err != nil {
		return providers.Sent{}, err
	}
	sent := providers.Sent{ExternalID: token, Parts: []string{token}}
	if caption == "" {
		return sent, nil
	}
	for _, part := range splitText(caption, maxTextUnits, maxTextBytes) {
		token, err := p.send(ctx, c, mviber.TextMessage{Receiver: receiver, Sender: from, Type: mviber.TypeTextMessage, Text: part})
		if err != nil {
			return sent, err
		}
		sent.Parts = append(sent.Parts, token)
		sent.ExternalID = token
	}
	return sent, nil
}

// mediaKind picks Viber's message type for a file by its MIME type (or extension).
func mediaKind(f providers.OutFile) string {
	mt := strings.ToLower(strings.TrimSpace(f.MIME))
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	if mt == "" || mt == "application/octet-stream" {
		mt = mime.TypeByExtension(strings.ToLower(path.Ext(f.Name)))
		if i := strings.IndexByte(mt, ';'); i >= 0 {
			mt = mt[:i]
		}
	}
	switch mt {
	case "image/jpeg", "image/png":
		// GIFs go as files: Viber shows only non-animated GIFs as pictures.
		return "picture"
	case "video/mp4":
		return "video"
	default:
		return "file"
	}
}

// fileName keeps the name within Viber's 256 characters, keeping the extension.
func fileName(f providers.OutFile) string {
	name := strings.TrimSpace(f.Name)
	if name == "" {
		name = "file"
	}
	if utf8.RuneCountInString(name) <= maxFileNameRunes {
		return name
	}
	ext := path.Ext(name)
	if utf8.RuneCountInString(ext) > 16 {
		ext = ""
	}
	r := []rune(strings.TrimSuffix(name, ext))
	return string(r[:maxFileNameRunes-utf8.RuneCountInString(ext)]) + ext
}

// measure counts a file's bytes.
func measure(f providers.OutFile) (int64, error) {
	if f.Open == nil {
		return 0, errorf("the file has neither a size nor content")
	}
	rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}

// tracking is what we put into tracking_data with a keyboard. Viber echoes the
// tracking_data of our last message in the visitor's next message, so a press of a reply
// button, which arrives as a plain text message with the button's text, can be told apart
// and mapped back to the button's data. The visitor sees the button's own text in the chat
// rather than an opaque "btn:…" code.
type tracking struct {
	Buttons map[string]string `json:"b,omitempty"` // reply button text → data
	URLs    []string          `json:"u,omitempty"` // open-url buttons
}

// button reports the data of the reply button whose text the visitor sent.
func (t tracking) button(text string) (string, bool) {
	data, ok := t.Buttons[strings.TrimSpace(text)]
	return data, ok
}

func (t tracking) isURL(text string) bool {
	text = strings.TrimSpace(text)
	for _, u := range t.URLs {
		if text != "" && text == u {
			return true
		}
	}
	return false
}

// decodeTracking reads tracking data we wrote; anything else gives an empty tracking.
func decodeTracking(s string) tracking {
	var t tracking
	raw, ok := strings.CutPrefix(s, trackingDataPrefix)
	if !ok {
		return t
	}
	if err := json.Unmarshal([]byte(raw), &t); err != nil {
		return tracking{}
	}
	return t
}

// keyboard turns rows of buttons into a Viber keyboard and the tracking data that maps the
// reply buttons' texts back to their data. Each row shares Viber's 6 columns; rows of more
// than 6 buttons wrap.
func keyboard(rows [][]providers.Button) (*mviber.Keyboard, string) {
	var t tracking
	kb := &mviber.Keyboard{Type: "keyboard"}
	for _, row := range rows {
		for len(row) > 0 {
			n := min(len(row), keyboardColumns)
			chunk := row[:n]
			row = row[n:]
			for i, b := range chunk {
				cols := keyboardColumns / n
				if i < keyboardColumns%n {
					cols++
				}
				vb := mviber.Button{Columns: cols, Rows: 1, Text: b.Text}
				if b.URL != "" {
					// The URL also comes back as a silent text message, which EventFilter drops.
					vb.ActionType, vb.ActionBody, vb.Silent = mviber.OpenURL, b.URL, true
					t.URLs = append(t.URLs, b.URL)
				} else {
					text := strings.TrimSpace(b.Text)
					data := b.Data
					if data == "" {
						data = text
					}
					vb.ActionType, vb.ActionBody = mviber.Reply, text
					if t.Buttons == nil {
						t.Buttons = map[string]string{}
					}
					if _, dup := t.Buttons[text]; !dup { // two buttons with one text: the first wins
						t.Buttons[text] = data
					}
				}
				kb.Buttons = append(kb.Buttons, vb)
			}
		}
	}
	if len(kb.Buttons) == 0 {
		return nil, ""
	}
	raw, err := json.Marshal(t)
	if err != nil || len(trackingDataPrefix)+len(raw) > maxTrackingData {
		// Too much button data to track: presses then arrive as ordinary text messages
		// carrying the button's text, which still reads well in the dialog.
		return kb, ""
	}
	return kb, trackingDataPrefix + string(raw)
}

// splitText cuts s into parts of at most maxUnits UTF-16 units and maxBytes bytes once JSON
// encoded (without HTML escaping). It prefers to cut after a line break, then after a
// space, in the second half of a part; otherwise it cuts between two characters.
func splitText(s string, maxUnits, maxBytes int) []string {
	var parts []string
	for s != "" {
		end, units, size := 0, 0, 0
		for end < len(s) {
			r, w := utf8.DecodeRuneInString(s[end:])
			u, b := utf16Len(r), jsonLen(r)
			if units+u > maxUnits || size+b > maxBytes {
				break
			}
			units += u
			size += b
			end += w
		}
		if end >= len(s) {
			parts = append(parts, s)
			break
		}
		if end == 0 {
			// Limits below one character: cannot happen with Viber's numbers.
			end = len(s)
		}
		cut := end
		if i := strings.LastIndexByte(s[:end], '\n'); i >= end/2 {
			cut = i + 1
		} else if i := strings.LastIndexByte(s[:end], ' '); i >= end/2 {
			cut = i + 1
		}
		parts = append(parts, s[:cut])
		s = s[cut:]
	}
	return parts
}

func utf16Len(r rune) int {
	if n := utf16.RuneLen(r); n > 0 {
		return n
	}
	return 1 // invalid rune: encoded as U+FFFD
}

// jsonLen is the length of r in a JSON string as marshal writes it.
func jsonLen(r rune) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20 || r == '\u2028' || r == '\u2029' || r == utf8.RuneError:
		return 6
	default:
		return utf8.RuneLen(r)
	}
}

// DeleteMessage implements providers.Provider: Viber bots cannot delete messages.
func (p *Provider) DeleteMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, externalID string) error {
	return errorf("delete message: %w", providers.ErrUnsupported)
}
