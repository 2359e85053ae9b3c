// Package exampletest is a fake Example Messenger: an httptest server that speaks the
// platform's API (same paths, JSON shapes, bearer token, error bodies), records every call
// and can be told to fail. The conformance suite, the provider's tests and the core's
// end-to-end tests run against it.
//
// It keeps its own copy of the wire format instead of importing the provider's request
// types, and it rejects unknown JSON fields: a provider that sends a misspelt field fails
// here the way it would fail against the real platform.
//
//	fake := exampletest.NewServer()
//	defer fake.Close()
//	settings := fake.Settings() // {"token": fake.Token, "api_url": fake.URL()}
//	…
//	fake.FailNext(providertest.FailBlocked) // the next send answers 403 user_blocked
//	fake.Sent()                              // what the provider sent
//	fake.Deliver(ctx, example.NewMessageUpdate(…)) // POST a signed update to the registered webhook
package exampletest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/providertest"
)

// Values the fake starts with.
const (
	// DefaultToken is the bot token a new Server accepts (Server.Token).
	DefaultToken = "example-test-token-0123456789abcdef"
	// BotID and BotName are what GET /me answers.
	BotID   = 777001
	BotName = "Example Test Bot"
	// UserID is a visitor the fake knows from the start (GET /users/u-1001).
	UserID = "u-1001"
)

// Platform limits the fake enforces, as the real platform does.
const (
	maxText       = 4096
	maxButtonData = 64
	maxUpload     = 20 << 20
	maxBody       = maxUpload + 1<<20
)

// User is a visitor the fake knows.
type User struct {
	ID        string
	FirstName string
	LastName  string
	Username  string
	Language  string
	AvatarURL string // empty: the fake serves a generated avatar at /avatars/{id}.png
}

// Button is a button the provider sent.
type Button struct {
	Text string
	Data string
	URL  string
}

// SentMessage is one message the platform accepted: a text (Text, Buttons) or a file
// (FileName, FileMIME, File, Caption).
type SentMessage struct {
	ID             int64 // the platform's message id returned to the provider
	ChatID         string
	Text           string
	Buttons        [][]Button
	ReplyTo        int64
	FileName       string
	FileMIME       string
	File           []byte
	Caption        string
	IdempotencyKey string
}

// Webhook is the registration made with POST /webhook.
type Webhook struct {
	URL    string
	Secret string
	Types  []string
}

// failure is one queued failure of a send call.
type failure struct {
	status     int
	retryAfter int
	pass       bool // let this call through (FailSendsAfter)
}

type storedFile struct {
	name    string
	mime    string
	content []byte
}

// Server is the fake platform. Its exported fields may be changed before the first request.
type Server struct {
	providertest.Recorder

	// Token is the only bearer token the API accepts.
	Token string

	srv    *httptest.Server
	client *http.Client
	avatar []byte

	mu          sync.Mutex
	nextID      int64
	users       map[string]User
	files       map[string]storedFile
	messages    map[int64]SentMessage // every message ever accepted, for DELETE
	old         map[int64]bool        // messages too old to delete
	blocked     map[string]bool       // chats whose visitor blocked the bot
	idempotency map[string]int64
	sent        []SentMessage
	deleted     []int64
	answered    []string
	failures    []failure
	sendTimes   []time.Time
	webhook     Webhook
	lastError   string
	lastErrorAt time.Time
}

