// Package facebooktest is a fake of the parts of the Facebook Graph API the facebook provider
// uses: the same paths (with or without a /vNN.N version prefix), form-encoded and multipart
// requests, tokens in the Authorization header or access_token, JSON answers and Graph error
// objects (code, error_subcode, type, fbtrace_id) with the HTTP statuses Meta uses.
//
//	fake := facebooktest.NewServer()
//	defer fake.Close()
//	settings := fake.Settings() // good credentials, api_url pointing at the fake
//
// It also builds signed webhook deliveries (see WebhookRequest and Deliver) for end-to-end
// tests of omnichat's /webhooks/{channel_id}.
package facebooktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/providertest"
)

// Defaults the fake is constructed with. Settings returns them as channel settings.
const (
	DefaultPageID    = "104620298745123"
	DefaultPageName  = "Omnichat Test Page"
	DefaultAppID     = "1517776481860111"
	DefaultAppName   = "Omnichat Test App"
	DefaultAppSecret = "fake-app-secret-7c1e5b9d2a4f"
	DefaultToken     = "EAAVfakePageToken0123456789abcdefZZ"
	// DefaultPSID is the page-scoped id of the visitor the fake knows from the start.
	DefaultPSID = "6543210987654321"
)

// Call.Method names the fake records, after Meta's own "METHOD /path" notation.
const (
	CallMe              = "GET /me"
	CallApp             = "GET /{app-id}"
	CallUser            = "GET /{psid}"
	CallSubscribeApp    = "POST /{app-id}/subscriptions"
	CallSubscribePage   = "POST /{page-id}/subscribed_apps"
	CallUnsubscribePage = "DELETE /{page-id}/subscribed_apps"
	CallSend            = "POST /me/messages"
)

// User is a visitor the fake knows (a page-scoped id with a profile).
type User struct {
	PSID      string
	FirstName string
	LastName  string
}

// QuickReply is one quick reply of a sent message.
type QuickReply struct {
	ContentType string `json:"content_type"`
	Title       string `json:"title"`
	Payload     string `json:"payload"`
}

// TemplateButton is one button of a button template.
type TemplateButton struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Payload string `json:"payload"`
	URL     string `json:"url"`
}

// SentMessage is one message the fake accepted on POST /me/messages.
type SentMessage struct {
	MID           string
	Recipient     string // the PSID
	MessagingType string // RESPONSE, UPDATE or MESSAGE_TAG
	Tag           string
	Text          string // the text, or the button template's text
	QuickReplies  []QuickReply
	Buttons       []TemplateButton // button template buttons
	// AttachmentType is image, video, audio, file or template; for uploads the file's
	// name, content type and bytes follow.
	AttachmentType string
	FileName       string
	FileType       string
	FileData       []byte
	Time           time.Time
}

// Subscription is the app's webhook subscription (POST /{app-id}/subscriptions).
type Subscription struct {
	Object      string
	CallbackURL string
	VerifyToken string
	Fields      []string
}

// GraphError is a Graph API error answer.
type GraphError struct {
	Status      int    `json:"-"`
	Message     string `json:"message"`
	Type        string `json:"type"`
	Code        int    `json:"code"`
	Subcode     int    `json:"error_subcode,omitempty"`
	IsTransient bool   `json:"is_transient,omitempty"`
	FBTraceID   string `json:"fbtrace_id"`
	// Header is added to the answer (e.g. X-Business-Use-Case-Usage for rate limits).
	Header http.Header `json:"-"`
}

// Errors the real Graph API gives, as the fake answers them.
var (
	ErrOutsideWindow = GraphError{Status: 400, Type: "OAuthException", Code: 10, Subcode: 2018278,
		Message: "(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview"}
	ErrUnavailable = GraphError{Status: 400, Type: "OAuthException", Code: 551, Subcode: 1545041,
		Message: "(#551) This person isn't available right now."}
	ErrTransient = GraphError{Status: 500, Type: "OAuthException", Code: 2, IsTransient: true,
		Message: "An unexpected error has occurred. Please retry your request later."}
	ErrNoMatchingUser = GraphError{Status: 400, Type: "OAuthException", Code: 100, Subcode: 2018001,
		Message: "(#100) No matching user found"}
	ErrInvalidToken = GraphError{Status: 400, Type: "OAuthException", Code: 190,
		Message: "Invalid OAuth access token - Cannot parse access token"}
	ErrNoToken = GraphError{Status: 400, Type: "OAuthException", Code: 2500,
		Message: "An active access token must be used to query information about the current user."}
)

