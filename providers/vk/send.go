package vk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/omnichat/omnichat/providers"
)

// maxTextUnits is how much text we put into one message. VK's limit is 4096 characters; we
// count UTF-16 code units (an emoji counts twice) and keep some headroom, because VK stores
// text HTML-escaped and the exact counting is not documented.
const maxTextUnits = 4000

// maxParts bounds how many messages one text may become: random_id leaves room for 64 parts
// per message id (see randomID).
const maxParts = 64

// Keyboard limits (dev.vk.com, "Keyboard"): inline 5×6 with at most 10 buttons, standard
// 5×10 with at most 40; labels up to 40 characters, payloads up to 255.
const (
	maxButtonsPerRow = 5
	maxInlineRows    = 6
	maxInlineButtons = 10
	maxRows          = 10
	maxButtons       = 40
	maxLabelRunes    = 40
	maxPayload       = 255
)

// SendMessage implements providers.Provider. Long texts are split; the buttons go under the
// last part. Each part carries a random_id derived from our message id and the part's
// index: VK's idempotency key, so a retried job never delivers a part twice (VK answers a
// repeated random_id with the message it already sent).
func (p *Provider) SendMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, m providers.OutMessage) (providers.Sent, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.Sent{}, err
	}
	peer, err := parsePeer(to.Chat())
	if err != nil {
		return providers.Sent{}, err
	}
	parts := splitText(m.Text, maxTextUnits)
	if len(parts) == 0 {
		return providers.Sent{}, providers.Permanent("VK cannot send a message without text", nil)
	}
	if len(parts) > maxParts {
		return providers.Sent{}, providers.Permanent(fmt.Sprintf("the text is too long for VK (more than %d messages)", maxParts), nil)
	}
	var kb string
	if len(m.Buttons) > 0 {
		kb, err = keyboardJSON(m.Buttons)
		if err != nil {
			return providers.Sent{}, providers.Permanent("VK cannot show these buttons", err)
		}
	}
	var ids []string
	for i, part := range parts {
		params := url.Values{
			"message":   {part},
			"random_id": {strconv.FormatInt(randomID(m.ID, i), 10)},
		}
		if i == 0 && m.ReplyTo != "" {
			setReply(params, peer, m.ReplyTo)
		}
		if i == len(parts)-1 && kb != "" {
			params.Set("keyboard", kb)
		}
		id, err := p.send(ctx, c, peer, params)
		if err != nil {
			return providers.Sent{}, err
		}
		ids = append(ids, id)
	}
	return sentOf(ids), nil
}

func sentOf(ids []string) providers.Sent {
	s := providers.Sent{ExternalID: ids[len(ids)-1]}
	if len(ids) > 1 {
		s.Parts = ids
	}
	return s
}

// sendResult is one element of messages.send's answer with peer_ids.
type sendResult struct {
	PeerID                int64 `json:"peer_id"`
	MessageID             int64 `json:"message_id"`
	ConversationMessageID int64 `json:"conversation_message_id"`
	Error                 *struct {
		Code        int    `json:"code"`
		ErrorCode   int    `json:"error_code"`
		Description string `json:"description"`
		ErrorMsg    string `json:"error_msg"`
	} `json:"error"`
}

// send calls messages.send and returns the new message's ExternalID. In private dialogs
// that is the message id messages.send returns. In conversations a community's messages
// have no id (0), so we send with peer_ids, which answers the conversation_message_id, and
// use "<peer_id>:<cmid>" as incoming messages do.
func (p *Provider) send(ctx context.Context, c config, peer int64, params url.Values) (string, error) {
	if peer < chatPeerBase {
		params.Set("peer_id", strconv.FormatInt(peer, 10))
		var id int64
		if err := p.call(ctx, c, c.groupToken, "messages.send", params, &id); err != nil {
			return "", fmt.Errorf("vk: send: %w", classify(err))
		}
		if id <= 0 {
			return "", errors.New("vk: send: messages.send returned no message id")
		}
		return strconv.FormatInt(id, 10), nil
	}
	params.Set("peer_ids", strconv.FormatInt(peer, 10))
	var res []sendResult
	if err := p.call(ctx, c, c.groupToken, "messages.send", params, &res); err != nil {
		return "", fmt.Errorf("vk: send: %w", classify(err))
	}
	if len(res) == 0 {
		return "", errors.New("vk: send: messages.send returned no result")
	}
	r := res[0]
	if r.Error != nil && (r.Error.Code != 0 || r.Error.ErrorCode != 0) {
		ae := &APIError{Method: "messages.send", Code: r.Error.Code, Msg: r.Error.Description}
		if ae.Code == 0 {
			ae.Code, ae.Msg = r.Error.ErrorCode, r.Error.ErrorMsg
		}
		return "", fmt.Errorf("vk: send: %w", classify(ae))
	}
	switch {
	case r.ConversationMessageID > 0:
		return strconv.FormatInt(peer, 10) + ":" + strconv.FormatInt(r.ConversationMessageID, 10), nil
	case r.MessageID > 0:
		return strconv.FormatInt(r.MessageID, 10), nil
	}
	return "", errors.New("vk: send: messages.send returned no message id")
}

