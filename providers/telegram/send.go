package telegram

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/omnichat/omnichat/providers"
)

// Telegram's limits, counted in UTF-16 code units like everything in the Bot API.
const (
	maxTextLen        = 4096
	maxCaptionLen     = 1024
	maxCallbackData   = 64       // bytes
	maxPhotoUpload    = 10 << 20 // sendPhoto; larger images go as documents
	deleteWindowHours = 48
)

// SendMessage implements providers.Provider. Texts longer than Telegram's 4096 characters
// are sent as several messages, in order; buttons go under the last one, a reply
// reference on the first. Text is sent as plain text (no parse_mode), so operators'
// asterisks and angle brackets arrive as typed.
//
// When a later part fails, the returned Sent lists the parts already delivered together
// with the error; Telegram has no idempotency key, so a retry of the whole message repeats
// them.
func (p *Provider) SendMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, m providers.OutMessage) (providers.Sent, error) {
	chat := to.Chat()
	if chat == "" {
		return providers.Sent{}, providers.Permanent("no Telegram chat to send to", nil)
	}
	if strings.TrimSpace(m.Text) == "" {
		return providers.Sent{}, providers.Permanent("Telegram does not send empty messages", nil)
	}
	markup, err := inlineKeyboard(m.Buttons)
	if err != nil {
		return providers.Sent{}, err
	}
	var reply *models.ReplyParameters
	if m.ReplyTo != "" {
		if _, id, err := parseMessageID(m.ReplyTo, chat); err == nil {
			reply = &models.ReplyParameters{MessageID: id, AllowSendingWithoutReply: true}
		}
	}
	c, err := p.channelClient(ch)
	if err != nil {
		return providers.Sent{}, err
	}
	ids, err := c.sendText(ctx, chat, m.Text, markup, reply)
	return sentOf(ids), err
}

// sendText sends text split into parts and returns the ids of the parts it sent, also
// when a later part fails.
func (c *client) sendText(ctx context.Context, chat, text string, markup *keyboardMarkup, reply *models.ReplyParameters) ([]string, error) {
	parts := splitText(text, maxTextLen)
	var ids []string
	for i, part := range parts {
		params := &bot.SendMessageParams{ChatID: chat, Text: part}
		if i == 0 && reply != nil {
			params.ReplyParameters = reply
		}
		if i == len(parts)-1 && markup != nil {
			params.ReplyMarkup = markup
		}
		msg, err := c.bot.SendMessage(ctx, params)
		if err != nil {
			return ids, classify("sendMessage", err)
		}
		ids = append(ids, messageID(msg.Chat.ID, int64(msg.ID)))
	}
	return ids, nil
}

// sentOf is the Sent for the platform ids of one outbound message: the last id, and all
// of them when there are several.
func sentOf(ids []string) providers.Sent {
	if len(ids) == 0 {
		return providers.Sent{}
	}
	s := providers.Sent{ExternalID: ids[len(ids)-1]}
	if len(ids) > 1 {
		s.Parts = ids
	}
	return s
}

// keyboardMarkup is reply_markup with an inline keyboard. The library's
// models.InlineKeyboardButton always serialises an empty copy_text object, which Telegram
// rejects, so the markup is our own.
type keyboardMarkup struct {
	InlineKeyboard [][]inlineButton `json:"inline_keyboard"`
}

// inlineButton has exactly one action field, as Telegram requires.
type inlineButton struct {
	Text         string `json:"text"`
	URL          string `json:"url,omitempty"`
	CallbackData string `json:"callback_data,omitempty"`
}

// inlineKeyboard encodes buttons: a URL button opens the link, any other sends Data back
// as the callback (its text when Data is empty). Empty rows are dropped.
func inlineKeyboard(rows [][]providers.Button) (*keyboardMarkup, error) {
	var kb keyboardMarkup
	for _, row := range rows {
		var out []inlineButton
		for _, b := range row {
			if strings.TrimSpace(b.Text) == "" {
				return nil, providers.Permanent("a Telegram button needs a text", nil)
			}
			if b.URL != "" {
				out = append(out, inlineButton{Text: b.Text, URL: b.URL})
				continue
			}
			data := b.Data
			if data == "" {
				data = b.Text
			}
			if len(data) > maxCallbackData {
				return nil, providers.Permanent(fmt.Sprintf("button %q: Telegram allows at most %d bytes of button data", b.Text, maxCallbackData), nil)
			}
			out = append(out, inlineButton{Text: b.Text, CallbackData: data})
		}
		if len(out) > 0 {
			kb.InlineKeyboard = append(kb.InlineKeyboard, out)
		}
	}
	if len(kb.InlineKeyboard) == 0 {
		return nil, nil
	}
	return &kb, nil
}

