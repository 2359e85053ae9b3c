package vk

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/omnichat/omnichat/providers"
)

// callbackTitle is the callback server's title in the community's settings (VK allows 14
// characters).
const callbackTitle = "omnichat"

// maxSecretKey is VK's limit on a callback server's secret key; minSecretKey is ours: a key
// shorter than that is too easy to guess, and we refuse to register or accept it.
const (
	maxSecretKey = 50
	minSecretKey = 16
)

// callbackEvents are the Callback API events we subscribe to. message_reply (every outgoing
// message, ours included) and message_typing_state would only cost traffic: we ignore them.
// message_read is accepted when VK sends it (see events.go).
var callbackEvents = []string{
	"message_new", "message_edit", "message_allow", "message_deny", "message_event", "message_read",
}

// CallbackSecret returns the callback server's secret key for a channel's Secret (the
// random value the core generates per channel). VK's secret key takes only Latin letters and
// digits, up to 50 of them, while Channel.Secret may also contain '-' and '_': those are
// dropped. About 41 random characters remain, far more than anyone can guess.
//
// VK sends the key back in the "secret" field of every event; tests and `omnichat loadtest`
// put CallbackSecret(channel secret) there to post an event omnichat accepts.
func CallbackSecret(channelSecret string) string {
	var b strings.Builder
	for _, r := range channelSecret {
		if ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
			if b.Len() == maxSecretKey {
				break
			}
		}
	}
	return b.String()
}

