// Package telegramtest is a fake Telegram Bot API: an httptest server that speaks the real
// wire format (POST {url}/bot<token>/<method> with JSON, multipart or form bodies; answers
// {"ok":true,"result":…} or {"ok":false,"error_code":…,"description":…}; files at
// {url}/file/bot<token>/<file_path>), validates the bot token, records every call and
// can be told to fail. The conformance suite, the provider's tests and the core's
// end-to-end tests run against it.
//
// It keeps its own copy of the wire format instead of using the provider's types, and it
// enforces the API's rules (text and caption lengths, one action per inline button,
// 1-64 bytes of callback_data, the 48-hour deletion window, known chats and files), so a
// provider that breaks them fails here as it would against Telegram.
//
//	fake := telegramtest.NewServer()
//	defer fake.Close()
//	settings := fake.Settings()                 // {"token": fake.Token, "api_url": fake.URL()}
//	fake.FailNext(providertest.FailBlocked)     // the next send answers 403 "bot was blocked by the user"
//	fake.Sent()                                 // what the bot sent
//	fake.Deliver(ctx, fake.TextUpdate(telegramtest.UserID, "hi")) // POST to the registered webhook with its secret_token
package telegramtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // sendPhoto accepts GIF too
	"image/jpeg"
	_ "image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/providertest"
	"github.com/omnichat/omnichat/providers/telegram"
)

// Values the fake starts with.
const (
	// DefaultToken is the bot token a new Server accepts (Server.Token). Its id part is BotID.
	DefaultToken = "123456789:AAHfake-token_for_omnichat_tests_0123"
	// BotID, BotUsername and BotFirstName are what getMe answers.
	BotID        = 123456789
	BotUsername  = "omnichat_test_bot"
	BotFirstName = "Omnichat Test Bot"
	// UserID is a visitor the fake knows from the start, with names, a phone and an avatar.
	UserID int64 = 111222333
)

// The Bot API's limits the fake enforces.
const (
	maxText         = 4096 // UTF-16 code units
	maxCaption      = 1024
	maxCallbackData = 64 // bytes
	maxDownload     = 20 << 20
	maxBody         = 50<<20 + 1<<20
	deleteWindow    = 48 * time.Hour
)

// User is a Telegram user the fake knows (a private chat with the bot).
type User struct {
	ID           int64
	FirstName    string
	LastName     string
	Username     string
	LanguageCode string
	Phone        string // what ContactUpdate shares, e.g. "79161234567" (Telegram omits the "+")
	Avatar       []byte // JPEG profile photo; nil: the user has none
}

// Button is one inline keyboard button the bot sent.
type Button struct {
	Text         string
	CallbackData string
	URL          string
}

// SentMessage is one message the fake accepted from the bot.
type SentMessage struct {
	Method    string // sendMessage, sendPhoto or sendDocument
	ChatID    int64
	MessageID int64
	Text      string // sendMessage
	Caption   string // sendPhoto, sendDocument
	Buttons   [][]Button
	ReplyTo   int64 // reply_parameters.message_id
	FileName  string
	FileMIME  string
	File      []byte
	Date      time.Time
}

// MessageRef names one message: Telegram numbers messages per chat.
type MessageRef struct {
	ChatID    int64
	MessageID int64
}

// Webhook is the registration made with setWebhook.
type Webhook struct {
	URL                string
	Secret             string // secret_token
	AllowedUpdates     []string
	DropPendingUpdates bool
	MaxConnections     int
}

// Failure is an answer the fake gives instead of handling a call (see FailNextCall).
type Failure struct {
	Code        int    // HTTP status and error_code, e.g. 400, 403, 429, 500
	Description string // Telegram's description; a default one for Code when empty
	RetryAfter  int    // seconds, for 429
	HTML        bool   // answer a proxy's HTML error page instead of JSON (as Telegram's nginx does on 502)
}

type storedFile struct {
	id, uniqueID string
	path         string
	name         string
	mime         string
	content      []byte
	size         int64
	width        int
	height       int
}

type storedMessage struct {
	date    time.Time
	deleted bool
	old     bool
}

type chatState struct {
	nextID int64
	msgs   map[int64]*storedMessage
}

