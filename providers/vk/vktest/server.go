// Package vktest is a fake VK: an httptest server that speaks the parts of the VK API the
// vk provider uses (POST /method/<name> with form parameters and a bearer token, answers
// {"response":…} or {"error":{error_code,error_msg,request_params}} with HTTP 200, the
// photo and document upload servers), records every call and can be told to fail. It also
// plays VK's Callback API side: Deliver posts events to the callback server the provider
// registered, with the secret key it registered, and Confirm performs VK's confirmation.
//
// It keeps its own copy of the wire format instead of importing the provider, so a provider
// that sends a misspelt parameter fails here as it would against VK.
//
//	fake := vktest.NewServer()
//	defer fake.Close()
//	settings := fake.Settings() // group_id, group_token, api_url
//	…
//	fake.FailNext(providertest.FailBlocked)  // the next messages.send answers error 901
//	fake.Sent()                              // what the provider sent
//	fake.Confirm(ctx)                        // VK's confirmation request to the registered server
//	fake.DeliverMessage(ctx, "ev1", vktest.UserID, 1, "Hello") // a visitor writes
package vktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/providertest"
)

// Values a new Server starts with.
const (
	// DefaultToken is the community token the fake accepts (Server.Token).
	DefaultToken = "vk1.a.fake-community-token-0123456789abcdef"
	// DefaultUserToken is an administrator's user token (the app_token setting) it accepts.
	DefaultUserToken = "vk1.a.fake-admin-user-token-fedcba9876543210"
	// GroupID and GroupName are the fake's community.
	GroupID   = 229000001
	GroupName = "Omnichat Test Community"
	// ConfirmationCode is what groups.getCallbackConfirmationCode answers.
	ConfirmationCode = "5f2b9e1c"
	// UserID is a visitor the fake knows from the start (users.get).
	UserID = 1001
)

// VK limits the fake enforces.
const (
	maxText       = 4096
	maxServers    = 10
	maxTitle      = 14
	maxSecretKey  = 50
	maxLabel      = 40
	maxPayload    = 255
	maxBody       = 210 << 20
	chatPeerBase  = 2000000000
	apiVersionMin = "5.199"
)

// User is a VK user the fake knows.
type User struct {
	ID        int64
	FirstName string
	LastName  string
	Screen    string
	Photo200  string
}

// SentMessage is one message messages.send accepted.
type SentMessage struct {
	ID          int64 // 0 in conversations
	PeerID      int64
	CMID        int64 // conversation_message_id
	RandomID    int64
	Text        string
	Keyboard    string   // the keyboard JSON as sent
	Attachments []string // "photo-1_2_key", "doc-1_3"
	ReplyTo     int64
	Forward     string // the forward JSON as sent
}

// CallbackServer is a callback server added with groups.addCallbackServer.
type CallbackServer struct {
	ID         int64
	Title      string
	URL        string
	SecretKey  string
	Status     string // "unconfigured", then "ok" or "failed" after Confirm
	APIVersion string
	Events     map[string]bool // from groups.setCallbackSettings
}

// Answer is one messages.sendMessageEventAnswer call.
type Answer struct {
	EventID string
	UserID  int64
	PeerID  int64
}

// Upload is one file the fake's upload servers received.
type Upload struct {
	Kind    string // "photo" or "doc"
	Name    string
	Content []byte
}

type savedFile struct {
	kind, name string
	size       int64
}

// Server is the fake VK. Exported fields may be changed before the first request.
type Server struct {
	providertest.Recorder

	Token            string // community token
	UserToken        string // administrator's user token
	GroupID          int64
	GroupName        string
	ConfirmationCode string

	srv    *httptest.Server
	client *http.Client

	mu         sync.Mutex
	users      map[int64]User
	nextID     int64
	cmids      map[int64]int64           // peer → last conversation_message_id
	byRandom   map[int64]json.RawMessage // random_id → the answer given
	messages   map[string]*SentMessage   // "id:<n>" or "<peer>:<cmid>"
	old        map[string]bool           // messages too old to delete
	blocked    map[int64]bool            // peers that blocked the community
	sent       []SentMessage
	deleted    []string
	answered   []Answer
	uploads    []Upload
	pending    map[string]savedFile // upload results not yet saved
	saved      map[string]bool      // attachment strings messages.send accepts
	servers    map[int64]*CallbackServer
	nextServer int64
}