// secretOK compares an event's secret with the channel's in constant time, so timing tells
// an attacker nothing about how close a guess was.
func secretOK(channelSecret, got string) bool {
	want := CallbackSecret(channelSecret)
	if len(want) < minSecretKey {
		// A channel without a usable secret would accept anyone: refuse everything.
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// NewWebhookRequest builds the POST VK makes to webhookURL (a channel's
// {public}/webhooks/{id}) with a Callback API body. VK authenticates events only by the
// "secret" field inside the body, so a body built by NewUpdate (or any JSON whose "secret"
// is CallbackSecret(channel secret)) is all an end-to-end test needs: no header, no path
// token.
func NewWebhookRequest(ctx context.Context, webhookURL string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("vk: build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// envelope is what every Callback API request carries.
type envelope struct {
	Type    string          `json:"type"`
	GroupID int64           `json:"group_id"`
	EventID string          `json:"event_id"`
	V       string          `json:"v"`
	Object  json.RawMessage `json:"object"`
	Secret  *string         `json:"secret"`
}

// CallbackServerConfirmation implements providers.Provider: VK's {"type":"confirmation"}
// is answered with the community's confirmation code as plain text, only to a request that
// carries the channel's secret (VK sends the callback server's secret key with it): the code
// is what lets a callback server be confirmed, so it is no answer for anyone who asks. The
// group must be the channel's.
func (p *Provider) CallbackServerConfirmation(ctx context.Context, ch providers.Channel, r *providers.Request) (*providers.Response, bool, error) {
	var e envelope
	if json.Unmarshal(r.Body, &e) != nil || e.Type != "confirmation" {
		return nil, false, nil
	}
	c, err := decodeSettings(ch.Settings)
	if err != nil {
		return nil, true, fmt.Errorf("vk: confirmation: %w", err)
	}
	if e.GroupID != c.groupID {
		return nil, true, fmt.Errorf("%w: confirmation for community %d, the channel is community %d", providers.ErrUnauthorized, e.GroupID, c.groupID)
	}
	if ch.Secret != "" && (e.Secret == nil || !secretOK(ch.Secret, *e.Secret)) {
		return nil, true, fmt.Errorf("%w: confirmation without the channel's secret", providers.ErrUnauthorized)
	}
	if c.confirmationCode == "" {
		return nil, true, errors.New("vk: confirmation: the channel has no confirmation code: press Check and Save again")
	}
	return &providers.Response{
		Status:      http.StatusOK,
		ContentType: "text/plain; charset=utf-8",
		Body:        []byte(c.confirmationCode),
	}, true, nil
}

// ackBody is what VK expects in answer to an event; anything else (or a timeout) makes it
// resend the event.
const ackBody = "ok"

// Ack implements providers.Acknowledger. The core calls it after the events are committed.
func (p *Provider) Ack(ch providers.Channel, r *providers.Request, events []providers.Event) providers.Response {
	return providers.Response{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(ackBody)}
}

// group is what groups.getById tells about a community.
type group struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	ScreenName string `json:"screen_name"`
	Photo200   string `json:"photo_200"`
}

// groupsByID is groups.getById's answer since API 5.138.
type groupsByID struct {
	Groups []group `json:"groups"`
}

type confirmationCode struct {
	Code string `json:"code"`
}

// Check implements providers.Provider. It proves the community token is the community's
// (groups.getById without a group_id answers the token's own community) and that the token
// for server management works (groups.getCallbackConfirmationCode needs the management
// right), and fills the community's name and the confirmation code.
func (p *Provider) Check(ctx context.Context, s providers.Settings) (providers.Settings, error) {
	c, err := decodeSettings(s)
	if err != nil {
		return nil, err
	}
	var g groupsByID
	if err := p.call(ctx, c, c.groupToken, "groups.getById", nil, &g); err != nil {
		return nil, checkError(err, SettingGroupToken, "VK did not accept the community token")
	}
	if len(g.Groups) == 0 {
		return nil, &providers.SettingsError{Fields: []string{SettingGroupToken}, Msg: "this is not a community token: create one in the community's Manage → API usage"}
	}
	if g.Groups[0].ID != c.groupID {
		return nil, &providers.SettingsError{
			Fields: []string{SettingGroupID, SettingGroupToken},
			Msg:    fmt.Sprintf("the token belongs to community %d, not %d", g.Groups[0].ID, c.groupID),
		}
	}
	manageField := SettingGroupToken
	if c.appToken != "" {
		manageField = SettingAppToken
	}
	var code confirmationCode
	if err := p.call(ctx, c, c.manageToken(), "groups.getCallbackConfirmationCode", groupParams(c), &code); err != nil {
		return nil, checkError(err, manageField, "the token cannot manage the community's Callback API (create it with the community management right, or fill in App token)")
	}
	out := s.Clone()
	out[SettingGroupID] = strconv.FormatInt(c.groupID, 10)
	out[SettingGroupName] = g.Groups[0].Name
	out[SettingConfirmationCode] = code.Code
	return out, nil
}

// checkError turns a failed Check call into an error an admin can act on. Token and
// permission problems name the field; anything else (VK unreachable) says what failed.
func checkError(err error, field, msg string) error {
	switch apiCode(err) {
	case codeAuthFailed, codeGroupAuthFailed, codePermissionDenied, codeAccessDenied, codeInvalidParam:
		return &providers.SettingsError{Fields: []string{field}, Msg: msg + ": " + err.Error()}
	}
	return fmt.Errorf("vk: check: %w", err)
}

// callbackServer is one entry of groups.getCallbackServers.
type callbackServer struct {
	ID     int64  `json:"id"`
	Title  string `json:"title"`
	URL    string `json:"url"`
	Status string `json:"status"`
}

type callbackServers struct {
	Count int64            `json:"count"`
	Items []callbackServer `json:"items"`
}

type addedServer struct {
	ServerID int64 `json:"server_id"`
}

func groupParams(c config) url.Values {
	return url.Values{"group_id": {strconv.FormatInt(c.groupID, 10)}}
}

// SetWebhook implements providers.Provider. It adds our callback server (or updates the one
// we added before, found by its stored id or by URL, so saving twice does not use up VK's
// ten servers per community) with the channel's secret key, and subscribes it to message
// events in API version 5.199. It returns the server's id and the current confirmation code
// to store: VK confirms the address right after, with that code.
func (p *Provider) SetWebhook(ctx context.Context, ch providers.Channel, webhookURL string) (providers.Settings, error) {
	c, err := decodeSettings(ch.Settings)
	if err != nil {
		return nil, fmt.Errorf("vk: set webhook: %w", err)
	}
	secret := CallbackSecret(ch.Secret)
	if len(secret) < minSecretKey {
		return nil, errors.New("vk: set webhook: the channel has no usable secret")
	}
	token := c.manageToken()

	var code confirmationCode
	if err := p.call(ctx, c, token, "groups.getCallbackConfirmationCode", groupParams(c), &code); err != nil {
		return nil, fmt.Errorf("vk: set webhook: %w", err)
	}
	servers, err := p.callbackServers(ctx, c, token)
	if err != nil {
		return nil, fmt.Errorf("vk: set webhook: %w", err)
	}
	var serverID int64
	for _, s := range servers {
		if (c.callbackServerID != 0 && s.ID == c.callbackServerID) || s.URL == webhookURL {
			serverID = s.ID
			break
		}
	}
	params := groupParams(c)
	params.Set("url", webhookURL)
	params.Set("title", callbackTitle)
	params.Set("secret_key", secret)
	if serverID != 0 {
		params.Set("server_id", strconv.FormatInt(serverID, 10))
		if err := p.call(ctx, c, token, "groups.editCallbackServer", params, nil); err != nil {
			return nil, fmt.Errorf("vk: set webhook: %w", err)
		}
	} else {
		var added addedServer
		if err := p.call(ctx, c, token, "groups.addCallbackServer", params, &added); err != nil {
			return nil, fmt.Errorf("vk: set webhook: %w", err)
		}
		if added.ServerID <= 0 {
			return nil, errors.New("vk: set webhook: groups.addCallbackServer returned no server_id")
		}
		serverID = added.ServerID
	}

	settings := groupParams(c)
	settings.Set("server_id", strconv.FormatInt(serverID, 10))
	settings.Set("api_version", APIVersion)
	for _, ev := range callbackEvents {
		settings.Set(ev, "1")
	}
	settings.Set("message_reply", "0")
	settings.Set("message_typing_state", "0")
	if err := p.call(ctx, c, token, "groups.setCallbackSettings", settings, nil); err != nil {
		return nil, fmt.Errorf("vk: set webhook: %w", err)
	}
	return providers.Settings{
		SettingCallbackServerID: strconv.FormatInt(serverID, 10),
		SettingConfirmationCode: code.Code,
	}, nil
}

func (p *Provider) callbackServers(ctx context.Context, c config, token string) ([]callbackServer, error) {
	var list callbackServers
	if err := p.call(ctx, c, token, "groups.getCallbackServers", groupParams(c), &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// DeleteWebhook implements providers.Provider. It removes our callback server: the one
// with the stored id, and any other pointing at the channel's URL. A server already gone is
// success.
func (p *Provider) DeleteWebhook(ctx context.Context, ch providers.Channel) error {
	c, err := decodeSettings(ch.Settings)
	if err != nil {
		return fmt.Errorf("vk: delete webhook: %w", err)
	}
	token := c.manageToken()
	servers, err := p.callbackServers(ctx, c, token)
	if err != nil {
		return fmt.Errorf("vk: delete webhook: %w", err)
	}
	for _, s := range servers {
		ours := (c.callbackServerID != 0 && s.ID == c.callbackServerID) || (ch.WebhookURL != "" && s.URL == ch.WebhookURL)
		if !ours {
			continue
		}
		params := groupParams(c)
		params.Set("server_id", strconv.FormatInt(s.ID, 10))
		if err := p.call(ctx, c, token, "groups.deleteCallbackServer", params, nil); err != nil {
			return fmt.Errorf("vk: delete webhook: %w", err)
		}
	}
	return nil
}
