package facebook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	fb "github.com/huandu/facebook/v2"

	"github.com/omnichat/omnichat/providers"
)

// Messenger Send API limits
// (https://developers.facebook.com/docs/messenger-platform/reference/send-api).
const (
	maxTextRunes         = 2000
	maxTemplateTextRunes = 640
	maxTemplateButtons   = 3
	maxQuickReplies      = 13
	maxTitleRunes        = 20
	maxPayloadRunes      = 1000
	// MaxUploadBytes is the largest attachment the Send API accepts.
	MaxUploadBytes = 25 << 20
)

// emptyTextWithButtons stands in for the text of a message that has only buttons: the
// button template and quick replies both need a text.
const emptyTextWithButtons = "…"

// outMessage is the Send API's "message" object.
type outMessage struct {
	Text         string        `json:"text,omitempty"`
	QuickReplies []quickReply  `json:"quick_replies,omitempty"`
	Attachment   *outAttaching `json:"attachment,omitempty"`
}

type quickReply struct {
	ContentType string `json:"content_type"`
	Title       string `json:"title"`
	Payload     string `json:"payload"`
}

type outAttaching struct {
	Type    string `json:"type"` // template, image, video, audio, file
	Payload any    `json:"payload"`
}

type buttonTemplate struct {
	TemplateType string           `json:"template_type"` // "button"
	Text         string           `json:"text"`
	Buttons      []templateButton `json:"buttons"`
}

type templateButton struct {
	Type    string `json:"type"` // postback or web_url
	Title   string `json:"title"`
	Payload string `json:"payload,omitempty"`
	URL     string `json:"url,omitempty"`
}

type uploadPayload struct {
	IsReusable bool `json:"is_reusable"`
}

// SendMessage sends text with optional buttons. Texts over 2000 characters are split into
// several messages; buttons go with the last one. Up to three buttons become a button
// template (postback or web_url buttons); more become quick replies, with link buttons
// written into the text since quick replies cannot open URLs.
func (p *Provider) SendMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, m providers.OutMessage) (providers.Sent, error) {
	c, err := sendConfig(ch)
	if err != nil {
		return providers.Sent{}, err
	}
	msgs, err := buildMessages(m.Text, m.Buttons)
	if err != nil {
		return providers.Sent{}, err
	}
	return p.sendAll(ctx, c, to, msgs)
}

func (p *Provider) sendAll(ctx context.Context, c config, to providers.Recipient, msgs []outMessage) (providers.Sent, error) {
	var ids []string
	for i, msg := range msgs {
		id, err := p.send(ctx, c, to, fb.Params{"message": msg})
		if err != nil {
			if len(msgs) > 1 {
				err = fmt.Errorf("part %d of %d: %w", i+1, len(msgs), err)
			}
			return providers.Sent{}, err
		}
		ids = append(ids, id)
	}
	sent := providers.Sent{ExternalID: ids[len(ids)-1]}
	if len(ids) > 1 {
		sent.Parts = ids
	}
	return sent, nil
}

// send makes one POST /me/messages call with params (message, and filedata for uploads)
// and returns the message id.
func (p *Provider) send(ctx context.Context, c config, to providers.Recipient, params fb.Params) (string, error) {
	psid := to.Chat()
	if psid == "" {
		return "", providers.Permanent("the message has no recipient", nil)
	}
	params["recipient"] = map[string]string{"id": psid}
	if c.HumanAgent {
		// Lets operators answer up to 7 days after the visitor's last message; needs
		// the Human Agent feature approved for the app.
		params["messaging_type"] = "MESSAGE_TAG"
		params["tag"] = "HUMAN_AGENT"
	} else {
		params["messaging_type"] = "RESPONSE"
	}
	res, err := p.pageSession(ctx, c).Post("/me/messages", params)
	if err != nil {
		return "", fmt.Errorf("facebook: send: %w", classify(c, res, err))
	}
	id := resultString(res, "message_id")
	if id == "" {
		return "", errors.New("facebook: send: the answer has no message_id")
	}
	return id, nil
}

// sendConfig decodes the channel's settings for a send. Settings that Check would refuse
// cannot heal by retrying the job: that is permanent until an admin fixes the channel.
func sendConfig(ch providers.Channel) (config, error) {
	c, err := decodeConfig(ch.Settings)
	if err != nil {
		return c, providers.Permanent("the channel's Facebook settings are incomplete or wrong: "+err.Error(), err)
	}
	return c, nil
}

