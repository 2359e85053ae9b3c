package chatapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/omnichat/omnichat/providers"
)

// MaxTextLength is where long texts are split, in characters. WhatsApp itself takes far
// longer texts (about 65,000 characters), but ChatAPI documents no limit of its own, and a
// few readable bubbles beat one that a phone truncates behind "Read more".
const MaxTextLength = 4096

// statusAnswer is the answer of GET status.
type statusAnswer struct {
	AccountStatus string      `json:"accountStatus"`
	QRCode        string      `json:"qrCode"` // data:image/png;base64,… while not authenticated
	StatusData    *statusData `json:"statusData"`
}

type statusData struct {
	Substatus string `json:"substatus"`
	Title     string `json:"title"`
	Msg       string `json:"msg"`
	Submsg    string `json:"submsg"`
}

// status calls GET status.
func (p *Provider) status(ctx context.Context, c config) (statusAnswer, error) {
	var st statusAnswer
	if err := p.callJSON(ctx, c, http.MethodGet, "status", nil, nil, &st); err != nil {
		return statusAnswer{}, err
	}
	if st.AccountStatus == "" {
		return statusAnswer{}, errorf("status: the answer has no accountStatus")
	}
	return st, nil
}

// Check implements providers.Provider: GET status with the token, and the account status
// into account_status. An instance waiting for its QR code passes: the admin saves the
// channel and then scans the code with the QR authorization action.
func (p *Provider) Check(ctx context.Context, s providers.Settings) (providers.Settings, error) {
	c, err := decodeSettings(s)
	if err != nil {
		return nil, err
	}
	st, err := p.status(ctx, c)
	if err != nil {
		switch {
		case isStatus(err, http.StatusUnauthorized) || isStatus(err, http.StatusForbidden):
			return nil, &providers.SettingsError{Fields: []string{SettingToken}, Msg: "ChatAPI rejected the token"}
		case isStatus(err, http.StatusNotFound):
			return nil, &providers.SettingsError{Fields: []string{SettingAPIURL, SettingChannelID}, Msg: "ChatAPI does not know this instance"}
		}
		return nil, errorf("check the instance: %w", err)
	}
	out := s.Clone()
	out[SettingAccountStatus] = st.AccountStatus
	return out, nil
}

// sendMessageRequest is the body of POST sendMessage. Exactly one of ChatID and Phone.
type sendMessageRequest struct {
	ChatID      string `json:"chatId,omitempty"`
	Phone       string `json:"phone,omitempty"`
	Body        string `json:"body"`
	QuotedMsgID string `json:"quotedMsgId,omitempty"`
}

// sendFileRequest is the body of POST sendFile.
type sendFileRequest struct {
	ChatID      string `json:"chatId,omitempty"`
	Phone       string `json:"phone,omitempty"`
	Body        string `json:"body"` // a URL or a data URI
	Filename    string `json:"filename"`
	Caption     string `json:"caption,omitempty"`
	QuotedMsgID string `json:"quotedMsgId,omitempty"`
}

// sendAnswer is the answer of both sends. sent=true means queued on the phone, not
// delivered: delivery comes later as an ack.
type sendAnswer struct {
	Sent        bool    `json:"sent"`
	Message     string  `json:"message"`
	ID          string  `json:"id"`
	QueueNumber FlexInt `json:"queueNumber"`
}

// address returns the chatId or phone to send to: omnichat stores chat ids
// ("79161234567@c.us"), but a bare number works too.
func address(to providers.Recipient) (chatID, phone string, err error) {
	chat := strings.TrimSpace(to.Chat())
	switch {
	case chat == "":
		return "", "", providers.Permanent("the message has no recipient", nil)
	case strings.Contains(chat, "@"):
		return chat, "", nil
	case digits(strings.TrimPrefix(chat, "+")) != "":
		return "", digits(chat), nil
	default:
		return "", "", providers.Permanent("not a WhatsApp chat id or phone number", nil)
	}
}