// setReply quotes the message replyTo (an ExternalID): our own messages in private dialogs
// by id (reply_to), others by peer and conversation_message_id (forward with is_reply). An
// id of another conversation cannot be quoted and is left out.
func setReply(params url.Values, peer int64, replyTo string) {
	if p, cmid, ok := splitChatID(replyTo); ok {
		if p != peer {
			return
		}
		fwd, err := json.Marshal(struct {
			PeerID                 int64   `json:"peer_id"`
			ConversationMessageIDs []int64 `json:"conversation_message_ids"`
			IsReply                bool    `json:"is_reply"`
		}{peer, []int64{cmid}, true})
		if err == nil {
			params.Set("forward", string(fwd))
		}
		return
	}
	if id, err := parsePositive(replyTo); err == nil {
		params.Set("reply_to", strconv.FormatInt(id, 10))
	}
}

// splitChatID parses "<peer_id>:<cmid>".
func splitChatID(id string) (peer, cmid int64, ok bool) {
	a, b, found := strings.Cut(id, ":")
	if !found {
		return 0, 0, false
	}
	peer, err1 := strconv.ParseInt(a, 10, 64)
	cmid, err2 := parsePositive(b)
	if err1 != nil || err2 != nil || peer == 0 {
		return 0, 0, false
	}
	return peer, cmid, true
}

func parsePositive(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fmt.Errorf("%d is not positive", n)
	}
	return n, nil
}

// parsePeer reads a recipient: a user id, a conversation's peer id (2000000000+), or a
// community's negative id.
func parsePeer(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n == 0 {
		return 0, providers.Permanent("the recipient is not a VK peer id", fmt.Errorf("vk: peer %q", s))
	}
	return n, nil
}

// randomID derives messages.send's random_id (an int32; 0 would switch the check off) from
// our message id and the part's index. Consecutive message ids give distinct values for
// 2^25 messages in a row, far longer than VK remembers random_ids.
func randomID(msgID int64, part int) int64 {
	const mod = 1<<31 - 1
	v := (uint64(msgID)*maxParts + uint64(part)) % mod
	return int64(v) + 1
}

// splitText cuts s into parts of at most limit UTF-16 code units, preferring paragraph,
// line and word boundaries, never cutting a character in two. Blank parts are dropped.
func splitText(s string, limit int) []string {
	var parts []string
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return parts
		}
		if utf16Len(s) <= limit {
			return append(parts, strings.TrimRight(s, " \t\r\n"))
		}
		// end is the longest prefix that fits.
		end, units := 0, 0
		for i, r := range s {
			n := utf16.RuneLen(r)
			if n < 0 {
				n = 1 // invalid UTF-8 becomes U+FFFD: one unit
			}
			if units+n > limit {
				break
			}
			units += n
			end = i + utf8.RuneLen(r)
			if r == utf8.RuneError {
				end = i + 1
			}
		}
		if end == 0 {
			// The first character alone is over the limit (only with tiny limits): take it.
			_, n := utf8.DecodeRuneInString(s)
			end = n
		}
		cut := end
		prefix := s[:end]
		for _, sep := range []string{"\n\n", "\n", " "} {
			// A boundary in the first half would make tiny parts: cut at the limit instead.
			if i := strings.LastIndex(prefix, sep); i > end/2 {
				cut = i
				break
			}
		}
		if part := strings.TrimRight(s[:cut], " \t\r\n"); part != "" {
			parts = append(parts, part)
		}
		s = s[cut:]
	}
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if l := utf16.RuneLen(r); l > 0 {
			n += l
		} else {
			n++
		}
	}
	return n
}

// Keyboard JSON (dev.vk.com/ru/api/bots/development/keyboard).
type keyboard struct {
	OneTime bool         `json:"one_time"`
	Inline  bool         `json:"inline"`
	Buttons [][]kbButton `json:"buttons"`
}

