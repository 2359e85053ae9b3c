// Package chatapitest is a fake ChatAPI instance (the WhatsApp gateway of chat-api.com): an
// httptest server that speaks ChatAPI's wire format (the instance path /instance<N>/, the
// token in the query string, the same JSON shapes and error answers), records every call
// and can be told to fail. The conformance suite, the provider's tests and the core's
// end-to-end tests run against it.
//
// It keeps its own copy of the request shapes and rejects unknown JSON fields, so a
// provider that sends a misspelt field fails here as it would fail for real.
//
//	fake := chatapitest.NewServer()
//	defer fake.Close()
//	settings := fake.Settings() // api_url, token, channel_id
//	fake.FailNext(providertest.FailBlocked) // the next send answers {"sent": false, …}
//	fake.Sent()                              // what the provider sent
//	fake.DeliverText(ctx, chatapitest.UserPhone, "Ivan", "Hello") // a visitor writes
//	fake.DeliverAck(ctx, id, chatapi.AckViewed)                    // the visitor read our message
package chatapitest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/chatapi"
	"github.com/omnichat/omnichat/providers/providertest"
)

// Values the fake starts with.
const (
	// DefaultToken is the token a new Server accepts (Server.Token).
	DefaultToken = "chatapi-test-token-0123456789abcdef"
	// InstanceID is the fake's instance number: the channel_id setting, and the path
	// /instance777001/ of every call.
	InstanceID = "777001"
	// UserPhone, UserChatID and UserName are a visitor the fake knows (GET dialog).
	UserPhone  = "+79161234567"
	UserChatID = "79161234567@c.us"
	UserName   = "Ivan Petrov"
)

// Answers ChatAPI gives, word for word where known.
const (
	wrongToken     = "Wrong token. Please provide token as a GET parameter."
	wrongChatID    = "Wrong chatId format. Please use phone parameter or chatId from message history. chatId has format 5511990283745@c.us or 5511990283745-5511990283745@g.us"
	notOnWhatsApp  = "The recipient cannot be reached: the number is not on WhatsApp or has blocked this account"
	notPaid        = "Instance is not paid. Please pay your subscription to continue."
	maxBody        = 32 << 20
	maxFileInCache = 32 << 20
)

var (
	privateChat = regexp.MustCompile(`^\d{5,15}@c\.us$`)
	groupChat   = regexp.MustCompile(`^\d{5,15}-\d{5,12}@g\.us$`)
	phoneNumber = regexp.MustCompile(`^\d{5,15}$`)
)

// SentMessage is one message ChatAPI accepted: a text (Text) or a file (FileName, File or
// FileURL, Caption).
type SentMessage struct {
	ID          string // the id returned to the provider, "true_<chatId>_<hex>"
	ChatID      string // always set: derived from Phone when the provider sent a phone
	Phone       string // set when the provider addressed by phone
	Text        string
	QuotedMsgID string
	FileName    string
	FileMIME    string // from a data URI
	File        []byte // from a data URI
	FileURL     string // when the provider sent a URL for ChatAPI to fetch
	Caption     string
	Queued      bool // accepted while the account was not authenticated
}

// Settings are the instance settings the provider can change with POST settings.
type Settings struct {
	WebhookURL            string `json:"webhookUrl"`
	AckNotificationsOn    bool   `json:"ackNotificationsOn"`
	ChatUpdateOn          bool   `json:"chatUpdateOn"`
	VideoUploadOn         bool   `json:"videoUploadOn"`
	StatusNotificationsOn bool   `json:"statusNotificationsOn"`
	IgnoreOldMessages     bool   `json:"ignoreOldMessages"`
	SendDelay             int    `json:"sendDelay"`
}

// Server is the fake instance. Exported fields may be changed before the first request.
type Server struct {
	providertest.Recorder

	// Token is the only token the API accepts.
	Token string

	srv    *httptest.Server
	client *http.Client

	mu        sync.Mutex
	status    string
	settings  Settings
	dialogs   map[string]string // chat id → name
	blocked   map[string]bool
	sent      []SentMessage
	nextID    int
	queue     int
	failures  []int // HTTP statuses for the next send calls
	qrVersion int
}