// SendMessage implements providers.Provider. Buttons become a numbered list under the text
// (WhatsApp has no bot buttons); texts over MaxTextLength go out as several messages.
//
// ChatAPI takes no idempotency key: if a later part fails and the job retries, the parts
// that went out are sent again. That is the lesser evil next to losing the rest of a text.
func (p *Provider) SendMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, m providers.OutMessage) (providers.Sent, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.Sent{}, err
	}
	chatID, phone, err := address(to)
	if err != nil {
		return providers.Sent{}, err
	}
	menu, err := renderButtons(m.Buttons)
	if err != nil {
		return providers.Sent{}, err
	}
	text := m.Text
	if menu != "" {
		if strings.TrimSpace(text) != "" {
			text += "\n\n"
		}
		text += menu
	}
	if strings.TrimSpace(text) == "" {
		return providers.Sent{}, providers.Permanent("WhatsApp cannot send an empty message", nil)
	}

	parts := splitText(text, MaxTextLength)
	var sent providers.Sent
	for i, part := range parts {
		req := sendMessageRequest{ChatID: chatID, Phone: phone, Body: part}
		if i == 0 {
			req.QuotedMsgID = m.ReplyTo
		}
		id, err := p.send(ctx, c, "sendMessage", req)
		if err != nil {
			if len(parts) > 1 {
				return providers.Sent{}, fmt.Errorf("part %d of %d: %w", i+1, len(parts), err)
			}
			return providers.Sent{}, err
		}
		sent.Parts = append(sent.Parts, id)
		sent.ExternalID = id
	}
	if len(sent.Parts) == 1 {
		sent.Parts = nil
	}
	return sent, nil
}

// send posts one sendMessage/sendFile and returns the message id.
func (p *Provider) send(ctx context.Context, c config, method string, req any) (string, error) {
	var ans sendAnswer
	if err := p.callJSON(ctx, c, http.MethodPost, method, nil, req, &ans); err != nil {
		return "", err
	}
	if !ans.Sent {
		return "", classify(&APIError{Method: method, Status: http.StatusOK, NotSent: true, Message: scrub(truncate(ans.Message, 300), c.token)})
	}
	if ans.ID == "" {
		return "", errorf("%s: the answer has no message id", method)
	}
	return ans.ID, nil
}

// renderButtons writes rows of buttons as a numbered list, one line per button. The visitor
// answers with the number or the text, which arrives as an ordinary message: there is no
// button event on WhatsApp, and EventFilter keeps no state to map "2" back to a button.
func renderButtons(rows [][]providers.Button) (string, error) {
	var b strings.Builder
	n := 0
	for _, row := range rows {
		for _, btn := range row {
			text := strings.TrimSpace(btn.Text)
			if text == "" {
				return "", providers.Permanent("a button has no text", nil)
			}
			n++
			if n > 1 {
				b.WriteByte('\n')
			}
			fmt.Fprintf(&b, "%d. %s", n, text)
			if btn.URL != "" {
				b.WriteString(": " + btn.URL)
			}
		}
	}
	return b.String(), nil
}

// splitText cuts text into parts of at most limit runes, preferring to cut after a newline,
// then after a space, in the last quarter of a part. It never cuts inside a UTF-8 sequence.
func splitText(text string, limit int) []string {
	var parts []string
	for utf8.RuneCountInString(text) > limit {
		cut, n := 0, 0
		for i := range text {
			if n == limit {
				cut = i
				break
			}
			n++
		}
		window := text[:cut]
		floor := len(window) * 3 / 4
		if i := strings.LastIndexByte(window, '\n'); i >= floor {
			cut = i + 1
		} else if i := strings.LastIndexByte(window, ' '); i >= floor {
			cut = i + 1
		}
		parts = append(parts, text[:cut])
		text = text[cut:]
	}
	if text != "" || len(parts) == 0 {
		parts = append(parts, text)
	}
	return parts
}