type kbButton struct {
	Action kbAction `json:"action"`
}

type kbAction struct {
	Type    string `json:"type"`
	Label   string `json:"label"`
	Payload string `json:"payload,omitempty"`
	Link    string `json:"link,omitempty"`
}

// buttonPayload is what a callback button carries; VK sends it back in message_event.
type buttonPayload struct {
	Data string `json:"data"`
}

// keyboardJSON encodes buttons as VK's keyboard: callback buttons (data) and link buttons
// (URL). Rows longer than VK allows are wrapped. The keyboard is inline (under the message)
// when it fits VK's inline limits, else a standard keyboard under the input field.
func keyboardJSON(rows [][]providers.Button) (string, error) {
	var kbRows [][]kbButton
	total := 0
	for _, row := range rows {
		var cur []kbButton
		for _, b := range row {
			btn, err := vkButton(b)
			if err != nil {
				return "", err
			}
			if len(cur) == maxButtonsPerRow {
				kbRows = append(kbRows, cur)
				cur = nil
			}
			cur = append(cur, btn)
			total++
		}
		if len(cur) > 0 {
			kbRows = append(kbRows, cur)
		}
	}
	if total == 0 {
		return "", errors.New("no buttons")
	}
	kb := keyboard{Buttons: kbRows}
	switch {
	case len(kbRows) <= maxInlineRows && total <= maxInlineButtons:
		kb.Inline = true
	case len(kbRows) <= maxRows && total <= maxButtons:
		// Too many for an inline keyboard: VK shows a standard one under the input field.
	default:
		return "", fmt.Errorf("%d buttons in %d rows: VK allows at most %d in %d rows", total, len(kbRows), maxButtons, maxRows)
	}
	return marshalNoEscape(kb)
}

func vkButton(b providers.Button) (kbButton, error) {
	label := truncateRunes(strings.TrimSpace(b.Text), maxLabelRunes)
	if label == "" {
		return kbButton{}, errors.New("a button has no text")
	}
	if b.URL != "" {
		u, err := url.Parse(b.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return kbButton{}, fmt.Errorf("button %q: link must be an http(s) URL", label)
		}
		return kbButton{Action: kbAction{Type: "open_link", Label: label, Link: b.URL}}, nil
	}
	data := b.Data
	if data == "" {
		data = b.Text
	}
	payload, err := marshalNoEscape(buttonPayload{Data: data})
	if err != nil {
		return kbButton{}, err
	}
	if utf8.RuneCountInString(payload) > maxPayload {
		return kbButton{}, fmt.Errorf("button %q: data too long (VK allows %d characters of payload)", label, maxPayload)
	}
	return kbButton{Action: kbAction{Type: "callback", Label: label, Payload: payload}}, nil
}