// Server is the fake Bot API. Its exported fields may be changed before the first request.
type Server struct {
	providertest.Recorder

	// Token is the only bot token the API accepts.
	Token string
	// AllowHTTPWebhook lets setWebhook accept http:// URLs on any port. Telegram itself
	// only calls https:// on ports 443, 80, 88 and 8443, and so does the fake by default;
	// end-to-end tests whose omnichat listens on http://127.0.0.1:<port> set it.
	AllowHTTPWebhook bool

	srv    *httptest.Server
	client *http.Client

	mu          sync.Mutex
	users       map[int64]User
	blocked     map[int64]bool
	chats       map[int64]*chatState
	files       map[string]*storedFile // by file_id
	paths       map[string]*storedFile // by file_path
	callbacks   map[string]bool        // callback query ids not answered yet
	nextUpdate  int64
	nextFile    int
	sent        []SentMessage
	deleted     []MessageRef
	answered    []string
	failures    map[string][]Failure // by lower-case method
	webhook     Webhook
	lastError   string
	lastErrorAt time.Time
}

// NewServer starts a fake Bot API that accepts DefaultToken and knows the user UserID.
// Close it when done.
func NewServer() *Server {
	s := &Server{
		Token:      DefaultToken,
		client:     &http.Client{Timeout: 10 * time.Second},
		users:      map[int64]User{},
		blocked:    map[int64]bool{},
		chats:      map[int64]*chatState{},
		files:      map[string]*storedFile{},
		paths:      map[string]*storedFile{},
		callbacks:  map[string]bool{},
		failures:   map[string][]Failure{},
		nextUpdate: 700000000,
	}
	s.users[UserID] = User{ID: UserID, FirstName: "Ivan", LastName: "Petrov", Username: "ivan_petrov",
		LanguageCode: "ru", Phone: "79161234567", Avatar: SampleJPEG()}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// URL is the base URL for the api_url setting.
func (s *Server) URL() string { return s.srv.URL }

// Settings returns channel settings the fake accepts: the token and api_url.
func (s *Server) Settings() providers.Settings {
	return providers.Settings{telegram.SettingToken: s.Token, telegram.SettingAPIURL: s.URL()}
}

// AddUser makes a user known: the bot may write to them, getChat and
// getUserProfilePhotos answer for them.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// AddFile stores a file a user sent, so an update can refer to fileID and getFile and the
// file URL serve it. It returns the file's file_path.
func (s *Server) AddFile(fileID, name, mimeType string, content []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeFileLocked(fileID, "documents", name, mimeType, content).path
}

// Block makes every send to the user fail with 403 "Forbidden: bot was blocked by the
// user", as after the user blocked the bot; Unblock undoes it.
func (s *Server) Block(userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[userID] = true
}

// Unblock undoes Block.
func (s *Server) Unblock(userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blocked, userID)
}

// MarkOld makes a message older than Telegram's 48-hour deletion window.
func (s *Server) MarkOld(chatID, messageID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.chatLocked(chatID).msgs[messageID]; m != nil {
		m.old = true
	}
}

// FailNextCall makes the next call of method (e.g. "sendMessage", "deleteMessage",
// "getFile") answer f instead of being handled. Calls queue up per method.
func (s *Server) FailNextCall(method string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := strings.ToLower(method)
	s.failures[m] = append(s.failures[m], f)
}

// Reset forgets recorded calls, sent messages, deletions, answered buttons and pending
// failures. Platform state stays (users, files, chats, message ids, the webhook), as on
// the real platform.
func (s *Server) Reset() {
	s.Recorder.Reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent, s.deleted, s.answered = nil, nil, nil
	s.failures = map[string][]Failure{}
}

// Sent returns the messages the bot sent since the last Reset, in order.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage(nil), s.sent...)
}

// Deleted returns the messages deleted since the last Reset.
func (s *Server) Deleted() []MessageRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]MessageRef(nil), s.deleted...)
}

// Answered returns the callback query ids answered since the last Reset.
func (s *Server) Answered() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.answered...)
}

// Webhook returns the current registration (zero when none).
func (s *Server) Webhook() Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.webhook
	w.AllowedUpdates = append([]string(nil), w.AllowedUpdates...)
	return w
}