// NewServer starts a fake instance that accepts DefaultToken, is authenticated, and knows
// the visitor UserChatID. Close it when done.
func NewServer() *Server {
	s := &Server{
		Token:   DefaultToken,
		client:  &http.Client{Timeout: 10 * time.Second},
		status:  chatapi.StatusAuthenticated,
		dialogs: map[string]string{UserChatID: UserName},
		blocked: map[string]bool{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// URL is the instance URL for the api_url setting: <server>/instance777001/.
func (s *Server) URL() string { return s.srv.URL + "/instance" + InstanceID + "/" }

// Settings returns channel settings the fake accepts.
func (s *Server) Settings() providers.Settings {
	return providers.Settings{chatapi.SettingAPIURL: s.URL(), chatapi.SettingToken: s.Token, chatapi.SettingChannelID: InstanceID}
}

// SetAccountStatus sets what GET status answers ("authenticated", "got qr code", "loading",
// "not_paid"…). While not authenticated, sends are queued (sent:true with a warning) as
// ChatAPI does; while "not_paid" they fail.
func (s *Server) SetAccountStatus(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// AccountStatus returns the current account status.
func (s *Server) AccountStatus() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// AddDialog makes a chat known to GET dialog.
func (s *Server) AddDialog(chatID, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dialogs[chatID] = name
}

// Block makes every send to chatID fail with {"sent": false}; Unblock undoes it.
func (s *Server) Block(chatID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[chatID] = true
}

// Unblock undoes Block.
func (s *Server) Unblock(chatID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blocked, chatID)
}

// FailSends makes the next n send calls fail with HTTP status (5xx: a gateway error page;
// 429: rate limited with Retry-After: 1). It adds to failures queued before.
func (s *Server) FailSends(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, status)
	}
}

// Reset forgets recorded calls, sent messages and pending failures. Instance state stays
// (status, settings, dialogs), as on the real platform.
func (s *Server) Reset() {
	s.Recorder.Reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent, s.failures = nil, nil
}

// Sent returns the messages accepted since the last Reset, in order.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage(nil), s.sent...)
}

// InstanceSettings returns the instance's settings (webhookUrl, ackNotificationsOn…).
func (s *Server) InstanceSettings() Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settings
}

// WebhookURL returns the registered webhook URL ("" when none).
func (s *Server) WebhookURL() string { return s.InstanceSettings().WebhookURL }