// SendFile uploads the file with the message (multipart "filedata"), so it works even when
// omnichat's file URLs are not reachable from Meta. Messenger has no captions: a caption
// follows as a text message.
func (p *Provider) SendFile(ctx context.Context, ch providers.Channel, to providers.Recipient, f providers.OutFile) (providers.Sent, error) {
	c, err := sendConfig(ch)
	if err != nil {
		return providers.Sent{}, err
	}
	if f.Size > MaxUploadBytes {
		return providers.Sent{}, providers.Permanent(fmt.Sprintf("the file is %d MB: Messenger accepts up to 25 MB", f.Size>>20), nil)
	}
	if f.Open == nil {
		return providers.Sent{}, providers.Permanent("the file has no content to upload", nil)
	}
	rc, err := f.Open()
	if err != nil {
		return providers.Sent{}, fmt.Errorf("facebook: opening %q: %w", f.Name, err)
	}
	defer rc.Close()

	name := f.Name
	if name == "" {
		name = "file"
	}
	mime := f.MIME
	if mime == "" {
		mime = "application/octet-stream"
	}
	id, err := p.send(ctx, c, to, fb.Params{
		"message":  outMessage{Attachment: &outAttaching{Type: attachmentType(mime), Payload: uploadPayload{}}},
		"filedata": fb.DataWithContentType(name, rc, mime),
	})
	if err != nil {
		return providers.Sent{}, err
	}
	if strings.TrimSpace(f.Caption) == "" {
		return providers.Sent{ExternalID: id}, nil
	}
	caption, err := p.sendAll(ctx, c, to, textMessages(f.Caption))
	if err != nil {
		return providers.Sent{}, fmt.Errorf("facebook: caption after file %s: %w", id, err)
	}
	parts := append([]string{id}, caption.Parts...)
	if len(caption.Parts) == 0 {
		parts = append(parts, caption.ExternalID)
	}
	return providers.Sent{ExternalID: parts[len(parts)-1], Parts: parts}, nil
}

// attachmentType picks how Messenger shows an upload. Only formats Messenger previews
// inline are sent as image/video/audio; the rest go as files.
func attachmentType(mime string) string {
	mime = strings.ToLower(strings.TrimSpace(strings.SplitN(mime, ";", 2)[0]))
	switch {
	case mime == "image/jpeg", mime == "image/png", mime == "image/gif", mime == "image/webp":
		return "image"
	case strings.HasPrefix(mime, "video/"):
		return "video"
	case strings.HasPrefix(mime, "audio/"):
		return "audio"
	default:
		return "file"
	}
}

// DeleteMessage is unsupported: the Send API cannot unsend a page's message.
func (p *Provider) DeleteMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, externalID string) error {
	return fmt.Errorf("facebook: Messenger cannot delete a page's message: %w", providers.ErrUnsupported)
}

// GetUserInfo loads the visitor's name and profile picture (GET /{psid}). The picture URL
// carries no credential but expires: download it.
func (p *Provider) GetUserInfo(ctx context.Context, ch providers.Channel, externalUserID string) (providers.UserInfo, error) {
	c, err := sendConfig(ch)
	if err != nil {
		return providers.UserInfo{}, err
	}
	if !reGraphID.MatchString(externalUserID) {
		return providers.UserInfo{}, providers.Permanent(fmt.Sprintf("%q is not a Messenger user id", externalUserID), nil)
	}
	res, err := p.pageSession(ctx, c).Get("/"+externalUserID, fb.Params{"fields": "first_name,last_name,profile_pic"})
	if err != nil {
		return providers.UserInfo{}, fmt.Errorf("facebook: user profile: %w", classify(c, res, err))
	}
	return providers.UserInfo{
		FirstName: resultString(res, "first_name"),
		LastName:  resultString(res, "last_name"),
		AvatarURL: resultString(res, "profile_pic"),
	}, nil
}

// buildMessages turns an operator's text and buttons into Send API messages.
func buildMessages(text string, rows [][]providers.Button) ([]outMessage, error) {
	var buttons []providers.Button
	for _, row := range rows {
		for _, b := range row {
			if strings.TrimSpace(b.Text) == "" && b.Data == "" && b.URL == "" {
				continue
			}
			buttons = append(buttons, b)
		}
	}
	if len(buttons) == 0 {
		if strings.TrimSpace(text) == "" {
			return nil, providers.Permanent("the message is empty", nil)
		}
		return textMessages(text), nil
	}
	if strings.TrimSpace(text) == "" {
		text = emptyTextWithButtons
	}

	if len(buttons) <= maxTemplateButtons {
		var tb []templateButton
		for _, b := range buttons {
			if b.URL != "" {
				tb = append(tb, templateButton{Type: "web_url", Title: buttonTitle(b), URL: b.URL})
				continue
			}
			payload, err := buttonPayload(b)
			if err != nil {
				return nil, err
			}
			tb = append(tb, templateButton{Type: "postback", Title: buttonTitle(b), Payload: payload})
		}
		head, tail := splitTail(text, maxTemplateTextRunes)
		var msgs []outMessage
		if head != "" {
			msgs = textMessages(head)
		}
		return append(msgs, outMessage{Attachment: &outAttaching{Type: "template",
			Payload: buttonTemplate{TemplateType: "button", Text: tail, Buttons: tb}}}), nil
	}

	var qr []quickReply
	var links []string
	for _, b := range buttons {
		if b.URL != "" {
			links = append(links, strings.TrimSpace(b.Text)+": "+b.URL)
			continue
		}
		payload, err := buttonPayload(b)
		if err != nil {
			return nil, err
		}
		qr = append(qr, quickReply{ContentType: "text", Title: buttonTitle(b), Payload: payload})
	}
	if len(qr) > maxQuickReplies {
		return nil, providers.Permanent(fmt.Sprintf("Messenger shows at most %d quick replies; this message has %d buttons", maxQuickReplies, len(qr)), nil)
	}
	if len(links) > 0 {
		text = strings.TrimRight(text, "\n") + "\n\n" + strings.Join(links, "\n")
	}
	msgs := textMessages(text)
	msgs[len(msgs)-1].QuickReplies = qr
	return msgs, nil
}