// WebhookRequest builds the request Telegram sends to a webhook: POST webhookURL with
// the update as a JSON body and the webhook's secret_token (omnichat sets it to the
// channel's secret) in the X-Telegram-Bot-Api-Secret-Token header. Telegram signs nothing
// else; the URL carries no token.
func WebhookRequest(ctx context.Context, webhookURL, secret string, update []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(update))
	if err != nil {
		return nil, fmt.Errorf("telegramtest: webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(telegram.SecretTokenHeader, secret)
	return req, nil
}

// ProviderRequest is the same request as EventFilter receives it from the core.
func ProviderRequest(secret string, update []byte) *providers.Request {
	return &providers.Request{
		Method: http.MethodPost,
		Header: http.Header{"Content-Type": {"application/json"}, telegram.SecretTokenHeader: {secret}},
		Body:   update,
	}
}

// Deliver POSTs update to the registered webhook with the registered secret_token, as
// Telegram does, and returns the answer's status and body. A non-2xx answer becomes the
// webhook's last error, as getWebhookInfo reports it.
func (s *Server) Deliver(ctx context.Context, update []byte) (int, []byte, error) {
	wh := s.Webhook()
	if wh.URL == "" {
		return 0, nil, errors.New("telegramtest: no webhook registered")
	}
	req, err := WebhookRequest(ctx, wh.URL, wh.Secret, update)
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.setLastError("Connection refused")
		return 0, nil, fmt.Errorf("telegramtest: deliver: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("telegramtest: read webhook answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		s.setLastError(fmt.Sprintf("Wrong response from the webhook: %s", resp.Status))
	}
	return resp.StatusCode, answer, nil
}

func (s *Server) setLastError(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastError, s.lastErrorAt = msg, time.Now()
}

// apiError is a Bot API error answer.
type apiError struct {
	code       int
	desc       string
	retryAfter int
	html       bool
}

func badRequest(desc string) *apiError { return &apiError{code: 400, desc: "Bad Request: " + desc} }

// params are a call's parameters however they came: query string, JSON, urlencoded form
// or multipart form. Non-string JSON values (numbers, objects) are kept as their JSON text,
// which is also how multipart bodies carry them.
type params struct {
	values map[string]string
	files  map[string]upload
}

type upload struct {
	name    string
	content []byte
}

func (p params) str(k string) string { return p.values[k] }

func (p params) has(k string) bool {
	_, ok := p.values[k]
	if !ok {
		_, ok = p.files[k]
	}
	return ok
}

func (p params) int64(k string) (int64, bool) {
	n, err := strconv.ParseInt(strings.Trim(p.values[k], `"`), 10, 64)
	return n, err == nil
}

func (p params) bool(k string) bool {
	b, _ := strconv.ParseBool(p.values[k])
	return b
}

// record is the call as Recorder stores it: the parameters as one JSON object, uploaded
// files as {"filename":…,"size":…}.
func (p params) record() []byte {
	m := map[string]any{}
	for k, v := range p.values {
		m[k] = v
	}
	for k, f := range p.files {
		m[k] = map[string]any{"filename": f.name, "size": len(f.content)}
	}
	b, _ := json.Marshal(m)
	return b
}

func parseParams(r *http.Request, body []byte) (params, error) {
	p := params{values: map[string]string{}, files: map[string]upload{}}
	for k, v := range r.URL.Query() {
		p.values[k] = v[0]
	}
	if len(body) == 0 {
		// go-telegram/bot sends an empty body with a multipart content type for calls
		// without parameters (getMe): Telegram accepts that.
		return p, nil
	}
	mediaType, mp, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mediaType {
	case "application/json":
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return p, errors.New("can't parse JSON object")
		}
		for k, raw := range m {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				p.values[k] = s
			} else {
				p.values[k] = string(raw)
			}
		}
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), mp["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return p, errors.New("can't parse multipart form data")
			}
			content, err := io.ReadAll(part)
			if err != nil {
				return p, errors.New("can't parse multipart form data")
			}
			if part.FileName() != "" {
				p.files[part.FormName()] = upload{name: part.FileName(), content: content}
			} else {
				p.values[part.FormName()] = string(content)
			}
		}
	case "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return p, errors.New("can't parse form")
		}
		for k, v := range q {
			p.values[k] = v[0]
		}
	default:
		return p, errors.New("unsupported Content-Type")
	}
	return p, nil
}

type handler func(p params) (result any, desc string, err *apiError)

func (s *Server) methods() map[string]handler {
	return map[string]handler{
		"getme":                s.getMe,
		"setwebhook":           s.setWebhook,
		"deletewebhook":        s.deleteWebhook,
		"getwebhookinfo":       s.getWebhookInfo,
		"sendmessage":          s.sendMessage,
		"sendphoto":            s.sendPhoto,
		"senddocument":         s.sendDocument,
		"deletemessage":        s.deleteMessage,
		"answercallbackquery":  s.answerCallbackQuery,
		"getuserprofilephotos": s.getUserProfilePhotos,
		"getchat":              s.getChat,
		"getfile":              s.getFile,
	}
}