// NewServer starts a fake VK with the community GroupID, its token DefaultToken, the admin
// token DefaultUserToken and the visitor UserID. Close it when done.
func NewServer() *Server {
	s := &Server{
		Token:            DefaultToken,
		UserToken:        DefaultUserToken,
		GroupID:          GroupID,
		GroupName:        GroupName,
		ConfirmationCode: ConfirmationCode,
		client:           &http.Client{Timeout: 10 * time.Second},
		users:            map[int64]User{},
		nextID:           100,
		cmids:            map[int64]int64{},
		byRandom:         map[int64]json.RawMessage{},
		messages:         map[string]*SentMessage{},
		old:              map[string]bool{},
		blocked:          map[int64]bool{},
		pending:          map[string]savedFile{},
		saved:            map[string]bool{},
		servers:          map[int64]*CallbackServer{},
		nextServer:       1,
	}
	s.users[UserID] = User{ID: UserID, FirstName: "Ivan", LastName: "Petrov", Screen: "ivan.petrov",
		Photo200: "https://sun1-1.userapi.com/s/v1/ig2/fake-avatar.jpg?size=200x200"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /method/{name}", s.handleMethod)
	mux.HandleFunc("POST /upload/photo", s.handleUploadPhoto)
	mux.HandleFunc("POST /upload/doc", s.handleUploadDoc)
	s.srv = httptest.NewServer(mux)
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// URL is the base URL for the api_url setting.
func (s *Server) URL() string { return s.srv.URL }

// Settings returns channel settings the fake accepts: group_id, group_token and api_url.
func (s *Server) Settings() providers.Settings {
	return providers.Settings{
		"group_id":    strconv.FormatInt(s.GroupID, 10),
		"group_token": s.Token,
		"api_url":     s.URL(),
	}
}

// AddUser makes a user known to users.get.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// Block makes every messages.send to peer fail with error 900, as after the visitor put the
// community on their blacklist.
func (s *Server) Block(peer int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[peer] = true
}

// MarkOld makes a sent message (its ExternalID: "<id>" or "<peer>:<cmid>") older than VK's
// 24 hours: messages.delete with delete_for_all answers error 924.
func (s *Server) MarkOld(externalID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.old[externalID] = true
}

// Reset forgets recorded calls, sent messages, deletions, answers, uploads and the pending
// failure. VK's state stays: users, callback servers, message ids and random_ids.
func (s *Server) Reset() {
	s.Recorder.Reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent, s.deleted, s.answered, s.uploads = nil, nil, nil, nil
}

// Sent returns the messages accepted since the last Reset, in order. A repeated random_id
// appears once.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage(nil), s.sent...)
}

// Deleted returns the ExternalIDs ("<id>" or "<peer>:<cmid>") deleted since the last Reset.
func (s *Server) Deleted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.deleted...)
}

// Answered returns the button answers since the last Reset.
func (s *Server) Answered() []Answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Answer(nil), s.answered...)
}

// Uploads returns the files received by the upload servers since the last Reset.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Upload(nil), s.uploads...)
}

// CallbackServers returns the community's callback servers, by id.
func (s *Server) CallbackServers() []CallbackServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []CallbackServer
	for id := int64(1); id < s.nextServer; id++ {
		if cs, ok := s.servers[id]; ok {
			c := *cs
			c.Events = map[string]bool{}
			for k, v := range cs.Events {
				c.Events[k] = v
			}
			out = append(out, c)
		}
	}
	return out
}

// callbackServer returns the most recently added callback server.
func (s *Server) callbackServer() (CallbackServer, error) {
	list := s.CallbackServers()
	if len(list) == 0 {
		return CallbackServer{}, errors.New("vktest: no callback server added")
	}
	return list[len(list)-1], nil
}

// Confirm does what VK does after a callback server is added: it POSTs
// {"type":"confirmation","group_id":…,"secret":…} (the secret key the server was added with,
// when it has one) to the server's URL and expects the confirmation
// code as the answer; the server's status becomes "ok" or "failed".
func (s *Server) Confirm(ctx context.Context) error {
	cs, err := s.callbackServer()
	if err != nil {
		return err
	}
	msg := map[string]any{"type": "confirmation", "group_id": s.GroupID}
	if cs.SecretKey != "" {
		msg["secret"] = cs.SecretKey
	}
	body, _ := json.Marshal(msg)
	status, answer, err := s.post(ctx, cs.URL, body)
	ok := err == nil && status == http.StatusOK && string(answer) == s.ConfirmationCode
	s.mu.Lock()
	if c := s.servers[cs.ID]; c != nil {
		c.Status = map[bool]string{true: "ok", false: "failed"}[ok]
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("vktest: confirmation answered %d %q, want 200 %q", status, truncate(string(answer), 100), s.ConfirmationCode)
	}
	return nil
}

