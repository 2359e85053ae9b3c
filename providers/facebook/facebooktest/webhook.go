package facebooktest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Sign returns the X-Hub-Signature-256 value Meta puts on a delivery:
// "sha256=" + hex(HMAC-SHA256(app secret, raw body)).
func Sign(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// signSHA1 is the legacy X-Hub-Signature Meta still sends alongside.
func signSHA1(appSecret string, body []byte) string {
	mac := hmac.New(sha1.New, []byte(appSecret))
	mac.Write(body)
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}

// WebhookRequest builds a delivery exactly as Meta sends one: POST to the channel's webhook
// URL ({public}/webhooks/{channel_id}, no path token: Messenger signs its deliveries) with
// the raw body, Content-Type application/json and both signature headers computed with the
// app secret. A test that posts it to omnichat must see it accepted; with a wrong secret it
// must be rejected with nothing stored.
func WebhookRequest(ctx context.Context, webhookURL, appSecret string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("facebooktest: webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	req.Header.Set("X-Hub-Signature-256", Sign(appSecret, body))
	req.Header.Set("X-Hub-Signature", signSHA1(appSecret, body))
	return req, nil
}

// VerifyRequest builds Meta's webhook verification: GET webhookURL?hub.mode=subscribe&
// hub.verify_token=…&hub.challenge=…. omnichat must answer 200 with the challenge as the
// body when token is the channel's verify token, and 403 otherwise.
func VerifyRequest(ctx context.Context, webhookURL, verifyToken, challenge string) (*http.Request, error) {
	u, err := url.Parse(webhookURL)
	if err != nil {
		return nil, fmt.Errorf("facebooktest: verify request: %w", err)
	}
	q := u.Query()
	q.Set("hub.mode", "subscribe")
	q.Set("hub.verify_token", verifyToken)
	q.Set("hub.challenge", challenge)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("facebooktest: verify request: %w", err)
	}
	req.Header.Set("User-Agent", "facebookplatform/1.0 (+http://developers.facebook.com)")
	return req, nil
}

// Deliver posts body to webhookURL signed with the fake's AppSecret, as Meta delivers
// webhooks. The caller closes the response body.
func (s *Server) Deliver(ctx context.Context, webhookURL string, body []byte) (*http.Response, error) {
	req, err := WebhookRequest(ctx, webhookURL, s.AppSecret, body)
	if err != nil {
		return nil, err
	}
	return (&http.Client{Timeout: 30 * time.Second}).Do(req)
}

// Messaging is one item of an entry's "messaging" array. Build it with the helpers below
// or by hand for shapes they do not cover.
type Messaging map[string]any

// Update wraps messaging items of pageID into one delivery body:
// {"object":"page","entry":[{"id":pageID,"time":ms,"messaging":[…]}]}.
func Update(pageID string, items ...Messaging) []byte {
	body, err := json.Marshal(map[string]any{
		"object": "page",
		"entry": []map[string]any{{
			"id":        pageID,
			"time":      time.Now().UnixMilli(),
			"messaging": items,
		}},
	})
	if err != nil {
		panic(err) // maps of JSON values always marshal
	}
	return body
}

// TextMessage is a visitor's text message.
func TextMessage(pageID, psid, mid, text string, at time.Time) Messaging {
	return Messaging{
		"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": pageID},
		"timestamp": at.UnixMilli(),
		"message":   map[string]any{"mid": mid, "text": text},
	}
}

// ImageMessage is a visitor's photo; url is where it can be downloaded (see AddFile).
func ImageMessage(pageID, psid, mid, imageURL string, at time.Time) Messaging {
	return Messaging{
		"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": pageID},
		"timestamp": at.UnixMilli(),
		"message": map[string]any{"mid": mid, "attachments": []map[string]any{
			{"type": "image", "payload": map[string]string{"url": imageURL}},
		}},
	}
}

// Postback is a press of a button-template button (or Get Started).
func Postback(pageID, psid, mid, title, payload string, at time.Time) Messaging {
	return Messaging{
		"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": pageID},
		"timestamp": at.UnixMilli(),
		"postback":  map[string]string{"mid": mid, "title": title, "payload": payload},
	}
}

// Delivery says our messages mids (and everything before watermark) reached the visitor.
// Meta sends no timestamp with it.
func Delivery(pageID, psid string, mids []string, watermark time.Time) Messaging {
	return Messaging{
		"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": pageID},
		"delivery": map[string]any{"mids": mids, "watermark": watermark.UnixMilli()},
	}
}

// Read says the visitor read everything we sent up to watermark.
func Read(pageID, psid string, watermark, at time.Time) Messaging {
	return Messaging{
		"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": pageID},
		"timestamp": at.UnixMilli(),
		"read":      map[string]any{"watermark": watermark.UnixMilli()},
	}
}

// Echo is Meta's copy of a message the page sent (omnichat must ignore it).
func Echo(pageID, psid, appID, mid, text string, at time.Time) Messaging {
	return Messaging{
		"sender": map[string]string{"id": pageID}, "recipient": map[string]string{"id": psid},
		"timestamp": at.UnixMilli(),
		"message":   map[string]any{"is_echo": true, "app_id": number(appID), "mid": mid, "text": text},
	}
}

// number writes a numeric id as a JSON number, as Meta does for app_id.
func number(id string) any {
	for _, r := range id {
		if r < '0' || r > '9' {
			return id
		}
	}
	if id == "" {
		return id
	}
	return json.Number(id)
}