// SendFile implements providers.Provider. The file goes inside the JSON body as a data URI:
// ChatAPI queues messages while the phone is offline, and a URL to omnichat could expire or
// be unreachable by then. Only without content (Open nil) is f.URL sent for ChatAPI to fetch.
func (p *Provider) SendFile(ctx context.Context, ch providers.Channel, to providers.Recipient, f providers.OutFile) (providers.Sent, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.Sent{}, err
	}
	chatID, phone, err := address(to)
	if err != nil {
		return providers.Sent{}, err
	}
	if f.Size > MaxUploadBytes {
		return providers.Sent{}, providers.Permanent(fmt.Sprintf("the file is larger than WhatsApp's limit of %d MB", MaxUploadBytes>>20), nil)
	}
	var body string
	switch {
	case f.Open != nil:
		body, err = dataURI(f)
		if err != nil {
			return providers.Sent{}, err
		}
	case f.URL != "":
		body = f.URL
	default:
		return providers.Sent{}, providers.Permanent("the file has no content", nil)
	}
	name := strings.NewReplacer("\r", "", "\n", "", "/", "_", `\`, "_").Replace(strings.TrimSpace(f.Name))
	if name == "" {
		name = "file"
	}
	req := sendFileRequest{ChatID: chatID, Phone: phone, Body: body, Filename: name, Caption: f.Caption}
	id, err := p.send(ctx, c, "sendFile", req)
	if err != nil {
		return providers.Sent{}, err
	}
	return providers.Sent{ExternalID: id}, nil
}

// dataURI reads the file (at most MaxUploadBytes) into "data:<mime>;base64,<content>".
func dataURI(f providers.OutFile) (string, error) {
	rc, err := f.Open()
	if err != nil {
		// Our own storage failed, maybe for a moment: a plain (retried) error.
		return "", errorf("open file to send: %w", err)
	}
	defer rc.Close()
	content, err := io.ReadAll(io.LimitReader(rc, MaxUploadBytes+1))
	if err != nil {
		return "", errorf("read file to send: %w", err)
	}
	if len(content) > MaxUploadBytes {
		return "", providers.Permanent(fmt.Sprintf("the file is larger than WhatsApp's limit of %d MB", MaxUploadBytes>>20), nil)
	}
	// Parameters (";charset=…") and odd characters would break the data URI's own syntax.
	mimeType, _, _ := strings.Cut(f.MIME, ";")
	mimeType = strings.TrimSpace(mimeType)
	if mimeType == "" || strings.ContainsAny(mimeType, ", \t\r\n") {
		mimeType = "application/octet-stream"
	}
	return "data:" + mimeType + ";base64," + base64.StdEncoding.EncodeToString(content), nil
}

// DeleteMessage implements providers.Provider. ChatAPI has a deleteMessage method, but
// nothing says it deletes the message on the visitor's phone rather than only on ours;
// telling an operator a message is gone when the visitor still sees it is worse than
// saying it cannot be deleted.
func (p *Provider) DeleteMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, externalID string) error {
	return fmt.Errorf("chatapi: delete message: %w", providers.ErrUnsupported)
}

// dialogAnswer is the answer of GET dialog.
type dialogAnswer struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Image string `json:"image"` // an avatar link; not used (SPEC: no avatars for this channel)
}

// GetUserInfo implements providers.Provider. The phone comes from the chat id itself; the
// name from GET dialog. A chat ChatAPI does not know still gives the phone.
func (p *Provider) GetUserInfo(ctx context.Context, ch providers.Channel, externalUserID string) (providers.UserInfo, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.UserInfo{}, err
	}
	chatID := strings.TrimSpace(externalUserID)
	if chatID == "" {
		return providers.UserInfo{}, providers.Permanent("no user id to look up", nil)
	}
	if !strings.Contains(chatID, "@") {
		if digits(chatID) == "" {
			return providers.UserInfo{}, providers.Permanent("not a WhatsApp chat id or phone number", nil)
		}
		chatID = ChatIDForPhone(chatID)
	}
	var u providers.UserInfo
	if phone, ok := strings.CutSuffix(chatID, "@c.us"); ok && phone != "" && digits(phone) == phone {
		u.Phone = "+" + phone
	}
	var d dialogAnswer
	err = p.callJSON(ctx, c, http.MethodGet, "dialog", url.Values{"chatId": {chatID}}, nil, &d)
	switch {
	case isStatus(err, http.StatusNotFound) && u.Phone != "":
		return u, nil
	case err != nil:
		return providers.UserInfo{}, err
	}
	if name := strings.TrimSpace(d.Name); name != "" && !strings.Contains(name, "@") && !phoneLike(name) {
		u.FirstName = name
	}
	return u, nil
}