// ErrRateLimited is Meta's answer to a page sending too fast; the usage header says when to
// come back (estimated_time_to_regain_access, in minutes).
func ErrRateLimited(pageID string, minutes int) GraphError {
	usage := fmt.Sprintf(`{"%s":[{"type":"messenger","call_count":100,"total_cputime":12,"total_time":15,"estimated_time_to_regain_access":%d}]}`, pageID, minutes)
	return GraphError{Status: 400, Type: "OAuthException", Code: 613,
		Message: "(#613) Calls to this api have exceeded the rate limit.",
		Header:  http.Header{"X-Business-Use-Case-Usage": []string{usage}}}
}

// Server is the fake Graph API. Set its exported fields before the first request.
type Server struct {
	providertest.Recorder

	// Token is the page access token the fake accepts; AppID and AppSecret make the app
	// access token "AppID|AppSecret" and sign webhooks.
	Token     string
	AppID     string
	AppSecret string
	AppName   string
	PageID    string
	PageName  string
	// VerifyCallback makes POST /{app-id}/subscriptions call the verify handshake on the
	// callback URL, as Meta does, and fail with code 2200 when it is not answered.
	VerifyCallback bool
	// Delay holds every answer back (for timeout tests); a cancelled request ends it.
	Delay time.Duration

	ts *httptest.Server

	mu         sync.Mutex
	users      map[string]User
	sent       []SentMessage
	sub        *Subscription
	pageFields []string
	pageSubbed bool
	files      map[string]cdnFile
	failWith   *GraphError
}

type cdnFile struct {
	contentType string
	data        []byte
}

// avatarPNG is a valid 1×1 PNG, served as every known user's profile picture.
var avatarPNG = []byte{
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
	0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
	0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
	0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
}

// NewServer starts a fake with the Default* credentials and one known user (DefaultPSID,
// Ivan Petrov). Close it when done.
func NewServer() *Server {
	s := &Server{
		Token: DefaultToken, AppID: DefaultAppID, AppSecret: DefaultAppSecret, AppName: DefaultAppName,
		PageID: DefaultPageID, PageName: DefaultPageName,
		users: map[string]User{DefaultPSID: {PSID: DefaultPSID, FirstName: "Ivan", LastName: "Petrov"}},
		files: map[string]cdnFile{},
	}
	s.ts = httptest.NewServer(s)
	return s
}

// URL is the base URL for the api_url setting.
func (s *Server) URL() string { return s.ts.URL }

// Close shuts the fake down.
func (s *Server) Close() { s.ts.Close() }

// Settings returns channel settings the fake accepts (page_name not filled: Check does that).
func (s *Server) Settings() providers.Settings {
	return providers.Settings{
		"page_id": s.PageID, "app_id": s.AppID, "app_secret": s.AppSecret,
		"page_token": s.Token, "api_url": s.URL(),
	}
}

// AddUser makes a visitor known (for sends and GET /{psid}).
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.PSID] = u
}

// AddFile serves data at the returned URL, like Meta's CDN serves attachments: put it into
// a webhook's attachment payload.url to test downloads.
func (s *Server) AddFile(name, contentType string, data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = cdnFile{contentType: contentType, data: append([]byte(nil), data...)}
	return s.URL() + "/cdn/" + url.PathEscape(name)
}

// Sent returns the messages accepted so far, in order.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage(nil), s.sent...)
}

// Subscription returns the app's webhook subscription, if one was made.
func (s *Server) Subscription() (Subscription, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sub == nil {
		return Subscription{}, false
	}
	return *s.sub, true
}

// PageSubscribed reports whether the page is subscribed to the app, and to which fields.
func (s *Server) PageSubscribed() ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.pageFields...), s.pageSubbed
}

// FailNextWith makes the next send answer with e (any Graph error, e.g. ErrUnavailable).
func (s *Server) FailNextWith(e GraphError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith = &e
}

// Reset forgets calls, sent messages and pending failures.
func (s *Server) Reset() {
	s.Recorder.Reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent, s.failWith = nil, nil
}

var reVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)