// Event builds a Callback API event for the most recent callback server, with the secret key
// it was registered with, as VK sends it.
func (s *Server) Event(eventType, eventID string, object any) ([]byte, error) {
	cs, err := s.callbackServer()
	if err != nil {
		return nil, err
	}
	return EventBody(s.GroupID, cs.SecretKey, eventType, eventID, object)
}

// EventBody builds a Callback API event body {"group_id","type","event_id","v","object",
// "secret"} with secretKey as VK's "secret" field.
func EventBody(groupID int64, secretKey, eventType, eventID string, object any) ([]byte, error) {
	obj, err := json.Marshal(object)
	if err != nil {
		return nil, fmt.Errorf("vktest: event object: %w", err)
	}
	return json.Marshal(map[string]any{
		"group_id": groupID, "type": eventType, "event_id": eventID, "v": apiVersionMin,
		"object": json.RawMessage(obj), "secret": secretKey,
	})
}

// Deliver POSTs body to the most recent callback server as VK does and returns the answer.
// VK treats anything but 200 "ok" as a failure and sends the event again (with an
// X-Retry-Counter header): call Deliver again with the same body to play that.
func (s *Server) Deliver(ctx context.Context, body []byte) (int, []byte, error) {
	cs, err := s.callbackServer()
	if err != nil {
		return 0, nil, err
	}
	return s.post(ctx, cs.URL, body)
}

// DeliverEvent builds an event (see Event) and delivers it.
func (s *Server) DeliverEvent(ctx context.Context, eventType, eventID string, object any) (int, []byte, error) {
	body, err := s.Event(eventType, eventID, object)
	if err != nil {
		return 0, nil, err
	}
	return s.Deliver(ctx, body)
}

// DeliverMessage delivers message_new: visitor fromID writes text in a private dialog, as
// message cmid of that dialog. The provider's ExternalID for it is "<fromID>:<cmid>".
func (s *Server) DeliverMessage(ctx context.Context, eventID string, fromID, cmid int64, text string) (int, []byte, error) {
	return s.DeliverEvent(ctx, "message_new", eventID, MessageNewObject(fromID, cmid, text, time.Now()))
}

// MessageNewObject is message_new's object (API 5.199) for a text in a private dialog.
func MessageNewObject(fromID, cmid int64, text string, t time.Time) map[string]any {
	return map[string]any{
		"client_info": map[string]any{
			"button_actions":  []string{"text", "vkpay", "open_app", "location", "open_link", "callback"},
			"keyboard":        true,
			"inline_keyboard": true,
			"carousel":        true,
			"lang_id":         0,
		},
		"message": map[string]any{
			"date": t.Unix(), "from_id": fromID, "id": cmid, "version": 10000000 + cmid, "out": 0,
			"fwd_messages": []any{}, "important": false, "is_hidden": false, "attachments": []any{},
			"conversation_message_id": cmid, "text": text, "peer_id": fromID, "random_id": 0,
		},
	}
}

func (s *Server) post(ctx context.Context, target string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("vktest: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("vktest: post to callback server: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("vktest: read answer: %w", err)
	}
	return resp.StatusCode, answer, nil
}

// apiError is VK's error answer.
type apiError struct {
	code int
	msg  string
}

var (
	errAuth         = apiError{5, "User authorization failed: invalid access_token (4)."}
	errTooMany      = apiError{6, "Too many requests per second"}
	errNoVersion    = apiError{8, "Invalid request: v (version) is required"}
	errAccess       = apiError{15, "Access denied: no access to call this method"}
	errUnknown      = apiError{3, "Unknown method passed"}
	errDenySend     = apiError{901, "Can't send messages for users without permission"}
	errBlacklist    = apiError{900, "Can't send messages for user from blacklist"}
	errKeyboard     = apiError{911, "Keyboard format is invalid"}
	errTooLong      = apiError{914, "Message is too long"}
	errCantDelete   = apiError{924, "Can't delete this message for everybody"}
	errNotFound     = apiError{104, "Not found"}
	errServersLimit = apiError{2000, "Servers number limit is reached"}
)

