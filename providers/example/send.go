package example

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/omnichat/omnichat/providers"
)

// MaxTextLength is the platform's limit on one message's text, in characters (runes).
// Longer texts are sent as several messages.
const MaxTextLength = 4096

// MaxButtonData is the platform's limit on a button's data, in bytes.
const MaxButtonData = 64

// IdempotencyHeader carries a key the platform uses to recognise a repeated request: a
// second POST with the same key returns the first one's message id and sends nothing.
const IdempotencyHeader = "Idempotency-Key"

// me is the answer of GET /me.
type me struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Username string `json:"username"`
}

// Check implements providers.Provider: it calls GET /me with the token and fills the
// read-only fields. The admin reads its error, so it says what to fix in plain words and
// never quotes the token.
func (p *Provider) Check(ctx context.Context, s providers.Settings) (providers.Settings, error) {
	c, err := decodeSettings(s)
	if err != nil {
		return nil, err
	}
	var bot me
	if err := p.callJSON(ctx, c, "GET /me", http.MethodGet, "/me", nil, &bot, nil); err != nil {
		if isStatus(err, http.StatusUnauthorized) {
			// A SettingsError lets the settings page highlight the field to fix.
			return nil, &providers.SettingsError{Fields: []string{SettingToken}, Msg: "Example Messenger rejected the token"}
		}
		return nil, errorf("check the bot: %w", err)
	}
	if bot.ID == 0 {
		return nil, errorf("check the bot: GET /me returned no bot id")
	}
	name := bot.Name
	if name == "" {
		name = bot.Username
	}
	out := s.Clone()
	out[SettingBotID] = strconv.FormatInt(bot.ID, 10)
	out[SettingBotName] = name
	return out, nil
}

// sendMessageRequest is the body of POST /messages.
type sendMessageRequest struct {
	ChatID  string         `json:"chat_id"`
	Text    string         `json:"text"`
	Buttons [][]wireButton `json:"buttons,omitempty"`
	ReplyTo int64          `json:"reply_to,omitempty"`
}

// wireButton is one button: Data comes back in a button update; URL opens a link instead.
type wireButton struct {
	Text string `json:"text"`
	Data string `json:"data,omitempty"`
	URL  string `json:"url,omitempty"`
}

// messageID is the answer of POST /messages and POST /files.
type messageID struct {
	ID int64 `json:"id"`
}

// SendMessage implements providers.Provider. Texts over MaxTextLength go out as several
// messages in order; the buttons go under the last one, which is also the ExternalID.
//
// Retries are safe: every part carries an idempotency key derived from m.ID, which is
// stable across retries of the same send. If part 2 fails after part 1 went out, the job
// retries the whole send and the platform answers part 1 with the id it already has
// instead of sending it twice.
func (p *Provider) SendMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, m providers.OutMessage) (providers.Sent, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.Sent{}, err
	}
	chat := to.Chat()
	if chat == "" {
		return providers.Sent{}, providers.Permanent("the message has no recipient", nil)
	}
	if strings.TrimSpace(m.Text) == "" {
		return providers.Sent{}, providers.Permanent("Example Messenger cannot send an empty message", nil)
	}
	buttons, err := encodeButtons(m.Buttons)
	if err != nil {
		return providers.Sent{}, err
	}

	parts := splitText(m.Text, MaxTextLength)
	var sent providers.Sent
	for i, part := range parts {
		req := sendMessageRequest{ChatID: chat, Text: part}
		if i == 0 {
			// A reply to a visitor's message that is not ours to validate: a non-numeric id
			// just sends the message without the quote.
			req.ReplyTo, _ = strconv.ParseInt(m.ReplyTo, 10, 64)
		}
		if i == len(parts)-1 {
			req.Buttons = buttons
		}
		var out messageID
		err := p.callJSON(ctx, c, "POST /messages", http.MethodPost, "/messages", req, &out, idempotency(m.ID, i))
		if err != nil {
			if len(parts) > 1 {
				return providers.Sent{}, fmt.Errorf("part %d of %d: %w", i+1, len(parts), err)
			}
			return providers.Sent{}, err
		}
		if out.ID <= 0 {
			return providers.Sent{}, errorf("POST /messages returned no message id")
		}
		id := strconv.FormatInt(out.ID, 10)
		sent.Parts = append(sent.Parts, id)
		sent.ExternalID = id
	}
	if len(sent.Parts) == 1 {
		sent.Parts = nil // Parts is only for texts that needed several messages
	}
	return sent, nil
}

// idempotency returns the idempotency header for part n of our message id; none when the
// caller gave no id (nothing stable to derive a key from).
func idempotency(id int64, part int) http.Header {
	if id == 0 {
		return nil
	}
	return http.Header{IdempotencyHeader: {"omnichat-" + strconv.FormatInt(id, 10) + "-" + strconv.Itoa(part)}}
}