// NewServer starts a fake platform that accepts DefaultToken and knows the visitor UserID.
// Close it when done.
func NewServer() *Server {
	s := &Server{
		Token:       DefaultToken,
		client:      &http.Client{Timeout: 10 * time.Second},
		avatar:      onePixelPNG(),
		nextID:      900000,
		users:       map[string]User{},
		files:       map[string]storedFile{},
		messages:    map[int64]SentMessage{},
		old:         map[int64]bool{},
		blocked:     map[string]bool{},
		idempotency: map[string]int64{},
	}
	s.users[UserID] = User{ID: UserID, FirstName: "Ivan", LastName: "Petrov", Username: "ivan_petrov", Language: "ru"}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /me", s.api(s.handleMe))
	mux.HandleFunc("POST /webhook", s.api(s.handleSetWebhook))
	mux.HandleFunc("GET /webhook", s.api(s.handleGetWebhook))
	mux.HandleFunc("DELETE /webhook", s.api(s.handleDeleteWebhook))
	mux.HandleFunc("POST /messages", s.api(s.handleSendMessage))
	mux.HandleFunc("DELETE /messages/{id}", s.api(s.handleDeleteMessage))
	mux.HandleFunc("POST /files", s.api(s.handleSendFile))
	mux.HandleFunc("GET /files/{id}", s.api(s.handleGetFile))
	mux.HandleFunc("GET /download/{id}", s.api(s.handleDownload))
	mux.HandleFunc("GET /users/{id}", s.api(s.handleGetUser))
	mux.HandleFunc("POST /buttons/{id}/answer", s.api(s.handleAnswer))
	// Avatars are public on this platform: no token.
	mux.HandleFunc("GET /avatars/{file}", func(w http.ResponseWriter, r *http.Request) {
		s.Record(r.Pattern, nil)
		w.Header().Set("Content-Type", "image/png")
		w.Write(s.avatar)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.Record(r.Method+" "+r.URL.Path, nil)
		writeError(w, http.StatusNotFound, "not_found", "no such method", 0)
	})
	s.srv = httptest.NewServer(mux)
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// URL is the base URL for the api_url setting.
func (s *Server) URL() string { return s.srv.URL }

// Settings returns channel settings the fake accepts: the token and api_url.
func (s *Server) Settings() providers.Settings {
	return providers.Settings{example.SettingToken: s.Token, example.SettingAPIURL: s.URL()}
}

// AddUser makes a visitor known to GET /users/{id}.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// AddFile stores a file the visitor sent, so an update can refer to it by file_id and
// GET /files/{id} resolves it.
func (s *Server) AddFile(id, name, mimeType string, content []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[id] = storedFile{name: name, mime: mimeType, content: append([]byte(nil), content...)}
}

// Block makes every send to chatID fail with 403 user_blocked, as after the visitor blocked
// the bot; Unblock undoes it.
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

// MarkOld makes a sent message too old to delete (DELETE answers 400 message_too_old).
func (s *Server) MarkOld(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.old[id] = true
}

// FailSends makes the next n send calls (POST /messages, POST /files) fail with HTTP
// status, with the platform's error body for it (403 user_blocked, 429 rate_limited with
// retry_after 1, 5xx internal_error…). It adds to failures queued before.
func (s *Server) FailSends(n, status int) {
	s.queueFailures(n, failure{status: status, retryAfter: 1})
}

// FailSendsAfter lets the next ok send calls through and then fails n with HTTP status,
// as FailSends does: a long text split in parts fails after its first part went out.
func (s *Server) FailSendsAfter(ok, n, status int) {
	s.queueFailures(ok, failure{pass: true})
	s.FailSends(n, status)
}

// SendTimes returns when each send call (POST /messages, POST /files) that passed
// validation arrived since the last Reset, failed ones included: tests check that a retry
// came no earlier than the platform's retry_after.
func (s *Server) SendTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.sendTimes...)
}

// RateLimitSends makes the next n send calls answer 429 with retry_after seconds.
func (s *Server) RateLimitSends(n int, retryAfter time.Duration) {
	s.queueFailures(n, failure{status: http.StatusTooManyRequests, retryAfter: int(retryAfter / time.Second)})
}

func (s *Server) queueFailures(n int, f failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, f)
	}
}

// Reset forgets recorded calls, sent messages, deletions, button answers and pending
// failures. Platform state stays: users, files, the webhook, message ids and idempotency
// keys, as on the real platform.
func (s *Server) Reset() {
	s.Recorder.Reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent, s.deleted, s.answered, s.failures, s.sendTimes = nil, nil, nil, nil, nil
}