// ServeHTTP routes one Graph API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Reading the body first also lets net/http notice a client that gave up, which ends
	// the Delay below.
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	r.Body = io.NopCloser(bytes.NewReader(raw))
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-r.Context().Done():
			return
		}
	}

	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(segs) > 0 && reVersion.MatchString(segs[0]) {
		segs = segs[1:]
	}
	if len(segs) == 2 && segs[0] == "cdn" && r.Method == http.MethodGet {
		s.serveFile(w, segs[1])
		return
	}

	form, files, err := parseForm(r)
	if err != nil {
		writeError(w, GraphError{Status: 400, Type: "OAuthException", Code: 100, Message: "(#100) Could not parse the request body: " + err.Error()})
		return
	}
	method := r.Method
	if m := form.Get("method"); method == http.MethodPost && m != "" {
		// The Graph API (and huandu/facebook's Delete) tunnel other methods through POST.
		method = strings.ToUpper(m)
	}
	token := form.Get("access_token")
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = v
	}
	record := raw
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		q.Del("access_token") // never keep a token in the record
		record = []byte(q.Encode())
	}

	route := method + " /" + strings.Join(segs, "/")
	switch {
	case method == http.MethodGet && len(segs) == 1 && segs[0] == "me":
		s.Record(CallMe, record)
		if s.auth(w, token, s.Token) {
			writeJSON(w, map[string]string{"id": s.PageID, "name": s.PageName})
		}
	case method == http.MethodGet && len(segs) == 1 && segs[0] == s.AppID:
		s.Record(CallApp, record)
		if s.auth(w, token, s.appToken()) {
			writeJSON(w, map[string]string{"id": s.AppID, "name": s.AppName})
		}
	case method == http.MethodPost && len(segs) == 2 && segs[0] == s.AppID && segs[1] == "subscriptions":
		s.Record(CallSubscribeApp, raw)
		if s.auth(w, token, s.appToken()) {
			s.subscribeApp(r.Context(), w, form)
		}
	case method == http.MethodPost && len(segs) == 2 && segs[0] == s.PageID && segs[1] == "subscribed_apps":
		s.Record(CallSubscribePage, raw)
		if s.auth(w, token, s.Token) {
			s.mu.Lock()
			s.pageSubbed, s.pageFields = true, splitFields(form.Get("subscribed_fields"))
			s.mu.Unlock()
			writeJSON(w, map[string]bool{"success": true})
		}
	case method == http.MethodDelete && len(segs) == 2 && segs[0] == s.PageID && segs[1] == "subscribed_apps":
		s.Record(CallUnsubscribePage, raw)
		if s.auth(w, token, s.Token) {
			s.mu.Lock()
			s.pageSubbed, s.pageFields = false, nil
			s.mu.Unlock()
			writeJSON(w, map[string]bool{"success": true})
		}
	case method == http.MethodPost && len(segs) == 2 && (segs[0] == "me" || segs[0] == s.PageID) && segs[1] == "messages":
		s.Record(CallSend, raw)
		if s.auth(w, token, s.Token) {
			s.send(w, form, files)
		}
	case method == http.MethodGet && len(segs) == 1 && segs[0] != "":
		s.Record(CallUser, record)
		if s.auth(w, token, s.Token) {
			s.user(w, segs[0])
		}
	default:
		s.Record(route, record)
		writeError(w, GraphError{Status: 400, Type: "OAuthException", Code: 2500, Message: "Unknown path components: /" + strings.Join(segs, "/")})
	}
}

func (s *Server) appToken() string { return s.AppID + "|" + s.AppSecret }

// auth answers like Meta when token is missing or wrong and reports whether it is right.
func (s *Server) auth(w http.ResponseWriter, got, want string) bool {
	switch {
	case got == "":
		writeError(w, ErrNoToken)
		return false
	case got != want:
		writeError(w, ErrInvalidToken)
		return false
	}
	return true
}

func (s *Server) subscribeApp(ctx context.Context, w http.ResponseWriter, form url.Values) {
	sub := Subscription{
		Object: form.Get("object"), CallbackURL: form.Get("callback_url"),
		VerifyToken: form.Get("verify_token"), Fields: splitFields(form.Get("fields")),
	}
	if sub.Object == "" || sub.CallbackURL == "" {
		writeError(w, GraphError{Status: 400, Type: "OAuthException", Code: 100, Message: "(#100) The parameter object is required"})
		return
	}
	if s.VerifyCallback {
		if err := verifyCallback(ctx, sub.CallbackURL, sub.VerifyToken); err != nil {
			writeError(w, GraphError{Status: 400, Type: "OAuthException", Code: 2200,
				Message: "(#2200) callback verification failed: " + err.Error()})
			return
		}
	}
	s.mu.Lock()
	s.sub = &sub
	s.mu.Unlock()
	writeJSON(w, map[string]bool{"success": true})
}