// marshalNoEscape is json.Marshal without HTML escaping: "<" as \u003c would eat into VK's
// payload limit for nothing.
func marshalNoEscape(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// DeleteMessage implements providers.Provider: messages.delete with delete_for_all, which
// VK allows for 24 hours (error 924 after that: Permanent).
func (p *Provider) DeleteMessage(ctx context.Context, ch providers.Channel, to providers.Recipient, externalID string) error {
	c, err := channelConfig(ch)
	if err != nil {
		return err
	}
	peer, err := parsePeer(to.Chat())
	if err != nil {
		return err
	}
	params := url.Values{"delete_for_all": {"1"}}
	if p, cmid, ok := splitChatID(externalID); ok {
		params.Set("peer_id", strconv.FormatInt(p, 10))
		params.Set("cmids", strconv.FormatInt(cmid, 10))
	} else if id, err := parsePositive(externalID); err == nil {
		params.Set("peer_id", strconv.FormatInt(peer, 10))
		params.Set("message_ids", strconv.FormatInt(id, 10))
	} else {
		return providers.Permanent("not a VK message id", fmt.Errorf("vk: delete: message id %q", externalID))
	}
	var res json.RawMessage
	if err := p.call(ctx, c, c.groupToken, "messages.delete", params, &res); err != nil {
		return fmt.Errorf("vk: delete: %w", classify(err))
	}
	return deleteResult(res)
}

// deleteResult checks messages.delete's answer: {"<id>": 1} for message_ids, or
// [{…, "response": 1} | {…, "error": {…}}] for cmids. A 0 means VK did not delete it.
func deleteResult(res json.RawMessage) error {
	var byID map[string]int
	if json.Unmarshal(res, &byID) == nil {
		for _, v := range byID {
			if v != 1 {
				return providers.Permanent("VK did not delete the message", errors.New("vk: delete: messages.delete answered 0"))
			}
		}
		return nil
	}
	var list []struct {
		Response int `json:"response"`
		Error    *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if json.Unmarshal(res, &list) == nil {
		for _, r := range list {
			if r.Error != nil && r.Error.Code != 0 {
				return fmt.Errorf("vk: delete: %w", classify(&APIError{Method: "messages.delete", Code: r.Error.Code, Msg: r.Error.Description}))
			}
			if r.Response != 1 {
				return providers.Permanent("VK did not delete the message", errors.New("vk: delete: messages.delete answered 0"))
			}
		}
	}
	return nil
}

// vkUser is what users.get tells.
type vkUser struct {
	ID           int64  `json:"id"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	ScreenName   string `json:"screen_name"`
	Photo200     string `json:"photo_200"`
	PhotoMaxOrig string `json:"photo_max_orig"`
	Deactivated  string `json:"deactivated"`
}

// GetUserInfo implements providers.Provider with users.get (groups.getById for a
// community writing from a negative id).
func (p *Provider) GetUserInfo(ctx context.Context, ch providers.Channel, externalUserID string) (providers.UserInfo, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.UserInfo{}, err
	}
	id, err := strconv.ParseInt(strings.TrimSpace(externalUserID), 10, 64)
	if err != nil || id == 0 {
		return providers.UserInfo{}, providers.Permanent("not a VK user id", fmt.Errorf("vk: user %q", externalUserID))
	}
	if id < 0 {
		var g groupsByID
		params := url.Values{"group_id": {strconv.FormatInt(-id, 10)}, "fields": {"photo_200"}}
		if err := p.call(ctx, c, c.groupToken, "groups.getById", params, &g); err != nil {
			return providers.UserInfo{}, fmt.Errorf("vk: user info: %w", classify(err))
		}
		if len(g.Groups) == 0 {
			return providers.UserInfo{}, fmt.Errorf("vk: user info: no community %d", -id)
		}
		return providers.UserInfo{FirstName: g.Groups[0].Name, Username: g.Groups[0].ScreenName, AvatarURL: avatar(g.Groups[0].Photo200)}, nil
	}
	var users []vkUser
	params := url.Values{"user_ids": {strconv.FormatInt(id, 10)}, "fields": {"photo_200,photo_max_orig,screen_name"}}
	if err := p.call(ctx, c, c.groupToken, "users.get", params, &users); err != nil {
		return providers.UserInfo{}, fmt.Errorf("vk: user info: %w", classify(err))
	}
	if len(users) == 0 {
		return providers.UserInfo{}, fmt.Errorf("vk: user info: VK knows no user %d", id)
	}
	u := users[0]
	info := providers.UserInfo{FirstName: u.FirstName, LastName: u.LastName, Username: u.ScreenName}
	if u.Deactivated == "" {
		info.AvatarURL = avatar(u.PhotoMaxOrig)
		if info.AvatarURL == "" {
			info.AvatarURL = avatar(u.Photo200)
		}
	}
	return info, nil
}

// avatar drops VK's placeholder pictures (no photo, deleted account): not worth storing.
func avatar(u string) string {
	if u == "" || strings.Contains(u, "/images/camera_") || strings.Contains(u, "/images/deactivated_") ||
		strings.Contains(u, "/images/community_") {
		return ""
	}
	return u
}

// AnswerButton implements providers.ButtonAnswerer: messages.sendMessageEventAnswer stops
// the spinner on the visitor's callback button. VK accepts it within a minute of the press.
func (p *Provider) AnswerButton(ctx context.Context, ch providers.Channel, ev providers.Event) error {
	if ev.ExternalID == "" {
		// A press that came as a message (not_supported_button): nothing spins.
		return nil
	}
	c, err := channelConfig(ch)
	if err != nil {
		return err
	}
	user, err := parsePeer(ev.UserID)
	if err != nil {
		return err
	}
	peer := user
	if ev.ChatID != "" {
		if peer, err = parsePeer(ev.ChatID); err != nil {
			return err
		}
	}
	params := url.Values{
		"event_id": {ev.ExternalID},
		"user_id":  {strconv.FormatInt(user, 10)},
		"peer_id":  {strconv.FormatInt(peer, 10)},
	}
	if err := p.call(ctx, c, c.groupToken, "messages.sendMessageEventAnswer", params, nil); err != nil {
		return fmt.Errorf("vk: answer button: %w", classify(err))
	}
	return nil
}