// encodeButtons converts the normalized rows of buttons. Limits the platform enforces are
// checked here too, so the operator gets a clear Permanent reason instead of a bare 400.
func encodeButtons(rows [][]providers.Button) ([][]wireButton, error) {
	var out [][]wireButton
	for _, row := range rows {
		var r []wireButton
		for _, b := range row {
			if b.Text == "" {
				return nil, providers.Permanent("a button has no text", nil)
			}
			if len(b.Data) > MaxButtonData {
				return nil, providers.Permanent(fmt.Sprintf("button data is longer than %d bytes", MaxButtonData), nil)
			}
			r = append(r, wireButton{Text: b.Text, Data: b.Data, URL: b.URL})
		}
		if len(r) > 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

// splitText cuts text into parts of at most limit runes, preferring to cut after a newline,
// then after a space, in the last quarter of a part, so words and lines stay whole where
// possible. It never cuts inside a UTF-8 sequence.
func splitText(text string, limit int) []string {
	if utf8.RuneCountInString(text) <= limit {
		return []string{text}
	}
	var parts []string
	for utf8.RuneCountInString(text) > limit {
		// cut is the byte offset just after limit runes.
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
	if text != "" {
		parts = append(parts, text)
	}
	return parts
}

// SendFile implements providers.Provider: one multipart POST /files with the file streamed
// from f.Open (never read whole into memory: files may be up to MaxUploadBytes, and several
// sends run at once).
func (p *Provider) SendFile(ctx context.Context, ch providers.Channel, to providers.Recipient, f providers.OutFile) (providers.Sent, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.Sent{}, err
	}
	chat := to.Chat()
	if chat == "" {
		return providers.Sent{}, providers.Permanent("the file has no recipient", nil)
	}
	if f.Open == nil {
		return providers.Sent{}, providers.Permanent("the file has no content", nil)
	}
	if f.Size > MaxUploadBytes {
		return providers.Sent{}, providers.Permanent(fmt.Sprintf("the file is larger than Example Messenger's limit of %d MB", MaxUploadBytes>>20), nil)
	}
	content, err := f.Open()
	if err != nil {
		// Our own storage failed: maybe for a moment, so a plain (retried) error.
		return providers.Sent{}, errorf("open file to send: %w", err)
	}

	// The multipart body is produced by a goroutine into a pipe while the HTTP client reads
	// the other end. done makes SendFile wait for the goroutine, so it never outlives the call
	// and content is always closed.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer content.Close()
		pw.CloseWithError(writeFileForm(mw, chat, f, content))
	}()
	defer func() {
		// If the request ended early (an error answer, a timeout), unblock the writer.
		pr.CloseWithError(errors.New("request finished"))
		<-done
	}()

	req, err := newRequest(ctx, c, http.MethodPost, "/files", pr, mw.FormDataContentType())
	if err != nil {
		return providers.Sent{}, err
	}
	for k, vs := range idempotency(f.ID, 0) {
		req.Header[k] = vs
	}
	var out messageID
	if err := p.do(req, "POST /files", &out); err != nil {
		return providers.Sent{}, err
	}
	if out.ID <= 0 {
		return providers.Sent{}, errorf("POST /files returned no message id")
	}
	return providers.Sent{ExternalID: strconv.FormatInt(out.ID, 10)}, nil
}

// writeFileForm writes the multipart form of POST /files: chat_id, caption, then the file.
func writeFileForm(mw *multipart.Writer, chat string, f providers.OutFile, content io.Reader) error {
	if err := mw.WriteField("chat_id", chat); err != nil {
		return err
	}
	if f.Caption != "" {
		if err := mw.WriteField("caption", f.Caption); err != nil {
			return err
		}
	}
	mimeType := f.MIME
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="`+quoteFilename(f.Name)+`"`)
	h.Set("Content-Type", mimeType)
	part, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, content); err != nil {
		return fmt.Errorf("copy file: %w", err)
	}
	return mw.Close()
}

// quoteFilename escapes a file name for a Content-Disposition header (the visitor's
// platform shows it): quotes and backslashes are escaped, line breaks removed.
func quoteFilename(name string) string {
	if name == "" {
		name = "file"
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "").Replace(name)
}

// DeleteMessage implements providers.Provider. The platform deletes only our own messages
// younger than 24 hours; older ones are a Permanent error with a reason the operator
// understands.
func (p *Provider) DeleteMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, externalID string) error {
	c, err := channelConfig(ch)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(externalID, 10, 64)
	if err != nil || id <= 0 {
		return providers.Permanent("not an Example Messenger message id", nil)
	}
	path := "/messages/" + strconv.FormatInt(id, 10)
	err = p.callJSON(ctx, c, "DELETE /messages/{id}", http.MethodDelete, path, nil, nil, nil)
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.Code == "message_too_old" || apiErr.Status == http.StatusNotFound) {
		return providers.Permanent("Example Messenger deletes only messages younger than 24 hours", err)
	}
	return err
}

// profile is the answer of GET /users/{id}.
type profile struct {
	ID        string `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Username  string `json:"username"`
	Language  string `json:"language"`
	AvatarURL string `json:"avatar_url"`
}

// GetUserInfo implements providers.Provider. The core calls it from a job after the first
// message (and again later when names were missing), never from the webhook itself.
func (p *Provider) GetUserInfo(ctx context.Context, ch providers.Channel, externalUserID string) (providers.UserInfo, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.UserInfo{}, err
	}
	if externalUserID == "" {
		return providers.UserInfo{}, providers.Permanent("no user id to look up", nil)
	}
	var u profile
	path := "/users/" + url.PathEscape(externalUserID)
	if err := p.callJSON(ctx, c, "GET /users/{id}", http.MethodGet, path, nil, &u, nil); err != nil {
		return providers.UserInfo{}, err
	}
	// Avatar URLs on this platform are public and carry no credential, so no AvatarHeader.
	// (Telegram's carry the bot token: see the contract's note on UserInfo.AvatarURL.)
	return providers.UserInfo{
		FirstName: u.FirstName, LastName: u.LastName, Username: u.Username,
		Language: u.Language, AvatarURL: u.AvatarURL,
	}, nil
}