func param(msg string) apiError {
	return apiError{100, "One of the parameters specified was missing or invalid: " + msg}
}

type call struct {
	method string
	form   url.Values
	token  string
}

func (s *Server) handleMethod(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("name")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	s.Record(method, body)
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeError(w, method, nil, param("body is not form-encoded"))
		return
	}
	for k, vs := range r.URL.Query() {
		form[k] = append(form[k], vs...)
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = form.Get("access_token")
	}
	c := call{method: method, form: form, token: token}
	if form.Get("v") == "" {
		writeError(w, method, form, errNoVersion)
		return
	}
	if token != s.Token && (s.UserToken == "" || token != s.UserToken) {
		writeError(w, method, form, errAuth)
		return
	}
	handlers := map[string]func(call) (any, *apiError){
		"groups.getById":                     s.groupsGetByID,
		"groups.getCallbackConfirmationCode": s.getConfirmationCode,
		"groups.getCallbackServers":          s.getCallbackServers,
		"groups.addCallbackServer":           s.addCallbackServer,
		"groups.editCallbackServer":          s.editCallbackServer,
		"groups.deleteCallbackServer":        s.deleteCallbackServer,
		"groups.setCallbackSettings":         s.setCallbackSettings,
		"users.get":                          s.usersGet,
		"messages.delete":                    s.messagesDelete,
		"messages.sendMessageEventAnswer":    s.sendMessageEventAnswer,
		"photos.getMessagesUploadServer":     s.photoUploadServer,
		"photos.saveMessagesPhoto":           s.savePhoto,
		"docs.getMessagesUploadServer":       s.docUploadServer,
		"docs.save":                          s.docsSave,
	}
	if method == "messages.send" {
		s.messagesSend(w, c)
		return
	}
	h, ok := handlers[method]
	if !ok {
		writeError(w, method, form, errUnknown)
		return
	}
	resp, aerr := h(c)
	if aerr != nil {
		writeError(w, method, form, *aerr)
		return
	}
	writeResponse(w, resp)
}

func writeResponse(w http.ResponseWriter, resp any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"response": resp})
}

// writeError answers as VK does: HTTP 200 with the error and the request's parameters
// (without the token).
func writeError(w http.ResponseWriter, method string, form url.Values, e apiError) {
	params := []map[string]string{{"key": "method", "value": method}, {"key": "oauth", "value": "1"}}
	if v := form.Get("v"); v != "" {
		params = append(params, map[string]string{"key": "v", "value": v})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"error_code": e.code, "error_msg": e.msg, "request_params": params,
	}})
}

func (s *Server) isGroupToken(c call) bool { return c.token == s.Token }

func intParam(c call, name string) (int64, bool) {
	n, err := strconv.ParseInt(c.form.Get(name), 10, 64)
	return n, err == nil
}

func (s *Server) ourGroup(c call) *apiError {
	id, ok := intParam(c, "group_id")
	if !ok {
		e := param("group_id is undefined")
		return &e
	}
	if id != s.GroupID {
		return &errAccess
	}
	return nil
}

func (s *Server) groupJSON() map[string]any {
	return map[string]any{
		"id": s.GroupID, "name": s.GroupName, "screen_name": "club" + strconv.FormatInt(s.GroupID, 10),
		"is_closed": 0, "type": "group",
		"photo_50":  "https://sun1-2.userapi.com/s/v1/if1/fake-group.jpg?size=50x50",
		"photo_200": "https://sun1-2.userapi.com/s/v1/if1/fake-group.jpg?size=200x200",
	}
}

// groups.getById: without group_id a community token gets its own community; a user token
// must name one.
func (s *Server) groupsGetByID(c call) (any, *apiError) {
	ids := c.form.Get("group_id")
	if ids == "" {
		ids = c.form.Get("group_ids")
	}
	if ids == "" {
		if !s.isGroupToken(c) {
			e := param("group_ids is undefined")
			return nil, &e
		}
		ids = strconv.FormatInt(s.GroupID, 10)
	}
	var groups []any
	for _, id := range strings.Split(ids, ",") {
		n, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(id), "club"), 10, 64)
		if err != nil || n != s.GroupID {
			e := param("group_ids is invalid")
			return nil, &e
		}
		groups = append(groups, s.groupJSON())
	}
	return map[string]any{"groups": groups, "profiles": []any{}}, nil
}

func (s *Server) getConfirmationCode(c call) (any, *apiError) {
	if e := s.ourGroup(c); e != nil {
		return nil, e
	}
	return map[string]any{"code": s.ConfirmationCode}, nil
}