// Deliver POSTs body to the registered webhook as ChatAPI does and returns the answer's
// status and body.
func (s *Server) Deliver(ctx context.Context, body []byte) (int, []byte, error) {
	hook := s.WebhookURL()
	if hook == "" {
		return 0, nil, errors.New("chatapitest: no webhook registered")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("chatapitest: webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("chatapitest: deliver: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("chatapitest: read webhook answer: %w", err)
	}
	return resp.StatusCode, answer, nil
}

// DeliverText posts a "messages" webhook: the visitor with this phone (and WhatsApp
// profile name) writes text. It returns the message id, which a repeated delivery of the
// same message must keep (use Deliver with the same body for that).
func (s *Server) DeliverText(ctx context.Context, phone, senderName, text string) (string, int, error) {
	s.mu.Lock()
	s.nextID++
	hexID := fmt.Sprintf("3EB0%016X", 0xA000000+s.nextID)
	s.mu.Unlock()
	m := chatapi.NewTextMessage(hexID, phone, senderName, text, time.Now())
	status, _, err := s.Deliver(ctx, chatapi.NewMessagesWebhook(InstanceID, m))
	return m.ID, status, err
}

// DeliverAck posts an "ack" webhook about one of our messages (status "delivered",
// "viewed"…), as ChatAPI does when acks are on (POST settings ackNotificationsOn).
func (s *Server) DeliverAck(ctx context.Context, messageID, status string) (int, error) {
	if !s.InstanceSettings().AckNotificationsOn {
		return 0, errors.New("chatapitest: ack notifications are off (ackNotificationsOn)")
	}
	chatID := ""
	if rest, ok := strings.CutPrefix(messageID, "true_"); ok {
		chatID, _, _ = strings.Cut(rest, "_")
	}
	code, _, err := s.Deliver(ctx, chatapi.NewAckWebhook(InstanceID, chatapi.Ack{ID: messageID, ChatID: chatID, Status: status, QueueNumber: 1}))
	return code, err
}

// serve routes /instance<N>/<method>?token=… like ChatAPI.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	method, ok := strings.CutPrefix(r.URL.Path, "/instance"+InstanceID+"/")
	if !ok {
		s.Record(r.URL.Path, body)
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Instance not found"})
		return
	}
	// The call is recorded without its query: the token is not the test's business.
	s.Record(method, body)
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "Request body is too large"})
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("token")), []byte(s.Token)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": wrongToken})
		return
	}
	switch r.Method + " " + method {
	case "GET status":
		s.handleStatus(w)
	case "GET qr_code":
		s.handleQR(w)
	case "POST webhook":
		s.handleSetWebhook(w, body)
	case "GET webhook":
		writeJSON(w, http.StatusOK, map[string]any{"webhookUrl": s.WebhookURL()})
	case "POST settings":
		s.handleSetSettings(w, body)
	case "GET settings":
		writeJSON(w, http.StatusOK, s.InstanceSettings())
	case "POST sendMessage":
		s.handleSendMessage(w, body)
	case "POST sendFile":
		s.handleSendFile(w, body)
	case "GET dialog":
		s.handleDialog(w, r.URL.Query().Get("chatId"))
	case "POST logout":
		s.SetAccountStatus(chatapi.StatusGotQRCode)
		writeJSON(w, http.StatusOK, map[string]any{"result": "Logout request sent to WhatsApp"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Unknown method " + method})
	}
}

func (s *Server) handleStatus(w http.ResponseWriter) {
	status := s.AccountStatus()
	answer := map[string]any{"accountStatus": status}
	switch status {
	case chatapi.StatusGotQRCode:
		answer["qrCode"] = "data:image/png;base64," + base64.StdEncoding.EncodeToString(s.qrPNG())
		answer["statusData"] = map[string]any{
			"substatus": "normal", "title": "Please scan the QR code",
			"msg": "Open WhatsApp on your phone and scan the code", "submsg": "",
		}
	case chatapi.StatusLoading:
		answer["statusData"] = map[string]any{"substatus": "connecting", "title": "Connecting", "msg": "Make sure the phone is online"}
	case chatapi.StatusNotPaid:
		answer["statusData"] = map[string]any{"substatus": "not_paid", "title": "Instance is not paid", "msg": notPaid}
	default:
		answer["statusData"] = map[string]any{"substatus": "normal"}
	}
	writeJSON(w, http.StatusOK, answer)
}

func (s *Server) handleQR(w http.ResponseWriter) {
	if s.AccountStatus() != chatapi.StatusGotQRCode {
		writeJSON(w, http.StatusOK, map[string]any{"error": "QR code is not available in status " + s.AccountStatus()})
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(s.qrPNG())
}

func (s *Server) handleSetWebhook(w http.ResponseWriter, body []byte) {
	var req struct {
		WebhookURL *string `json:"webhookUrl"`
	}
	if err := decodeStrict(body, &req); err != nil || req.WebhookURL == nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "webhookUrl is required"})
		return
	}
	if *req.WebhookURL != "" && !absoluteHTTP(*req.WebhookURL) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "webhookUrl must be an http or https URL"})
		return
	}
	s.mu.Lock()
	s.settings.WebhookURL = *req.WebhookURL
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"set": true, "webhookUrl": *req.WebhookURL})
}

func (s *Server) handleSetSettings(w http.ResponseWriter, body []byte) {
	// Pointers tell "false" from "not given": only given settings change.
	var req struct {
		WebhookURL            *string `json:"webhookUrl"`
		AckNotificationsOn    *bool   `json:"ackNotificationsOn"`
		ChatUpdateOn          *bool   `json:"chatUpdateOn"`
		VideoUploadOn         *bool   `json:"videoUploadOn"`
		StatusNotificationsOn *bool   `json:"statusNotificationsOn"`
		IgnoreOldMessages     *bool   `json:"ignoreOldMessages"`
		SendDelay             *int    `json:"sendDelay"`
	}
	if err := decodeStrict(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	if req.WebhookURL != nil && *req.WebhookURL != "" && !absoluteHTTP(*req.WebhookURL) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "webhookUrl must be an http or https URL"})
		return
	}
	s.mu.Lock()
	update := map[string]any{}
	set := func(name string, dst *bool, v *bool) {
		if v != nil {
			*dst = *v
			update[name] = *v
		}
	}
	if req.WebhookURL != nil {
		s.settings.WebhookURL = *req.WebhookURL
		update["webhookUrl"] = *req.WebhookURL
	}
	set("ackNotificationsOn", &s.settings.AckNotificationsOn, req.AckNotificationsOn)
	set("chatUpdateOn", &s.settings.ChatUpdateOn, req.ChatUpdateOn)
	set("videoUploadOn", &s.settings.VideoUploadOn, req.VideoUploadOn)
	set("statusNotificationsOn", &s.settings.StatusNotificationsOn, req.StatusNotificationsOn)
	set("ignoreOldMessages", &s.settings.IgnoreOldMessages, req.IgnoreOldMessages)
	if req.SendDelay != nil {
		s.settings.SendDelay = *req.SendDelay
		update["sendDelay"] = *req.SendDelay
	}
	st := s.settings
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"webhookUrl": st.WebhookURL, "ackNotificationsOn": st.AckNotificationsOn, "chatUpdateOn": st.ChatUpdateOn,
		"videoUploadOn": st.VideoUploadOn, "statusNotificationsOn": st.StatusNotificationsOn,
		"ignoreOldMessages": st.IgnoreOldMessages, "sendDelay": st.SendDelay, "update": update,
	})
}