// utf16Len is the length Telegram counts. Ranging over a string yields U+FFFD for
// invalid bytes, which is one code unit, as Telegram counts it.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// splitText cuts s into parts of at most limit UTF-16 code units, never
// inside a character. It prefers to cut after the last line break, else after the last
// white space, when that is in the second half of the part, so words and paragraphs stay
// whole. Joining the parts gives s back, except parts made only of white space, which are
// dropped (Telegram refuses empty messages).
func splitText(s string, limit int) []string {
	var parts []string
	for s != "" {
		if utf16Len(s) <= limit {
			parts = append(parts, s)
			break
		}
		cut, lastNL, lastSpace, n := 0, 0, 0, 0
		for cut < len(s) {
			r, size := utf8.DecodeRuneInString(s[cut:])
			if n+utf16.RuneLen(r) > limit {
				break
			}
			n += utf16.RuneLen(r)
			cut += size
			if r == '\n' {
				lastNL = cut
			} else if unicode.IsSpace(r) {
				lastSpace = cut
			}
		}
		switch {
		case lastNL > cut/2:
			cut = lastNL
		case lastSpace > cut/2:
			cut = lastSpace
		case cut == 0: // a character wider than limit: send it alone rather than loop
			_, cut = utf8.DecodeRuneInString(s)
		}
		parts = append(parts, s[:cut])
		s = s[cut:]
	}
	out := parts[:0]
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

// SendFile implements providers.Provider. JPEG and PNG images up to 10 MB go as photos
// (Telegram shows them inline); everything else, and photos Telegram cannot process, as
// documents. The file is uploaded by multipart. A caption over Telegram's 1024 characters
// follows the file as a text message.
func (p *Provider) SendFile(ctx context.Context, ch providers.Channel, to providers.Recipient, f providers.OutFile) (providers.Sent, error) {
	chat := to.Chat()
	if chat == "" {
		return providers.Sent{}, providers.Permanent("no Telegram chat to send to", nil)
	}
	if f.Open == nil && f.URL == "" {
		return providers.Sent{}, providers.Permanent("the file has no content", nil)
	}
	if f.Size > maxUploadBytes {
		return providers.Sent{}, providers.Permanent("the file is larger than Telegram's 50 MB upload limit", nil)
	}
	c, err := p.channelClient(ch)
	if err != nil {
		return providers.Sent{}, err
	}
	caption, longCaption := f.Caption, ""
	if utf16Len(caption) > maxCaptionLen {
		caption, longCaption = "", f.Caption
	}

	var msg *models.Message
	if isPhoto(f) {
		msg, err = c.sendFile(ctx, "sendPhoto", chat, f, caption)
		if err != nil && photoRejected(err) {
			msg, err = c.sendFile(ctx, "sendDocument", chat, f, caption)
		}
	} else {
		msg, err = c.sendFile(ctx, "sendDocument", chat, f, caption)
	}
	if err != nil {
		return providers.Sent{}, err
	}
	ids := []string{messageID(msg.Chat.ID, int64(msg.ID))}
	if longCaption != "" {
		more, err := c.sendText(ctx, chat, longCaption, nil, nil)
		ids = append(ids, more...)
		if err != nil {
			return sentOf(ids), err
		}
	}
	return sentOf(ids), nil
}

func isPhoto(f providers.OutFile) bool {
	mime := strings.ToLower(f.MIME)
	return (mime == "image/jpeg" || mime == "image/png") && f.Size <= maxPhotoUpload
}

// photoRejected reports a sendPhoto failure that a document would not have (an image
// Telegram cannot decode or with dimensions it refuses).
func photoRejected(err error) bool {
	return apiErrorHas(err, 400, "PHOTO") || apiErrorHas(err, 400, "IMAGE")
}

// sendFile uploads f (or passes its public URL) with sendPhoto or sendDocument. Open is
// called for every attempt: the library streams the body and cannot replay it.
func (c *client) sendFile(ctx context.Context, method, chat string, f providers.OutFile, caption string) (*models.Message, error) {
	var input models.InputFile
	if f.Open != nil {
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("telegram %s: open file: %w", method, err)
		}
		defer rc.Close()
		input = &models.InputFileUpload{Filename: uploadName(f.Name), Data: &uploadReader{r: rc}}
	} else {
		input = &models.InputFileString{Data: f.URL}
	}
	var msg *models.Message
	var err error
	if method == "sendPhoto" {
		msg, err = c.bot.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: chat, Photo: input, Caption: caption})
	} else {
		msg, err = c.bot.SendDocument(ctx, &bot.SendDocumentParams{ChatID: chat, Document: input, Caption: caption})
	}
	if err != nil {
		return nil, classify(method, err)
	}
	return msg, nil
}

// uploadReader hides the file's concrete reader type from the library: it calls
// reflect.Value.IsNil on the reader, which panics (in its own goroutine, killing the
// process) for non-pointer readers such as the one io.NopCloser returns.
type uploadReader struct{ r io.Reader }

func (u *uploadReader) Read(p []byte) (int, error) { return u.r.Read(p) }

// uploadName is the file name Telegram shows; it must not be empty.
func uploadName(name string) string {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if name == "" {
		return "file"
	}
	return name
}

// DeleteMessage implements providers.Provider. Telegram lets a bot delete its messages
// for 48 hours; after that the error is Permanent with that reason. A message that is
// already gone counts as deleted, so a retried deletion succeeds.
func (p *Provider) DeleteMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, externalID string) error {
	chat, msgID, err := parseMessageID(externalID, to.Chat())
	if err != nil {
		return providers.Permanent("cannot delete the message", err)
	}
	c, err := p.channelClient(ch)
	if err != nil {
		return err
	}
	_, err = c.bot.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: chat, MessageID: msgID})
	switch {
	case err == nil:
		return nil
	case apiErrorHas(err, 400, "message to delete not found"):
		return nil
	case apiErrorHas(err, 400, "message can't be deleted"):
		return providers.Permanent("Telegram lets a bot delete its messages only within "+strconv.Itoa(deleteWindowHours)+
			" hours of sending", classify("deleteMessage", err))
	default:
		return classify("deleteMessage", err)
	}
}