func (s *Server) getCallbackServers(c call) (any, *apiError) {
	if e := s.ourGroup(c); e != nil {
		return nil, e
	}
	var items []any
	for _, cs := range s.CallbackServers() {
		items = append(items, map[string]any{
			"id": cs.ID, "title": cs.Title, "creator_id": 1, "url": cs.URL,
			"secret_key": cs.SecretKey, "status": cs.Status,
		})
	}
	if items == nil {
		items = []any{}
	}
	return map[string]any{"count": len(items), "items": items}, nil
}

// validateServer checks url, title and secret_key as VK does.
func validateServer(c call) *apiError {
	u, err := url.Parse(c.form.Get("url"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e := param("url is invalid")
		return &e
	}
	if t := c.form.Get("title"); t == "" || utf8.RuneCountInString(t) > maxTitle {
		e := param("title is invalid")
		return &e
	}
	key := c.form.Get("secret_key")
	if len(key) > maxSecretKey {
		e := param("secret_key is too long")
		return &e
	}
	for _, r := range key {
		if !('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') && !('0' <= r && r <= '9') {
			e := param("secret_key may contain only latin letters and digits")
			return &e
		}
	}
	return nil
}

func (s *Server) addCallbackServer(c call) (any, *apiError) {
	if e := s.ourGroup(c); e != nil {
		return nil, e
	}
	if e := validateServer(c); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.servers) >= maxServers {
		return nil, &errServersLimit
	}
	id := s.nextServer
	s.nextServer++
	s.servers[id] = &CallbackServer{ID: id, Title: c.form.Get("title"), URL: c.form.Get("url"),
		SecretKey: c.form.Get("secret_key"), Status: "unconfigured", Events: map[string]bool{}}
	return map[string]any{"server_id": id}, nil
}

func (s *Server) server(c call) (*CallbackServer, *apiError) {
	id, ok := intParam(c, "server_id")
	if !ok {
		e := param("server_id is undefined")
		return nil, &e
	}
	cs := s.servers[id]
	if cs == nil {
		return nil, &errNotFound
	}
	return cs, nil
}

func (s *Server) editCallbackServer(c call) (any, *apiError) {
	if e := s.ourGroup(c); e != nil {
		return nil, e
	}
	if e := validateServer(c); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, e := s.server(c)
	if e != nil {
		return nil, e
	}
	cs.Title, cs.URL, cs.SecretKey, cs.Status = c.form.Get("title"), c.form.Get("url"), c.form.Get("secret_key"), "unconfigured"
	return 1, nil
}

func (s *Server) deleteCallbackServer(c call) (any, *apiError) {
	if e := s.ourGroup(c); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, e := s.server(c)
	if e != nil {
		return nil, e
	}
	delete(s.servers, cs.ID)
	return 1, nil
}

func (s *Server) setCallbackSettings(c call) (any, *apiError) {
	if e := s.ourGroup(c); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, e := s.server(c)
	if e != nil {
		return nil, e
	}
	if v := c.form.Get("api_version"); v != "" {
		cs.APIVersion = v
	}
	for k, vs := range c.form {
		switch k {
		case "group_id", "server_id", "api_version", "v", "access_token":
			continue
		}
		if len(vs) > 0 && (vs[0] == "0" || vs[0] == "1") {
			cs.Events[k] = vs[0] == "1"
		}
	}
	return 1, nil
}

func (s *Server) usersGet(c call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fields := "," + c.form.Get("fields") + ","
	var out []any
	for _, id := range strings.Split(c.form.Get("user_ids"), ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
		u, known := s.users[n]
		if err != nil || !known {
			return nil, &apiError{113, "Invalid user id"}
		}
		m := map[string]any{"id": u.ID, "first_name": u.FirstName, "last_name": u.LastName,
			"can_access_closed": true, "is_closed": false}
		if strings.Contains(fields, ",screen_name,") {
			m["screen_name"] = u.Screen
		}
		photo := u.Photo200
		if photo == "" {
			photo = "https://vk.com/images/camera_200.png"
		}
		if strings.Contains(fields, ",photo_200,") {
			m["photo_200"] = photo
		}
		if strings.Contains(fields, ",photo_max_orig,") {
			m["photo_max_orig"] = photo
		}
		out = append(out, m)
	}
	return out, nil
}