// verifyCallback does what Meta does before accepting a callback URL: a GET with a random
// challenge that must come back as the body of a 200.
func verifyCallback(ctx context.Context, callbackURL, token string) error {
	challenge := randomDigits(10)
	req, err := VerifyRequest(ctx, callbackURL, token, challenge)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("couldn't connect to server")
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK || string(body) != challenge {
		return fmt.Errorf("the URL couldn't be validated. Response does not match challenge, expected value=\"%s\", received=\"%s\"", challenge, string(body))
	}
	return nil
}

func (s *Server) user(w http.ResponseWriter, psid string) {
	s.mu.Lock()
	u, ok := s.users[psid]
	s.mu.Unlock()
	if !ok {
		writeError(w, GraphError{Status: 400, Type: "GraphMethodException", Code: 100, Subcode: 33,
			Message: fmt.Sprintf("Unsupported get request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api", psid)})
		return
	}
	pic := s.AddFile("avatar-"+psid+".png", "image/png", avatarPNG)
	writeJSON(w, map[string]string{"id": u.PSID, "first_name": u.FirstName, "last_name": u.LastName, "profile_pic": pic})
}

func (s *Server) serveFile(w http.ResponseWriter, name string) {
	name, _ = url.PathUnescape(name)
	s.mu.Lock()
	f, ok := s.files[name]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, nil)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Write(f.data)
}

// sendMessage is the Send API's message object as the fake reads it.
type sendMessage struct {
	Text         string       `json:"text"`
	QuickReplies []QuickReply `json:"quick_replies"`
	Attachment   *struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	} `json:"attachment"`
}

func (s *Server) send(w http.ResponseWriter, form url.Values, files map[string]uploaded) {
	switch s.TakeFailure() {
	case providertest.FailTransient:
		writeError(w, ErrTransient)
		return
	case providertest.FailRateLimited:
		writeError(w, ErrRateLimited(s.PageID, 2))
		return
	case providertest.FailBlocked:
		writeError(w, ErrOutsideWindow)
		return
	}
	s.mu.Lock()
	injected := s.failWith
	s.failWith = nil
	s.mu.Unlock()
	if injected != nil {
		writeError(w, *injected)
		return
	}

	sent, gerr := s.validateSend(form, files)
	if gerr != nil {
		writeError(w, *gerr)
		return
	}
	s.mu.Lock()
	s.sent = append(s.sent, sent)
	s.mu.Unlock()
	writeJSON(w, map[string]string{"recipient_id": sent.Recipient, "message_id": sent.MID})
}

func badParam(msg string) *GraphError {
	return &GraphError{Status: 400, Type: "OAuthException", Code: 100, Message: "(#100) " + msg}
}

// validateSend checks a send the way the Send API does and returns what was sent.
func (s *Server) validateSend(form url.Values, files map[string]uploaded) (SentMessage, *GraphError) {
	var out SentMessage
	var rcpt struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(form.Get("recipient")), &rcpt); err != nil || rcpt.ID == "" {
		return out, badParam("param recipient must be a JSON object with an id")
	}
	s.mu.Lock()
	_, known := s.users[rcpt.ID]
	s.mu.Unlock()
	if !known {
		e := ErrNoMatchingUser
		return out, &e
	}
	out.Recipient = rcpt.ID
	out.MessagingType, out.Tag = form.Get("messaging_type"), form.Get("tag")
	switch out.MessagingType {
	case "RESPONSE", "UPDATE":
	case "MESSAGE_TAG":
		if out.Tag == "" {
			return out, badParam("Param tag is required for messaging_type MESSAGE_TAG")
		}
	default:
		return out, badParam("Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
	}

	var m sendMessage
	if err := json.Unmarshal([]byte(form.Get("message")), &m); err != nil {
		return out, badParam("param message must be a JSON object")
	}
	switch {
	case m.Text != "" && m.Attachment != nil:
		return out, badParam("Only one of text or attachment can be specified")
	case m.Text != "":
		if n := utf8.RuneCountInString(m.Text); n > 2000 {
			return out, badParam("Param message[text] must be UTF-8 encoded string of at most 2000 characters")
		}
		out.Text = m.Text
	case m.Attachment != nil:
		out.AttachmentType = m.Attachment.Type
		if gerr := validateAttachment(&out, m.Attachment.Type, m.Attachment.Payload, files); gerr != nil {
			return out, gerr
		}
	default:
		return out, badParam("Must send either message text or an attachment")
	}
	if len(m.QuickReplies) > 13 {
		return out, badParam("param message[quick_replies] must have at most 13 elements")
	}
	for _, q := range m.QuickReplies {
		if q.ContentType != "text" && q.ContentType != "user_phone_number" && q.ContentType != "user_email" {
			return out, badParam("param message[quick_replies][content_type] is invalid")
		}
		if q.ContentType == "text" && (q.Title == "" || utf8.RuneCountInString(q.Title) > 20 || q.Payload == "" || utf8.RuneCountInString(q.Payload) > 1000) {
			return out, badParam("Quick reply title must be 1 to 20 characters and payload 1 to 1000 characters")
		}
	}
	out.QuickReplies = m.QuickReplies
	out.MID = "m_" + randomToken(40)
	out.Time = time.Now()
	return out, nil
}