// recipient validates chatId/phone as ChatAPI does and returns the chat id.
func recipient(chatID, phone string) (string, string) {
	switch {
	case chatID != "" && phone != "":
		return "", "Use either chatId or phone, not both"
	case phone != "":
		if !phoneNumber.MatchString(phone) {
			return "", "Wrong phone format. Use the international format without + and spaces, like 17472822486"
		}
		return phone + "@c.us", ""
	case privateChat.MatchString(chatID) || groupChat.MatchString(chatID):
		return chatID, ""
	default:
		return "", wrongChatID
	}
}

// sendFailure answers an armed failure, if any, and reports whether it did.
func (s *Server) sendFailure(w http.ResponseWriter, chatID string) bool {
	status := 0
	switch s.TakeFailure() {
	case providertest.FailTransient:
		status = http.StatusBadGateway
	case providertest.FailRateLimited:
		status = http.StatusTooManyRequests
	case providertest.FailBlocked:
		writeJSON(w, http.StatusOK, map[string]any{"sent": false, "message": notOnWhatsApp})
		return true
	}
	s.mu.Lock()
	if status == 0 && len(s.failures) > 0 {
		status, s.failures = s.failures[0], s.failures[1:]
	}
	blocked := s.blocked[chatID]
	accountStatus := s.status
	s.mu.Unlock()
	switch {
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, status, map[string]any{"error": "Too many requests, slow down"})
	case status >= 500:
		// What a gateway in front of ChatAPI answers: HTML, not JSON.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>", status, http.StatusText(status))
	case status != 0:
		writeJSON(w, status, map[string]any{"error": http.StatusText(status)})
	case accountStatus == chatapi.StatusNotPaid:
		writeJSON(w, http.StatusOK, map[string]any{"error": notPaid})
	case blocked:
		writeJSON(w, http.StatusOK, map[string]any{"sent": false, "message": notOnWhatsApp})
	default:
		return false
	}
	return true
}

// accept stores a message and answers as ChatAPI does.
func (s *Server) accept(w http.ResponseWriter, m SentMessage) {
	s.mu.Lock()
	s.nextID++
	s.queue++
	m.ID = fmt.Sprintf("true_%s_3EB0%016X", m.ChatID, s.nextID)
	m.Queued = s.status != chatapi.StatusAuthenticated
	s.sent = append(s.sent, m)
	queue := s.queue
	s.mu.Unlock()
	message := "Sent to " + m.ChatID
	if m.Queued {
		message = "Status of the account not equals authenticated. Message to " + m.ChatID + " will be sent after successful auth."
	}
	writeJSON(w, http.StatusOK, map[string]any{"sent": true, "message": message, "id": m.ID, "queueNumber": queue})
}