// Sent returns the messages and files accepted since the last Reset, in order. A request
// repeated with the same idempotency key appears once.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage(nil), s.sent...)
}

// Deleted returns the ids of messages deleted since the last Reset.
func (s *Server) Deleted() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.deleted...)
}

// Answered returns the ids of button presses answered since the last Reset.
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
	w.Types = append([]string(nil), w.Types...)
	return w
}

// Deliver POSTs body to the registered webhook, signed with the registered secret, as the
// platform does, and returns the answer's status and body. A non-2xx answer (or one other
// than {"ok":true}) is remembered as the webhook's last error, as GET /webhook reports.
func (s *Server) Deliver(ctx context.Context, body []byte) (int, []byte, error) {
	wh := s.Webhook()
	if wh.URL == "" {
		return 0, nil, errors.New("exampletest: no webhook registered")
	}
	req, err := example.NewWebhookRequest(ctx, wh.URL, wh.Secret, body)
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.setLastError(err.Error())
		return 0, nil, fmt.Errorf("exampletest: deliver: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("exampletest: read webhook answer: %w", err)
	}
	var ack struct {
		OK bool `json:"ok"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(answer, &ack) != nil || !ack.OK {
		s.setLastError(fmt.Sprintf("webhook answered %d %q", resp.StatusCode, truncate(string(answer), 100)))
	}
	return resp.StatusCode, answer, nil
}

// VerifyWebhook performs the platform's handshake: GET {url}?challenge=… signed over the
// challenge; the webhook must echo the challenge.
func (s *Server) VerifyWebhook(ctx context.Context) error {
	wh := s.Webhook()
	if wh.URL == "" {
		return errors.New("exampletest: no webhook registered")
	}
	challenge := "challenge-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	u, err := url.Parse(wh.URL)
	if err != nil {
		return fmt.Errorf("exampletest: webhook url: %w", err)
	}
	q := u.Query()
	q.Set(example.ChallengeParam, challenge)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("exampletest: handshake request: %w", err)
	}
	req.Header.Set(example.SignatureHeader, example.Sign(wh.Secret, []byte(challenge)))
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("exampletest: handshake: %w", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK || string(got) != challenge {
		return fmt.Errorf("exampletest: handshake answered %d %q, want 200 %q", resp.StatusCode, truncate(string(got), 100), challenge)
	}
	return nil
}

func (s *Server) setLastError(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastError, s.lastErrorAt = msg, time.Now()
}

// api wraps an API handler: it reads the body (capped), records the call under the route's
// pattern ("POST /messages") and checks the bearer token in constant time.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		s.Record(r.Pattern, body)
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "file_too_large", "request body too large", 0)
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.Token)) != 1 {
			writeError(w, http.StatusUnauthorized, "unauthorized", "invalid bot token", 0)
			return
		}
		h(w, r, body)
	}
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, _ []byte) {
	writeJSON(w, http.StatusOK, map[string]any{"id": BotID, "name": BotName, "username": "example_test_bot"})
}

func (s *Server) handleSetWebhook(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		URL    string   `json:"url"`
		Secret string   `json:"secret"`
		Types  []string `json:"types"`
	}
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error(), 0)
		return
	}
	if u, err := url.Parse(req.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		writeError(w, http.StatusBadRequest, "bad_url", "url must be an absolute http(s) URL", 0)
		return
	}
	if len(req.Secret) < 16 {
		writeError(w, http.StatusBadRequest, "bad_secret", "secret must be at least 16 characters", 0)
		return
	}
	s.mu.Lock()
	s.webhook = Webhook{URL: req.URL, Secret: req.Secret, Types: req.Types}
	s.lastError = ""
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) handleGetWebhook(w http.ResponseWriter, r *http.Request, _ []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := map[string]any{"url": s.webhook.URL, "pending_updates": 0}
	if s.lastError != "" {
		info["last_error"] = s.lastError
		info["last_error_date"] = s.lastErrorAt.Unix()
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request, _ []byte) {
	s.mu.Lock()
	had := s.webhook.URL != ""
	s.webhook = Webhook{}
	s.mu.Unlock()
	if !had {
		writeError(w, http.StatusNotFound, "webhook_not_found", "no webhook is registered", 0)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// sendFailure returns the failure armed for this send call, if any: first one set with
// FailNext (the conformance suite's), then the queued ones. Blocked chats fail every time.
func (s *Server) sendFailure(chatID string) (failure, bool) {
	s.mu.Lock()
	s.sendTimes = append(s.sendTimes, time.Now())
	s.mu.Unlock()
	switch s.TakeFailure() {
	case providertest.FailTransient:
		return failure{status: http.StatusServiceUnavailable}, true
	case providertest.FailRateLimited:
		return failure{status: http.StatusTooManyRequests, retryAfter: 2}, true
	case providertest.FailBlocked:
		return failure{status: http.StatusForbidden}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		if !f.pass {
			return f, true
		}
	}
	if s.blocked[chatID] {
		return failure{status: http.StatusForbidden}, true
	}
	return failure{}, false
}

func writeFailure(w http.ResponseWriter, f failure) {
	switch {
	case f.status == http.StatusForbidden:
		writeError(w, f.status, "user_blocked", "the user blocked the bot", 0)
	case f.status == http.StatusUnauthorized:
		writeError(w, f.status, "unauthorized", "invalid bot token", 0)
	case f.status == http.StatusTooManyRequests:
		writeError(w, f.status, "rate_limited", "too many requests", f.retryAfter)
	case f.status >= 500:
		writeError(w, f.status, "internal_error", "temporary failure, try again", 0)
	default:
		writeError(w, f.status, "bad_request", http.StatusText(f.status), 0)
	}
}

// accept stores a sent message under a new id, or returns the id already given to the same
// idempotency key.
func (s *Server) accept(m SentMessage) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.IdempotencyKey != "" {
		if id, ok := s.idempotency[m.IdempotencyKey]; ok {
			return id
		}
	}
	s.nextID++
	m.ID = s.nextID
	if m.IdempotencyKey != "" {
		s.idempotency[m.IdempotencyKey] = m.ID
	}
	s.messages[m.ID] = m
	s.sent = append(s.sent, m)
	return m.ID
}

func (s *Server) handleSendMessage(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		ChatID  string `json:"chat_id"`
		Text    string `json:"text"`
		ReplyTo int64  `json:"reply_to"`
		Buttons [][]struct {
			Text string `json:"text"`
			Data string `json:"data"`
			URL  string `json:"url"`
		} `json:"buttons"`
	}
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error(), 0)
		return
	}
	switch {
	case req.ChatID == "":
		writeError(w, http.StatusBadRequest, "bad_request", "chat_id is required", 0)
		return
	case strings.TrimSpace(req.Text) == "":
		writeError(w, http.StatusBadRequest, "bad_request", "text is required", 0)
		return
	case utf8.RuneCountInString(req.Text) > maxText:
		writeError(w, http.StatusBadRequest, "text_too_long", fmt.Sprintf("text is longer than %d characters", maxText), 0)
		return
	}
	m := SentMessage{ChatID: req.ChatID, Text: req.Text, ReplyTo: req.ReplyTo, IdempotencyKey: r.Header.Get("Idempotency-Key")}
	for _, row := range req.Buttons {
		var out []Button
		for _, b := range row {
			if b.Text == "" || (b.Data == "") == (b.URL == "") || len(b.Data) > maxButtonData {
				writeError(w, http.StatusBadRequest, "bad_button", "a button needs text and exactly one of data (≤64 bytes) or url", 0)
				return
			}
			out = append(out, Button{Text: b.Text, Data: b.Data, URL: b.URL})
		}
		m.Buttons = append(m.Buttons, out)
	}
	if f, ok := s.sendFailure(req.ChatID); ok {
		writeFailure(w, f)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": s.accept(m)})
}

func (s *Server) handleSendFile(w http.ResponseWriter, r *http.Request, body []byte) {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "want multipart/form-data", 0)
		return
	}
	m := SentMessage{IdempotencyKey: r.Header.Get("Idempotency-Key")}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	haveFile := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "bad multipart body: "+err.Error(), 0)
			return
		}
		data, err := io.ReadAll(part)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "bad multipart body: "+err.Error(), 0)
			return
		}
		switch part.FormName() {
		case "chat_id":
			m.ChatID = string(data)
		case "caption":
			m.Caption = string(data)
		case "file":
			haveFile = true
			m.FileName, m.FileMIME, m.File = part.FileName(), part.Header.Get("Content-Type"), data
		default:
			writeError(w, http.StatusBadRequest, "bad_request", "unknown field "+part.FormName(), 0)
			return
		}
	}
	switch {
	case m.ChatID == "":
		writeError(w, http.StatusBadRequest, "bad_request", "chat_id is required", 0)
		return
	case !haveFile || m.FileName == "":
		writeError(w, http.StatusBadRequest, "bad_request", "file with a file name is required", 0)
		return
	case len(m.File) > maxUpload:
		writeError(w, http.StatusRequestEntityTooLarge, "file_too_large", "files are limited to 20 MB", 0)
		return
	}
	if f, ok := s.sendFailure(m.ChatID); ok {
		writeFailure(w, f)
		return
	}
	id := s.accept(m)
	s.mu.Lock()
	s.files["f-"+strconv.FormatInt(id, 10)] = storedFile{name: m.FileName, mime: m.FileMIME, content: m.File}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"id": id})
}

func (s *Server) handleDeleteMessage(w http.ResponseWriter, r *http.Request, _ []byte) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "message id must be a number", 0)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.messages[id]; !ok {
		writeError(w, http.StatusNotFound, "message_not_found", "message not found", 0)
		return
	}
	if s.old[id] {
		writeError(w, http.StatusBadRequest, "message_too_old", "messages older than 24 hours cannot be deleted", 0)
		return
	}
	delete(s.messages, id)
	s.deleted = append(s.deleted, id)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) handleGetFile(w http.ResponseWriter, r *http.Request, _ []byte) {
	id := r.PathValue("id")
	s.mu.Lock()
	f, ok := s.files[id]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "file_not_found", "file not found", 0)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "url": s.URL() + "/download/" + url.PathEscape(id), "name": f.name, "mime": f.mime, "size": len(f.content),
	})
}

func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request, _ []byte) {
	s.mu.Lock()
	f, ok := s.files[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "file_not_found", "file not found", 0)
		return
	}
	if f.mime != "" {
		w.Header().Set("Content-Type", f.mime)
	}
	w.Write(f.content)
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request, _ []byte) {
	id := r.PathValue("id")
	s.mu.Lock()
	u, ok := s.users[id]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "user_not_found", "user not found", 0)
		return
	}
	avatar := u.AvatarURL
	if avatar == "" {
		avatar = s.URL() + "/avatars/" + url.PathEscape(id) + ".png"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": u.ID, "first_name": u.FirstName, "last_name": u.LastName, "username": u.Username,
		"language": u.Language, "avatar_url": avatar,
	})
}

func (s *Server) handleAnswer(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Text string `json:"text"`
	}
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error(), 0)
		return
	}
	s.mu.Lock()
	s.answered = append(s.answered, r.PathValue("id"))
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// decodeStrict decodes one JSON value and rejects unknown fields, as a strict API would.
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

// writeError writes the platform's error body {"error":{"code","message","retry_after"?}}.
func writeError(w http.ResponseWriter, status int, code, message string, retryAfter int) {
	e := map[string]any{"code": code, "message": message}
	if retryAfter > 0 {
		e["retry_after"] = retryAfter
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// onePixelPNG is the avatar the fake serves: a real PNG, so avatar downloads can be checked
// for an image content type and decoded.
func onePixelPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.RGBA{R: 0x33, G: 0x66, B: 0x99, A: 0xff})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic("exampletest: encode avatar: " + err.Error())
	}
	return b.Bytes()
}