func validateAttachment(out *SentMessage, typ string, payload json.RawMessage, files map[string]uploaded) *GraphError {
	switch typ {
	case "template":
		var t struct {
			TemplateType string           `json:"template_type"`
			Text         string           `json:"text"`
			Buttons      []TemplateButton `json:"buttons"`
		}
		if err := json.Unmarshal(payload, &t); err != nil || t.TemplateType != "button" {
			return badParam("param message[attachment][payload][template_type] must be button")
		}
		if t.Text == "" || utf8.RuneCountInString(t.Text) > 640 {
			return badParam("param message[attachment][payload][text] must be non-empty UTF-8 encoded string of at most 640 characters")
		}
		if len(t.Buttons) < 1 || len(t.Buttons) > 3 {
			return badParam("param message[attachment][payload][buttons] must have 1 to 3 elements")
		}
		for _, b := range t.Buttons {
			if b.Title == "" || utf8.RuneCountInString(b.Title) > 20 {
				return badParam("Button title must be 1 to 20 characters")
			}
			switch b.Type {
			case "postback":
				if b.Payload == "" || utf8.RuneCountInString(b.Payload) > 1000 {
					return badParam("Postback payload must be 1 to 1000 characters")
				}
			case "web_url":
				if u, err := url.Parse(b.URL); err != nil || u.Host == "" {
					return badParam("Button url must be a valid URL")
				}
			default:
				return badParam("Button type " + b.Type + " is not supported")
			}
		}
		out.Text, out.Buttons = t.Text, t.Buttons
		return nil
	case "image", "video", "audio", "file":
		var p struct {
			URL        string `json:"url"`
			IsReusable *bool  `json:"is_reusable"`
		}
		_ = json.Unmarshal(payload, &p)
		f, ok := files["filedata"]
		switch {
		case ok:
			out.FileName, out.FileType, out.FileData = f.name, f.contentType, f.data
		case p.URL != "":
			out.FileName = p.URL
		default:
			return badParam("Attachment must have a url or an uploaded filedata")
		}
		if len(out.FileData) > 25<<20 {
			return badParam("Attachment size exceeds the allowable limit")
		}
		return nil
	default:
		return badParam("param message[attachment][type] must be one of {image, video, audio, file, template}")
	}
}

type uploaded struct {
	name, contentType string
	data              []byte
}

// parseForm reads query, urlencoded or multipart parameters and uploaded files.
func parseForm(r *http.Request) (url.Values, map[string]uploaded, error) {
	files := map[string]uploaded{}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "multipart/form-data"):
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return nil, nil, err
		}
		for name, fhs := range r.MultipartForm.File {
			fh := fhs[0]
			f, err := fh.Open()
			if err != nil {
				return nil, nil, err
			}
			data, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				return nil, nil, err
			}
			files[name] = uploaded{name: fh.Filename, contentType: fh.Header.Get("Content-Type"), data: data}
		}
		return mergeValues(r.URL.Query(), r.MultipartForm.Value), files, nil
	default:
		if err := r.ParseForm(); err != nil {
			return nil, nil, err
		}
		return r.Form, files, nil
	}
}

func mergeValues(a url.Values, b map[string][]string) url.Values {
	out := url.Values{}
	for k, v := range a {
		out[k] = append(out[k], v...)
	}
	for k, v := range b {
		out[k] = append(out[k], v...)
	}
	return out
}

func splitFields(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e GraphError) {
	if e.FBTraceID == "" {
		e.FBTraceID = "A" + randomToken(22)
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("WWW-Authenticate", `OAuth "Facebook Platform" "invalid_request" "`+e.Message+`"`)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]GraphError{"error": e})
}

func randomToken(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func randomDigits(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}