func (s *Server) handleSendMessage(w http.ResponseWriter, body []byte) {
	var req struct {
		ChatID          string   `json:"chatId"`
		Phone           string   `json:"phone"`
		Body            string   `json:"body"`
		QuotedMsgID     string   `json:"quotedMsgId"`
		MentionedPhones []string `json:"mentionedPhones"`
	}
	if err := decodeStrict(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	chatID, problem := recipient(req.ChatID, req.Phone)
	if problem == "" && strings.TrimSpace(req.Body) == "" {
		problem = "Message body is empty"
	}
	if problem != "" {
		writeJSON(w, http.StatusOK, map[string]any{"sent": false, "message": problem})
		return
	}
	if s.sendFailure(w, chatID) {
		return
	}
	s.accept(w, SentMessage{ChatID: chatID, Phone: req.Phone, Text: req.Body, QuotedMsgID: req.QuotedMsgID})
}

func (s *Server) handleSendFile(w http.ResponseWriter, body []byte) {
	var req struct {
		ChatID          string   `json:"chatId"`
		Phone           string   `json:"phone"`
		Body            string   `json:"body"`
		Filename        string   `json:"filename"`
		Caption         string   `json:"caption"`
		QuotedMsgID     string   `json:"quotedMsgId"`
		MentionedPhones []string `json:"mentionedPhones"`
		Cached          bool     `json:"cached"`
	}
	if err := decodeStrict(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	chatID, problem := recipient(req.ChatID, req.Phone)
	m := SentMessage{ChatID: chatID, Phone: req.Phone, FileName: req.Filename, Caption: req.Caption, QuotedMsgID: req.QuotedMsgID}
	switch {
	case problem != "":
	case req.Filename == "":
		problem = "filename is required"
	case strings.HasPrefix(req.Body, "data:"):
		mimeType, content, ok := parseDataURI(req.Body)
		if !ok {
			problem = "body is not a valid base64 data URI"
		} else if len(content) > maxFileInCache {
			problem = "File is too large"
		}
		m.FileMIME, m.File = mimeType, content
	case absoluteHTTP(req.Body):
		m.FileURL = req.Body
	default:
		problem = "body must be a file URL or a base64 data URI"
	}
	if problem != "" {
		writeJSON(w, http.StatusOK, map[string]any{"sent": false, "message": problem})
		return
	}
	if s.sendFailure(w, chatID) {
		return
	}
	s.accept(w, m)
}

func (s *Server) handleDialog(w http.ResponseWriter, chatID string) {
	s.mu.Lock()
	name, ok := s.dialogs[chatID]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Chat not found"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": chatID, "name": name, "image": "https://pps.whatsapp.net/v/t61/avatar.jpg?oh=expiring",
		"last_time": time.Now().Unix(),
		"metadata":  map[string]any{"isGroup": groupChat.MatchString(chatID), "participants": []string{}, "groupInviteLink": nil},
	})
}

// parseDataURI decodes "data:<mime>;base64,<content>".
func parseDataURI(s string) (string, []byte, bool) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return "", nil, false
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return "", nil, false
	}
	mimeType, ok := strings.CutSuffix(meta, ";base64")
	if !ok || mimeType == "" || !strings.Contains(mimeType, "/") {
		return "", nil, false
	}
	content, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return "", nil, false
	}
	return mimeType, content, true
}

func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// decodeStrict decodes one JSON object and rejects unknown fields.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON body: %w", err)
	}
	if dec.More() {
		return errors.New("bad JSON body: trailing data")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// qrPNG draws a QR-like picture (finder squares and pseudo-random modules): a real PNG, so
// the settings page can show it and tests can decode it, but it encodes nothing. A new one
// every call, as ChatAPI's code changes every few seconds.
func (s *Server) qrPNG() []byte {
	s.mu.Lock()
	s.qrVersion++
	seed := sha256.Sum256(fmt.Appendf(nil, "qr-%d", s.qrVersion))
	s.mu.Unlock()

	const modules, scale, quiet = 29, 6, 4
	size := (modules + 2*quiet) * scale
	img := image.NewGray(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	dark := func(x, y int) bool {
		for _, f := range [][2]int{{0, 0}, {modules - 7, 0}, {0, modules - 7}} {
			dx, dy := x-f[0], y-f[1]
			if dx >= 0 && dx < 7 && dy >= 0 && dy < 7 {
				return dx == 0 || dy == 0 || dx == 6 || dy == 6 || (dx >= 2 && dx <= 4 && dy >= 2 && dy <= 4)
			}
		}
		bit := (y*modules + x) % 256
		return seed[bit/8]>>(bit%8)&1 == 1 != ((x+y)%3 == 0)
	}
	for y := range modules {
		for x := range modules {
			if !dark(x, y) {
				continue
			}
			for py := range scale {
				for px := range scale {
					img.SetGray((x+quiet)*scale+px, (y+quiet)*scale+py, color.Gray{})
				}
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic("chatapitest: encode QR PNG: " + err.Error())
	}
	return b.Bytes()
}