// messagesSend handles messages.send: the one "send call" FailNext applies to.
func (s *Server) messagesSend(w http.ResponseWriter, c call) {
	switch s.TakeFailure() {
	case providertest.FailTransient:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
		return
	case providertest.FailRateLimited:
		writeError(w, c.method, c.form, errTooMany)
		return
	case providertest.FailBlocked:
		writeError(w, c.method, c.form, errDenySend)
		return
	}
	resp, aerr := s.send(c)
	if aerr != nil {
		writeError(w, c.method, c.form, *aerr)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write([]byte(`{"response":`))
	_, _ = w.Write(resp)
	_, _ = w.Write([]byte("}"))
}

func (s *Server) send(c call) (json.RawMessage, *apiError) {
	if !s.isGroupToken(c) {
		return nil, &errAccess
	}
	randomID, ok := intParam(c, "random_id")
	if !ok {
		e := param("random_id is a required parameter")
		return nil, &e
	}
	var peer int64
	byIDs := false
	switch {
	case c.form.Get("peer_id") != "" && c.form.Get("peer_ids") != "":
		e := param("peer_id and peer_ids are mutually exclusive")
		return nil, &e
	case c.form.Get("peer_id") != "":
		peer, ok = intParam(c, "peer_id")
	case c.form.Get("peer_ids") != "":
		peer, ok = intParam(c, "peer_ids")
		byIDs = true
	default:
		ok = false
	}
	if !ok || peer == 0 {
		e := param("peer_id is undefined")
		return nil, &e
	}
	text := c.form.Get("message")
	var atts []string
	if a := c.form.Get("attachment"); a != "" {
		atts = strings.Split(a, ",")
	}
	if text == "" && len(atts) == 0 {
		e := param("message is empty or invalid")
		return nil, &e
	}
	if utf8.RuneCountInString(text) > maxText {
		return nil, &errTooLong
	}
	if kb := c.form.Get("keyboard"); kb != "" {
		if err := validateKeyboard(kb); err != nil {
			return nil, &errKeyboard
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, seen := s.byRandom[randomID]; seen && randomID != 0 {
		// VK's idempotency: the same random_id sends nothing new and answers the same.
		return prev, nil
	}
	if s.blocked[peer] {
		return nil, &errBlacklist
	}
	for _, a := range atts {
		if !s.saved[a] {
			e := param("attachment " + a + " is invalid")
			return nil, &e
		}
	}
	s.cmids[peer]++
	m := SentMessage{PeerID: peer, CMID: s.cmids[peer], RandomID: randomID, Text: text,
		Keyboard: c.form.Get("keyboard"), Attachments: atts, Forward: c.form.Get("forward")}
	m.ReplyTo, _ = intParam(c, "reply_to")
	var resp any
	if peer >= chatPeerBase {
		// A community has no message ids in conversations.
		s.messages[fmt.Sprintf("%d:%d", peer, m.CMID)] = &m
	} else {
		s.nextID++
		m.ID = s.nextID
		s.messages[strconv.FormatInt(m.ID, 10)] = &m
		s.messages[fmt.Sprintf("%d:%d", peer, m.CMID)] = &m
	}
	if byIDs {
		resp = []any{map[string]any{"peer_id": peer, "message_id": m.ID, "conversation_message_id": m.CMID}}
	} else {
		resp = m.ID
	}
	b, _ := json.Marshal(resp)
	if randomID != 0 {
		s.byRandom[randomID] = b
	}
	s.sent = append(s.sent, m)
	return b, nil
}

// keyboard mirrors VK's keyboard object; unknown fields are an error, as in VK's 911.
type keyboard struct {
	OneTime bool `json:"one_time"`
	Inline  bool `json:"inline"`
	Buttons [][]struct {
		Action struct {
			Type    string `json:"type"`
			Label   string `json:"label"`
			Payload string `json:"payload"`
			Link    string `json:"link"`
		} `json:"action"`
		Color string `json:"color"`
	} `json:"buttons"`
}

func validateKeyboard(raw string) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	var kb keyboard
	if err := dec.Decode(&kb); err != nil {
		return err
	}
	maxRows, maxTotal := 10, 40
	if kb.Inline {
		maxRows, maxTotal = 6, 10
		if kb.OneTime {
			return errors.New("one_time with inline")
		}
	}
	if len(kb.Buttons) > maxRows {
		return errors.New("too many rows")
	}
	total := 0
	for _, row := range kb.Buttons {
		if len(row) == 0 || len(row) > 5 {
			return errors.New("bad row")
		}
		for _, b := range row {
			total++
			a := b.Action
			switch a.Type {
			case "text", "callback":
				if b.Color != "" && b.Color != "primary" && b.Color != "secondary" && b.Color != "negative" && b.Color != "positive" {
					return errors.New("bad color")
				}
			case "open_link":
				if a.Link == "" || b.Color != "" {
					return errors.New("bad open_link")
				}
			case "location", "vkpay", "open_app":
			default:
				return errors.New("bad type")
			}
			if a.Type != "location" && (a.Label == "" || utf8.RuneCountInString(a.Label) > maxLabel) {
				return errors.New("bad label")
			}
			if a.Payload != "" && (utf8.RuneCountInString(a.Payload) > maxPayload || !json.Valid([]byte(a.Payload))) {
				return errors.New("bad payload")
			}
		}
	}
	if total > maxTotal {
		return errors.New("too many buttons")
	}
	return nil
}

func (s *Server) messagesDelete(c call) (any, *apiError) {
	if !s.isGroupToken(c) {
		return nil, &errAccess
	}
	if c.form.Get("delete_for_all") != "1" {
		// A community can only delete for everyone; deleting for itself alone is meaningless.
		e := param("delete_for_all is required for a community")
		return nil, &e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	peer, _ := intParam(c, "peer_id")
	if ids := c.form.Get("message_ids"); ids != "" {
		out := map[string]int{}
		for _, id := range strings.Split(ids, ",") {
			m := s.messages[id]
			if m == nil || (peer != 0 && m.PeerID != peer) {
				return nil, &errNotFound
			}
			if s.old[id] {
				return nil, &errCantDelete
			}
			s.deleted = append(s.deleted, id)
			out[id] = 1
		}
		return out, nil
	}
	cmids := c.form.Get("cmids")
	if cmids == "" || peer == 0 {
		e := param("message_ids or peer_id with cmids is required")
		return nil, &e
	}
	var out []any
	for _, cm := range strings.Split(cmids, ",") {
		key := fmt.Sprintf("%d:%s", peer, cm)
		m := s.messages[key]
		if m == nil {
			return nil, &errNotFound
		}
		if s.old[key] || (m.ID != 0 && s.old[strconv.FormatInt(m.ID, 10)]) {
			return nil, &errCantDelete
		}
		s.deleted = append(s.deleted, key)
		out = append(out, map[string]any{"peer_id": peer, "message_id": m.ID, "conversation_message_id": m.CMID, "response": 1})
	}
	return out, nil
}

func (s *Server) sendMessageEventAnswer(c call) (any, *apiError) {
	if !s.isGroupToken(c) {
		return nil, &errAccess
	}
	user, ok1 := intParam(c, "user_id")
	peer, ok2 := intParam(c, "peer_id")
	id := c.form.Get("event_id")
	if !ok1 || !ok2 || id == "" {
		e := param("event_id, user_id and peer_id are required")
		return nil, &e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answered = append(s.answered, Answer{EventID: id, UserID: user, PeerID: peer})
	return 1, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) photoUploadServer(c call) (any, *apiError) {
	if _, ok := intParam(c, "peer_id"); !ok {
		e := param("peer_id is undefined")
		return nil, &e
	}
	return map[string]any{"album_id": -3, "user_id": 0, "group_id": s.GroupID,
		"upload_url": s.URL() + "/upload/photo?act=do_add&gid=" + strconv.FormatInt(s.GroupID, 10) + "&hash=" + randomHex(8)}, nil
}

func (s *Server) docUploadServer(c call) (any, *apiError) {
	if _, ok := intParam(c, "peer_id"); !ok {
		e := param("peer_id is undefined")
		return nil, &e
	}
	if t := c.form.Get("type"); t != "" && t != "doc" && t != "audio_message" && t != "graffiti" {
		e := param("type is invalid")
		return nil, &e
	}
	return map[string]any{"upload_url": s.URL() + "/upload/doc?act=add_doc&gid=" + strconv.FormatInt(s.GroupID, 10) + "&hash=" + randomHex(8)}, nil
}

// readUpload reads the multipart field of an upload.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, field string) (name string, content []byte, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	mr, err := r.MultipartReader()
	if err != nil {
		return "", nil, err
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return "", nil, fmt.Errorf("no %q field", field)
		}
		if err != nil {
			return "", nil, err
		}
		if part.FormName() != field {
			continue
		}
		b, err := io.ReadAll(part)
		return part.FileName(), b, err
	}
}

// Upload servers answer JSON as text/html, as VK's do.
func writeUpload(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) handleUploadPhoto(w http.ResponseWriter, r *http.Request) {
	s.Record("upload.photo", nil)
	name, content, err := s.readUpload(w, r, "photo")
	if err != nil {
		writeUpload(w, map[string]any{"error": "ERR_UPLOAD_FILE_NOT_UPLOADED: " + err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploads = append(s.uploads, Upload{Kind: "photo", Name: name, Content: content})
	if ct := http.DetectContentType(content); ct != "image/jpeg" && ct != "image/png" && ct != "image/gif" {
		writeUpload(w, map[string]any{"server": 1, "photo": "[]", "hash": ""})
		return
	}
	hash := randomHex(8)
	photo := fmt.Sprintf(`[{"markers_restarted":true,"photo":"%s:w","sizes":[],"latitude":0,"longitude":0,"kid":"%s"}]`, randomHex(5), hash)
	s.pending["photo:"+hash] = savedFile{kind: "photo", name: name, size: int64(len(content))}
	writeUpload(w, map[string]any{"server": 1, "photo": photo, "hash": hash})
}

func (s *Server) savePhoto(c call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hash := c.form.Get("hash")
	_, ok := s.pending["photo:"+hash]
	if !ok || c.form.Get("server") == "" || !strings.Contains(c.form.Get("photo"), hash) {
		return nil, &apiError{121, "Invalid hash"}
	}
	delete(s.pending, "photo:"+hash)
	s.nextID++
	id, owner, key := s.nextID, -s.GroupID, randomHex(9)
	s.saved[fmt.Sprintf("photo%d_%d_%s", owner, id, key)] = true
	s.saved[fmt.Sprintf("photo%d_%d", owner, id)] = true
	return []any{map[string]any{
		"album_id": -3, "date": time.Now().Unix(), "id": id, "owner_id": owner, "access_key": key,
		"sizes": []any{map[string]any{"height": 75, "width": 75, "type": "s", "url": s.URL() + "/photos/" + strconv.FormatInt(id, 10) + ".jpg"}},
		"text":  "", "has_tags": false,
	}}, nil
}

func (s *Server) handleUploadDoc(w http.ResponseWriter, r *http.Request) {
	s.Record("upload.doc", nil)
	name, content, err := s.readUpload(w, r, "file")
	if err != nil {
		writeUpload(w, map[string]any{"error": "no_file", "error_descr": err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploads = append(s.uploads, Upload{Kind: "doc", Name: name, Content: content})
	switch strings.ToLower(path.Ext(name)) {
	case ".mp3", ".exe":
		writeUpload(w, map[string]any{"error": "invalid_file_type", "error_descr": "This file type is not allowed"})
		return
	case "":
		writeUpload(w, map[string]any{"error": "no_extension", "error_descr": "File has no extension"})
		return
	}
	token := randomHex(16)
	s.pending["doc:"+token] = savedFile{kind: "doc", name: name, size: int64(len(content))}
	writeUpload(w, map[string]any{"file": token})
}

func (s *Server) docsSave(c call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	token := c.form.Get("file")
	f, ok := s.pending["doc:"+token]
	if !ok {
		return nil, &apiError{1152, "Invalid document title"}
	}
	delete(s.pending, "doc:"+token)
	title := c.form.Get("title")
	if title == "" {
		title = f.name
	}
	s.nextID++
	id, owner := s.nextID, -s.GroupID
	s.saved[fmt.Sprintf("doc%d_%d", owner, id)] = true
	ext := strings.TrimPrefix(path.Ext(f.name), ".")
	return map[string]any{"type": "doc", "doc": map[string]any{
		"id": id, "owner_id": owner, "title": title, "size": f.size, "ext": ext,
		"url": s.URL() + "/doc" + strconv.FormatInt(owner, 10) + "_" + strconv.FormatInt(id, 10), "date": time.Now().Unix(),
		"type": docType(ext),
	}}, nil
}

func docType(ext string) int {
	switch {
	case ext == "gif":
		return 3
	case strings.HasPrefix(mime.TypeByExtension("."+ext), "image/"):
		return 4
	case ext == "zip" || ext == "rar" || ext == "7z":
		return 2
	case ext == "txt" || ext == "pdf" || ext == "doc" || ext == "docx":
		return 1
	}
	return 8
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