func textMessages(text string) []outMessage {
	var msgs []outMessage
	for _, part := range splitText(text, maxTextRunes) {
		msgs = append(msgs, outMessage{Text: part})
	}
	return msgs
}

// buttonTitle fits a button's text into Messenger's 20 characters.
func buttonTitle(b providers.Button) string {
	t := strings.TrimSpace(b.Text)
	if t == "" {
		t = b.Data
	}
	if utf8.RuneCountInString(t) <= maxTitleRunes {
		return t
	}
	r := []rune(t)
	return strings.TrimSpace(string(r[:maxTitleRunes-1])) + "…"
}

// buttonPayload is what comes back in the postback or quick reply: the button's data, or
// its text when it has none. A longer payload cannot be shortened without changing its
// meaning, so it fails.
func buttonPayload(b providers.Button) (string, error) {
	payload := b.Data
	if payload == "" {
		payload = strings.TrimSpace(b.Text)
	}
	if utf8.RuneCountInString(payload) > maxPayloadRunes {
		return "", providers.Permanent(fmt.Sprintf("button data is longer than Messenger's %d characters", maxPayloadRunes), nil)
	}
	return payload, nil
}

// splitText cuts s into parts of at most limit characters, preferring to break after a
// paragraph, then a line, then a sentence or a word. No part is empty; whitespace at a break
// is dropped.
func splitText(s string, limit int) []string {
	var parts []string
	r := []rune(s)
	for len(r) > limit {
		cut := breakAt(r[:limit+1])
		part := strings.TrimRightFunc(string(r[:cut]), unicode.IsSpace)
		if part != "" {
			parts = append(parts, part)
		}
		r = []rune(strings.TrimLeftFunc(string(r[cut:]), unicode.IsSpace))
	}
	if rest := string(r); strings.TrimSpace(rest) != "" || len(parts) == 0 {
		parts = append(parts, rest)
	}
	return parts
}

// breakAt returns where to cut window (limit+1 runes) so that the first part has at most
// limit runes: after the last paragraph break, line break, sentence end or space in the
// second half of the window, else at limit.
func breakAt(window []rune) int {
	limit := len(window) - 1
	half := limit / 2
	for _, isBreak := range []func(i int) bool{
		func(i int) bool { return window[i] == '\n' && i > 0 && window[i-1] == '\n' },
		func(i int) bool { return window[i] == '\n' },
		func(i int) bool {
			return unicode.IsSpace(window[i]) && i > 0 && strings.ContainsRune(".!?…", window[i-1])
		},
		func(i int) bool { return unicode.IsSpace(window[i]) },
	} {
		for i := limit; i > half; i-- {
			if isBreak(i) {
				return i
			}
		}
	}
	return limit
}

// splitTail splits s into a head and a tail of at most limit characters, breaking the same
// way as splitText. The tail is what goes into a button template; head may be empty.
func splitTail(s string, limit int) (head, tail string) {
	r := []rune(s)
	if len(r) <= limit {
		return "", s
	}
	// The cut is where the tail starts: no earlier than len-limit (minus one for the
	// whitespace the break drops), and at the earliest break in the first half of that
	// window so the tail keeps as much text as it can.
	start := len(r) - limit
	cut := start
	for _, isBreak := range []func(i int) bool{
		func(i int) bool { return r[i] == '\n' && r[i-1] == '\n' },
		func(i int) bool { return r[i] == '\n' },
		func(i int) bool { return unicode.IsSpace(r[i]) && strings.ContainsRune(".!?…", r[i-1]) },
		func(i int) bool { return unicode.IsSpace(r[i]) },
	} {
		found := false
		for i := start - 1; i < start+limit/2 && i < len(r); i++ {
			if i > 0 && isBreak(i) {
				cut, found = i, true
				break
			}
		}
		if found {
			break
		}
	}
	head = strings.TrimRightFunc(string(r[:cut]), unicode.IsSpace)
	tail = strings.TrimLeftFunc(string(r[cut:]), unicode.IsSpace)
	if utf8.RuneCountInString(tail) > limit || tail == "" {
		// Leading whitespace made it through a break that was not one: cut hard.
		head, tail = string(r[:start]), string(r[start:])
	}
	return head, tail
}