// sendMethods are the calls providertest's FailNext applies to.
var sendMethods = map[string]bool{"sendmessage": true, "sendphoto": true, "senddocument": true}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/file/bot"); ok {
		s.serveFile(w, rest)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || method == "" {
		s.Record(r.URL.Path, nil)
		writeError(w, &apiError{code: 404, desc: "Not Found"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.Record(method, nil)
		writeError(w, &apiError{code: 413, desc: "Request Entity Too Large"})
		return
	}
	p, perr := parseParams(r, body)
	s.Record(method, p.record())
	if token != s.Token {
		writeError(w, &apiError{code: 401, desc: "Unauthorized"})
		return
	}
	h, known := s.methods()[strings.ToLower(method)]
	if !known {
		writeError(w, &apiError{code: 404, desc: "Not Found"})
		return
	}
	if perr != nil {
		writeError(w, badRequest(perr.Error()))
		return
	}
	if f := s.takeFailure(strings.ToLower(method)); f != nil {
		writeError(w, f)
		return
	}
	result, desc, aerr := h(p)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": result}, desc)
}

// takeFailure returns the failure a call must answer: the conformance suite's FailNext
// (send calls only), then failures queued with FailNextCall.
func (s *Server) takeFailure(method string) *apiError {
	if sendMethods[method] {
		switch s.TakeFailure() {
		case providertest.FailTransient:
			return &apiError{code: http.StatusBadGateway, html: true}
		case providertest.FailRateLimited:
			return &apiError{code: 429, desc: "Too Many Requests: retry after 3", retryAfter: 3}
		case providertest.FailBlocked:
			return &apiError{code: 403, desc: "Forbidden: bot was blocked by the user"}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.failures[method]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	s.failures[method] = q[1:]
	e := &apiError{code: f.Code, desc: f.Description, retryAfter: f.RetryAfter, html: f.HTML}
	if e.desc == "" {
		e.desc = http.StatusText(f.Code)
		if f.Code == 429 {
			e.desc = fmt.Sprintf("Too Many Requests: retry after %d", f.RetryAfter)
		}
	}
	return e
}

func writeJSON(w http.ResponseWriter, status int, v map[string]any, desc string) {
	if desc != "" {
		v["description"] = desc
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.html {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(e.code)
		fmt.Fprintf(w, "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n",
			e.code, http.StatusText(e.code), e.code, http.StatusText(e.code))
		return
	}
	v := map[string]any{"ok": false, "error_code": e.code, "description": e.desc}
	if e.retryAfter > 0 {
		v["parameters"] = map[string]any{"retry_after": e.retryAfter}
	}
	writeJSON(w, e.code, v, "")
}

// serveFile serves GET /file/bot<token>/<file_path>.
func (s *Server) serveFile(w http.ResponseWriter, rest string) {
	token, filePath, _ := strings.Cut(rest, "/")
	s.Record("file", []byte(filePath))
	s.mu.Lock()
	f := s.paths[filePath]
	s.mu.Unlock()
	if token != s.Token || f == nil {
		writeError(w, &apiError{code: 404, desc: "Not Found"})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(f.content)))
	w.Write(f.content)
}

// ---- wire shapes of results ----

type userJSON struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name,omitempty"`
	Username     string `json:"username,omitempty"`
	LanguageCode string `json:"language_code,omitempty"`
}

type chatJSON struct {
	ID        int64  `json:"id"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
	Type      string `json:"type"`
}

type photoSizeJSON struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int64  `json:"file_size,omitempty"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
}

type documentJSON struct {
	FileName     string `json:"file_name,omitempty"`
	MimeType     string `json:"mime_type,omitempty"`
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int64  `json:"file_size,omitempty"`
}

type messageJSON struct {
	MessageID   int64           `json:"message_id"`
	From        userJSON        `json:"from"`
	Chat        chatJSON        `json:"chat"`
	Date        int64           `json:"date"`
	Text        string          `json:"text,omitempty"`
	Photo       []photoSizeJSON `json:"photo,omitempty"`
	Document    *documentJSON   `json:"document,omitempty"`
	Caption     string          `json:"caption,omitempty"`
	ReplyMarkup json.RawMessage `json:"reply_markup,omitempty"`
}

func botUser() userJSON {
	return userJSON{ID: BotID, IsBot: true, FirstName: BotFirstName, Username: BotUsername}
}

func userToJSON(u User) userJSON {
	return userJSON{ID: u.ID, FirstName: u.FirstName, LastName: u.LastName, Username: u.Username, LanguageCode: u.LanguageCode}
}

func chatToJSON(u User) chatJSON {
	return chatJSON{ID: u.ID, FirstName: u.FirstName, LastName: u.LastName, Username: u.Username, Type: "private"}
}

// ---- methods ----

func (s *Server) getMe(params) (any, string, *apiError) {
	return map[string]any{"id": BotID, "is_bot": true, "first_name": BotFirstName, "username": BotUsername,
		"can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
		"can_connect_to_business": false, "has_main_web_app": false}, "", nil
}

var secretTokenRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func (s *Server) setWebhook(p params) (any, string, *apiError) {
	raw := p.str("url")
	if raw == "" {
		return s.deleteWebhook(p)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, "", badRequest("bad webhook: Failed to resolve host: Name or service not known")
	}
	if !s.AllowHTTPWebhook {
		if u.Scheme != "https" {
			return nil, "", badRequest("bad webhook: An HTTPS URL must be provided for webhook")
		}
		switch u.Port() {
		case "", "443", "80", "88", "8443":
		default:
			return nil, "", badRequest("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
		}
	}
	secret := p.str("secret_token")
	if p.has("secret_token") && !secretTokenRe.MatchString(secret) {
		return nil, "", badRequest("secret token contains unallowed characters")
	}
	maxConn := 40
	if p.has("max_connections") {
		n, ok := p.int64("max_connections")
		if !ok || n < 1 || n > 100 {
			return nil, "", badRequest("bad max_connections")
		}
		maxConn = int(n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	allowed := s.webhook.AllowedUpdates // omitted: Telegram keeps the previous setting
	if p.has("allowed_updates") {
		allowed = nil
		if err := json.Unmarshal([]byte(p.str("allowed_updates")), &allowed); err != nil {
			return nil, "", badRequest("can't parse allowed updates")
		}
	}
	s.webhook = Webhook{URL: raw, Secret: secret, AllowedUpdates: allowed,
		DropPendingUpdates: p.bool("drop_pending_updates"), MaxConnections: maxConn}
	s.lastError = ""
	return true, "Webhook was set", nil
}

func (s *Server) deleteWebhook(params) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.webhook.URL == "" {
		return true, "Webhook is already deleted", nil
	}
	s.webhook = Webhook{}
	return true, "Webhook was deleted", nil
}

func (s *Server) getWebhookInfo(params) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := map[string]any{"url": s.webhook.URL, "has_custom_certificate": false, "pending_update_count": 0}
	if s.webhook.URL != "" {
		info["max_connections"] = s.webhook.MaxConnections
		info["ip_address"] = "127.0.0.1"
		if len(s.webhook.AllowedUpdates) > 0 {
			info["allowed_updates"] = s.webhook.AllowedUpdates
		}
		if s.lastError != "" {
			info["last_error_date"] = s.lastErrorAt.Unix()
			info["last_error_message"] = s.lastError
		}
	}
	return info, "", nil
}

// recipient resolves chat_id to a known user the bot may write to.
func (s *Server) recipient(p params) (User, *apiError) {
	id, ok := p.int64("chat_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	u, known := s.users[id]
	switch {
	case !ok || !known:
		return User{}, badRequest("chat not found")
	case s.blocked[id]:
		return User{}, &apiError{code: 403, desc: "Forbidden: bot was blocked by the user"}
	}
	return u, nil
}

// replyTo reads reply_parameters (or the older reply_to_message_id).
func (s *Server) replyTo(p params, chatID int64) (int64, *apiError) {
	var rp struct {
		MessageID                int64 `json:"message_id"`
		AllowSendingWithoutReply bool  `json:"allow_sending_without_reply"`
	}
	switch {
	case p.has("reply_parameters"):
		if err := json.Unmarshal([]byte(p.str("reply_parameters")), &rp); err != nil {
			return 0, badRequest("can't parse reply parameters JSON object")
		}
	case p.has("reply_to_message_id"):
		rp.MessageID, _ = p.int64("reply_to_message_id")
		rp.AllowSendingWithoutReply = p.bool("allow_sending_without_reply")
	default:
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.chatLocked(chatID).msgs[rp.MessageID]; m == nil || m.deleted {
		if !rp.AllowSendingWithoutReply {
			return 0, badRequest("message to be replied not found")
		}
		return 0, nil
	}
	return rp.MessageID, nil
}

var buttonActions = []string{"url", "callback_data", "web_app", "login_url", "switch_inline_query",
	"switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text", "callback_game", "pay"}

// keyboard validates reply_markup the way Telegram does for inline keyboards.
func keyboard(raw string) ([][]Button, json.RawMessage, *apiError) {
	if raw == "" {
		return nil, nil, nil
	}
	var rm struct {
		InlineKeyboard [][]map[string]json.RawMessage `json:"inline_keyboard"`
	}
	if err := json.Unmarshal([]byte(raw), &rm); err != nil {
		return nil, nil, badRequest("can't parse reply keyboard markup JSON object")
	}
	var rows [][]Button
	for _, row := range rm.InlineKeyboard {
		var out []Button
		for _, fields := range row {
			var b Button
			if json.Unmarshal(fields["text"], &b.Text) != nil || b.Text == "" {
				return nil, nil, badRequest("can't parse inline keyboard button: Text must be non-empty")
			}
			actions := 0
			for _, a := range buttonActions {
				if _, ok := fields[a]; ok {
					actions++
				}
			}
			if actions != 1 {
				return nil, nil, badRequest("can't parse inline keyboard button: exactly one of the optional fields must be used")
			}
			if ct, ok := fields["copy_text"]; ok {
				var c struct {
					Text string `json:"text"`
				}
				if json.Unmarshal(ct, &c) != nil || c.Text == "" {
					return nil, nil, badRequest("BUTTON_COPY_TEXT_INVALID")
				}
			}
			if cd, ok := fields["callback_data"]; ok {
				if json.Unmarshal(cd, &b.CallbackData) != nil || b.CallbackData == "" || len(b.CallbackData) > maxCallbackData {
					return nil, nil, badRequest("BUTTON_DATA_INVALID")
				}
			}
			if u, ok := fields["url"]; ok {
				pu, err := url.Parse(jsonString(u))
				if err != nil || (pu.Scheme != "http" && pu.Scheme != "https" && pu.Scheme != "tg") {
					return nil, nil, badRequest("BUTTON_URL_INVALID")
				}
				b.URL = pu.String()
			}
			out = append(out, b)
		}
		rows = append(rows, out)
	}
	return rows, json.RawMessage(raw), nil
}

func jsonString(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

func (s *Server) sendMessage(p params) (any, string, *apiError) {
	u, aerr := s.recipient(p)
	if aerr != nil {
		return nil, "", aerr
	}
	text := p.str("text")
	switch {
	case strings.TrimSpace(text) == "":
		return nil, "", badRequest("message text is empty")
	case utf16Len(text) > maxText:
		return nil, "", badRequest("message is too long")
	}
	buttons, markup, aerr := keyboard(p.str("reply_markup"))
	if aerr != nil {
		return nil, "", aerr
	}
	reply, aerr := s.replyTo(p, u.ID)
	if aerr != nil {
		return nil, "", aerr
	}
	m := s.accept(SentMessage{Method: "sendMessage", ChatID: u.ID, Text: text, Buttons: buttons, ReplyTo: reply})
	return messageJSON{MessageID: m.MessageID, From: botUser(), Chat: chatToJSON(u), Date: m.Date.Unix(),
		Text: text, ReplyMarkup: markup}, "", nil
}

// accept stores a message the bot sent and gives it the chat's next message id.
func (s *Server) accept(m SentMessage) SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.Date = time.Now()
	m.MessageID = s.newMessageLocked(m.ChatID)
	s.sent = append(s.sent, m)
	return m
}

// fileParam reads an InputFile parameter: an upload, a known file_id, or a URL (which the
// fake cannot fetch: it has no internet, and answers as Telegram does for unreachable URLs).
func (s *Server) fileParam(p params, name string) (upload, *storedFile, *apiError) {
	if f, ok := p.files[name]; ok {
		return f, nil, nil
	}
	v := p.str(name)
	if v == "" {
		return upload{}, nil, badRequest("there is no " + name + " in the request")
	}
	if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
		return upload{}, nil, badRequest("failed to get HTTP URL content")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.files[v]; f != nil {
		return upload{}, f, nil
	}
	return upload{}, nil, badRequest("wrong file identifier/HTTP URL specified")
}

func (s *Server) caption(p params) (string, *apiError) {
	c := p.str("caption")
	if utf16Len(c) > maxCaption {
		return "", badRequest("message caption is too long")
	}
	return c, nil
}

func (s *Server) sendPhoto(p params) (any, string, *apiError) {
	u, aerr := s.recipient(p)
	if aerr != nil {
		return nil, "", aerr
	}
	up, existing, aerr := s.fileParam(p, "photo")
	if aerr != nil {
		return nil, "", aerr
	}
	caption, aerr := s.caption(p)
	if aerr != nil {
		return nil, "", aerr
	}
	if existing == nil {
		cfg, _, err := image.DecodeConfig(bytes.NewReader(up.content))
		if err != nil {
			return nil, "", badRequest("IMAGE_PROCESS_FAILED")
		}
		s.mu.Lock()
		existing = s.storeFileLocked("", "photos", up.name, "image/jpeg", up.content)
		existing.width, existing.height = cfg.Width, cfg.Height
		s.mu.Unlock()
	}
	m := s.accept(SentMessage{Method: "sendPhoto", ChatID: u.ID, Caption: caption,
		FileName: existing.name, FileMIME: existing.mime, File: existing.content})
	return messageJSON{MessageID: m.MessageID, From: botUser(), Chat: chatToJSON(u), Date: m.Date.Unix(),
		Photo: photoSizes(existing), Caption: caption}, "", nil
}

// photoSizes lists a photo as Telegram does: a thumbnail first, the full size last.
func photoSizes(f *storedFile) []photoSizeJSON {
	full := photoSizeJSON{FileID: f.id, FileUniqueID: f.uniqueID, FileSize: f.size, Width: f.width, Height: f.height}
	thumb := full
	thumb.FileID, thumb.FileUniqueID = f.id+"-thumb", f.uniqueID+"t"
	if f.width > 90 {
		thumb.Width, thumb.Height = 90, f.height*90/f.width
	}
	return []photoSizeJSON{thumb, full}
}

func (s *Server) sendDocument(p params) (any, string, *apiError) {
	u, aerr := s.recipient(p)
	if aerr != nil {
		return nil, "", aerr
	}
	up, existing, aerr := s.fileParam(p, "document")
	if aerr != nil {
		return nil, "", aerr
	}
	caption, aerr := s.caption(p)
	if aerr != nil {
		return nil, "", aerr
	}
	if existing == nil {
		mt := mime.TypeByExtension(path.Ext(up.name))
		if mt == "" {
			mt = "application/octet-stream"
		}
		mt, _, _ = strings.Cut(mt, ";")
		s.mu.Lock()
		existing = s.storeFileLocked("", "documents", up.name, mt, up.content)
		s.mu.Unlock()
	}
	m := s.accept(SentMessage{Method: "sendDocument", ChatID: u.ID, Caption: caption,
		FileName: existing.name, FileMIME: existing.mime, File: existing.content})
	return messageJSON{MessageID: m.MessageID, From: botUser(), Chat: chatToJSON(u), Date: m.Date.Unix(),
		Document: &documentJSON{FileName: existing.name, MimeType: existing.mime, FileID: existing.id,
			FileUniqueID: existing.uniqueID, FileSize: existing.size},
		Caption: caption}, "", nil
}

func (s *Server) deleteMessage(p params) (any, string, *apiError) {
	chatID, ok1 := p.int64("chat_id")
	msgID, ok2 := p.int64("message_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, known := s.users[chatID]; !ok1 || !known {
		return nil, "", badRequest("chat not found")
	}
	m := s.chatLocked(chatID).msgs[msgID]
	switch {
	case !ok2 || m == nil || m.deleted:
		return nil, "", badRequest("message to delete not found")
	case m.old || time.Since(m.date) > deleteWindow:
		return nil, "", badRequest("message can't be deleted for everyone")
	}
	m.deleted = true
	s.deleted = append(s.deleted, MessageRef{ChatID: chatID, MessageID: msgID})
	return true, "", nil
}

func (s *Server) answerCallbackQuery(p params) (any, string, *apiError) {
	id := p.str("callback_query_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.callbacks[id] {
		return nil, "", badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	delete(s.callbacks, id)
	s.answered = append(s.answered, id)
	return true, "", nil
}

// avatarLocked returns the user's profile photo file, stored under a stable id.
func (s *Server) avatarLocked(u User) *storedFile {
	if u.Avatar == nil {
		return nil
	}
	id := "AgACAgIAAxUAAWavatar" + strconv.FormatInt(u.ID, 10)
	if f := s.files[id]; f != nil {
		return f
	}
	f := s.storeFileLocked(id, "profile_photos", "", "image/jpeg", u.Avatar)
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(u.Avatar)); err == nil {
		f.width, f.height = cfg.Width, cfg.Height
	}
	return f
}

func (s *Server) getUserProfilePhotos(p params) (any, string, *apiError) {
	id, _ := p.int64("user_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	u, known := s.users[id]
	if !known {
		return nil, "", badRequest("user not found")
	}
	f := s.avatarLocked(u)
	if f == nil {
		return map[string]any{"total_count": 0, "photos": [][]photoSizeJSON{}}, "", nil
	}
	return map[string]any{"total_count": 1, "photos": [][]photoSizeJSON{photoSizes(f)}}, "", nil
}

func (s *Server) getChat(p params) (any, string, *apiError) {
	id, _ := p.int64("chat_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	u, known := s.users[id]
	if !known {
		return nil, "", badRequest("chat not found")
	}
	c := map[string]any{"id": u.ID, "type": "private", "first_name": u.FirstName, "accent_color_id": 0,
		"max_reaction_count": 11, "accepted_gift_types": map[string]bool{"unlimited_gifts": true}}
	if u.LastName != "" {
		c["last_name"] = u.LastName
	}
	if u.Username != "" {
		c["username"] = u.Username
	}
	if f := s.avatarLocked(u); f != nil {
		c["photo"] = map[string]string{"small_file_id": f.id + "-thumb", "small_file_unique_id": f.uniqueID + "t",
			"big_file_id": f.id, "big_file_unique_id": f.uniqueID}
	}
	return c, "", nil
}

func (s *Server) getFile(p params) (any, string, *apiError) {
	id := strings.TrimSuffix(p.str("file_id"), "-thumb") // thumbnails share the content
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[id]
	switch {
	case f == nil:
		return nil, "", badRequest("invalid file_id")
	case f.size > maxDownload:
		return nil, "", badRequest("file is too big")
	}
	return map[string]any{"file_id": p.str("file_id"), "file_unique_id": f.uniqueID, "file_size": f.size, "file_path": f.path}, "", nil
}

// ---- state helpers ----

func (s *Server) chatLocked(chatID int64) *chatState {
	c := s.chats[chatID]
	if c == nil {
		c = &chatState{nextID: 1, msgs: map[int64]*storedMessage{}}
		s.chats[chatID] = c
	}
	return c
}

// newMessageLocked takes the chat's next message id; users' and the bot's messages share
// the sequence, as in a real private chat.
func (s *Server) newMessageLocked(chatID int64) int64 {
	c := s.chatLocked(chatID)
	id := c.nextID
	c.nextID++
	c.msgs[id] = &storedMessage{date: time.Now()}
	return id
}

// storeFileLocked stores content under fileID (a new id when empty) in a folder of
// file paths like Telegram's ("photos/file_3.jpg").
func (s *Server) storeFileLocked(fileID, folder, name, mimeType string, content []byte) *storedFile {
	s.nextFile++
	n := s.nextFile
	if fileID == "" {
		fileID = fmt.Sprintf("BQACAgIAAxkBAAI%06dfakefileid", n)
	}
	ext := path.Ext(name)
	if ext == "" {
		if exts, _ := mime.ExtensionsByType(mimeType); len(exts) > 0 {
			ext = exts[0]
		}
	}
	f := &storedFile{id: fileID, uniqueID: fmt.Sprintf("AgAD%06d", n), path: fmt.Sprintf("%s/file_%d%s", folder, n, ext),
		name: name, mime: mimeType, content: append([]byte(nil), content...), size: int64(len(content))}
	if old := s.files[fileID]; old != nil {
		delete(s.paths, old.path)
	}
	s.files[fileID] = f
	s.paths[f.path] = f
	return f
}

// SampleJPEG returns a small valid JPEG image (what sendPhoto accepts and avatars are).
func SampleJPEG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 160, 160))
	for y := 0; y < 160; y++ {
		for x := 0; x < 160; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x), G: uint8(y), B: 160, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		panic("telegramtest: encode sample JPEG: " + err.Error()) // cannot fail on an in-memory buffer
	}
	return buf.Bytes()
}
