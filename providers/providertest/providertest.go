// Package providertest is the conformance suite every provider runs against its fake
// platform, in the spirit of testing/fstest.TestFS:
//
//	func TestConformance(t *testing.T) {
//		fake := exampletest.NewServer()
//		providertest.Run(t, providertest.Config{Provider: example.New(), Platform: fake, …})
//	}
//
// Failures say what the provider must fix.
package providertest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/providers"
)

// Secret is the per-channel secret (providers.Channel.Secret) the suite uses. Testdata of
// platforms that put the shared secret in the body (VK) may contain it literally.
const Secret = "conformance-secret_0123456789abcdefghijklmn"

// Failure is a platform failure a fake can inject into its next send call.
type Failure int

const (
	// FailTransient: the platform answers 5xx (or the connection breaks): retryable.
	FailTransient Failure = iota + 1
	// FailRateLimited: the platform answers 429 (or its equivalent) with a retry delay.
	FailRateLimited
	// FailBlocked: the visitor blocked the bot / left the reply window: permanent.
	FailBlocked
)

// Call is one API call the fake platform received.
type Call struct {
	Method string // the platform's method or path name ("sendMessage", "messages.send")
	Body   []byte
}

// Platform is a fake platform server.
type Platform interface {
	// URL is the base URL to put into the provider's api_url setting.
	URL() string
	// Calls returns every API call received so far, in order.
	Calls() []Call
	// Reset forgets recorded calls and pending failures.
	Reset()
	// FailNext makes the next send call (message or file) fail as f.
	FailNext(f Failure)
}

// Config describes one provider's conformance run.
type Config struct {
	Provider providers.Provider
	Platform Platform
	// Settings are good credentials the fake accepts (api_url pointing at Platform.URL()).
	Settings providers.Settings
	// BadSettings are credentials the fake rejects.
	BadSettings providers.Settings
	// Recipient is a visitor the fake knows; UserID is also used for GetUserInfo.
	Recipient providers.Recipient
	// Sign makes a webhook request the provider must accept for body (sets the signature
	// header, the path token…). Forge makes one it must reject with ErrUnauthorized.
	Sign  func(ch providers.Channel, body []byte) *providers.Request
	Forge func(ch providers.Channel, body []byte) *providers.Request
	// Kinds are the event kinds the platform delivers; each needs at least one file
	// testdata/events/<kind>_*.json. Files named none_*.json must give no events.
	Kinds []providers.EventKind
	// Testdata is the directory holding events/ (default "testdata").
	Testdata string
	// SetWebhookCall and DeleteWebhookCall are the fake's Call.Method names that SetWebhook
	// and DeleteWebhook must produce; empty where the platform has no such API (say why in
	// NoWebhookAPI).
	SetWebhookCall, DeleteWebhookCall string
	NoWebhookAPI                      string
}

// Channel returns the channel the suite uses for settings s.
func Channel(p providers.Provider, s providers.Settings) providers.Channel {
	return providers.Channel{
		ID: 1, Kind: p.Kind(), Name: "conformance", Settings: s, Secret: Secret,
		WebhookURL: "https://omnichat.example/webhooks/1", PublicURL: "https://omnichat.example",
	}
}

// Run runs the suite.
func Run(t *testing.T, c Config) {
	t.Helper()
	if c.Testdata == "" {
		c.Testdata = "testdata"
	}
	p := c.Provider
	ctx := context.Background()

	t.Run("SettingsForm", func(t *testing.T) { checkForm(t, p.SettingsForm()) })

	var ch providers.Channel
	t.Run("Check", func(t *testing.T) {
		c.Platform.Reset()
		if _, err := p.Check(ctx, c.BadSettings); err == nil {
			t.Error("Check accepted BadSettings: it must return an error for credentials the platform rejects")
		} else if leaksSecret(err.Error(), p.SettingsForm(), c.BadSettings) {
			t.Errorf("Check's error %q contains a secret setting: errors must never carry tokens", err)
		}
		got, err := p.Check(ctx, c.Settings)
		if err != nil {
			t.Fatalf("Check rejected good Settings: %v", err)
		}
		for _, f := range p.SettingsForm().Fields {
			if f.Filled && got[f.Name] == "" {
				t.Errorf("Check must fill %q (marked Filled in the form) but left it empty", f.Name)
			}
		}
	})
	if s, err := p.Check(ctx, c.Settings); err == nil {
		ch = Channel(p, s)
	} else {
		ch = Channel(p, c.Settings)
	}

	t.Run("Webhook", func(t *testing.T) {
		if c.SetWebhookCall == "" {
			if c.NoWebhookAPI == "" {
				t.Fatal("SetWebhookCall is empty: name the fake's call, or explain in NoWebhookAPI why the platform has none")
			}
			t.Logf("no webhook API: %s", c.NoWebhookAPI)
			return
		}
		c.Platform.Reset()
		extra, err := p.SetWebhook(ctx, ch, ch.WebhookURL)
		if err != nil {
			t.Fatalf("SetWebhook: %v", err)
		}
		if !called(c.Platform, c.SetWebhookCall) {
			t.Errorf("SetWebhook did not call %q on the platform (calls: %v)", c.SetWebhookCall, methods(c.Platform))
		}
		wch := ch
		wch.Settings = ch.Settings.Merge(extra)
		c.Platform.Reset()
		if err := p.DeleteWebhook(ctx, wch); err != nil {
			t.Fatalf("DeleteWebhook: %v", err)
		}
		if !called(c.Platform, c.DeleteWebhookCall) {
			t.Errorf("DeleteWebhook did not call %q on the platform (calls: %v)", c.DeleteWebhookCall, methods(c.Platform))
		}
	})

	t.Run("EventFilter", func(t *testing.T) { checkEvents(t, c, ch) })

	t.Run("SendMessage", func(t *testing.T) {
		c.Platform.Reset()
		sent, err := p.SendMessage(ctx, ch, c.Recipient, providers.OutMessage{ID: 101, Text: "Hello from the conformance suite"})
		if err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
		if sent.ExternalID == "" {
			t.Error("SendMessage must return the platform's message id in Sent.ExternalID")
		}
		if len(c.Platform.Calls()) == 0 {
			t.Error("SendMessage returned without calling the platform")
		}
		sent, err = p.SendMessage(ctx, ch, c.Recipient, providers.OutMessage{ID: 102, Text: "Pick one",
			Buttons: [][]providers.Button{{{Text: "Yes", Data: "yes"}, {Text: "No", Data: "no"}}}})
		if err != nil {
			t.Fatalf("SendMessage with buttons: %v", err)
		}
		if sent.ExternalID == "" {
			t.Error("SendMessage with buttons returned no ExternalID")
		}
	})

	t.Run("SendFile", func(t *testing.T) {
		c.Platform.Reset()
		content := []byte("%PDF-1.4 conformance file\n")
		opens := 0
		f := providers.OutFile{ID: 103, Name: "report.pdf", MIME: "application/pdf", Size: int64(len(content)),
			URL:  "https://omnichat.example/files/103",
			Open: func() (io.ReadCloser, error) { opens++; return io.NopCloser(bytes.NewReader(content)), nil }}
		sent, err := p.SendFile(ctx, ch, c.Recipient, f)
		if err != nil {
			t.Fatalf("SendFile: %v", err)
		}
		if sent.ExternalID == "" {
			t.Error("SendFile must return the platform's message id")
		}
		if len(c.Platform.Calls()) == 0 {
			t.Error("SendFile returned without calling the platform")
		}
	})

	t.Run("DeleteMessage", func(t *testing.T) {
		sent, err := p.SendMessage(ctx, ch, c.Recipient, providers.OutMessage{ID: 104, Text: "to be deleted"})
		if err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
		err = p.DeleteMessage(ctx, ch, c.Recipient, sent.ExternalID)
		if err != nil && !errors.Is(err, providers.ErrUnsupported) {
			t.Errorf("DeleteMessage of a fresh message: want nil or ErrUnsupported, got %v", err)
		}
	})

	t.Run("GetUserInfo", func(t *testing.T) {
		u, err := p.GetUserInfo(ctx, ch, c.Recipient.UserID)
		if err != nil {
			t.Fatalf("GetUserInfo(%q): %v", c.Recipient.UserID, err)
		}
		if u.Name() == "" && u.Phone == "" {
			t.Error("GetUserInfo returned neither a name nor a phone for a user the fake knows")
		}
	})

	t.Run("Errors", func(t *testing.T) {
		cases := []struct {
			name  string
			fail  Failure
			check func(error) string
		}{
			{"transient", FailTransient, func(err error) string {
				if err == nil {
					return "a 5xx from the platform must return an error"
				}
				if providers.IsPermanent(err) {
					return "a 5xx is transient: it must not be Permanent (the job retries it)"
				}
				return ""
			}},
			{"rate limited", FailRateLimited, func(err error) string {
				if d, ok := providers.RetryDelay(err); !ok || d <= 0 {
					return "a rate-limit answer must be a RetryAfterError with the platform's delay"
				}
				return ""
			}},
			{"blocked", FailBlocked, func(err error) string {
				if !providers.IsPermanent(err) {
					return "a blocked visitor must be a PermanentError"
				}
				if providers.PermanentReason(err) == "" {
					return "a PermanentError needs a Reason an operator can read"
				}
				return ""
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c.Platform.Reset()
				c.Platform.FailNext(tc.fail)
				_, err := p.SendMessage(ctx, ch, c.Recipient, providers.OutMessage{ID: 105, Text: "x"})
				if msg := tc.check(err); msg != "" {
					t.Errorf("%s (got %v)", msg, err)
				}
				if err != nil && leaksSecret(err.Error(), p.SettingsForm(), ch.Settings) {
					t.Errorf("error %q contains a secret setting", err)
				}
			})
		}
		c.Platform.Reset()
	})
}

func checkForm(t *testing.T, f providers.Form) {
	if len(f.Fields) == 0 {
		t.Fatal("SettingsForm has no fields")
	}
	if f.Instructions.En == "" || f.Instructions.Ru == "" {
		t.Error("SettingsForm.Instructions must tell the admin (in English and Russian) how to get the credentials")
	}
	seen := map[string]bool{}
	hasAPIURL := false
	for _, fl := range f.Fields {
		if fl.Name == "" {
			t.Error("a field has no Name")
		}
		if seen[fl.Name] {
			t.Errorf("field %q appears twice", fl.Name)
		}
		seen[fl.Name] = true
		if fl.Label.En == "" || fl.Label.Ru == "" {
			t.Errorf("field %q needs a Label in English and Russian", fl.Name)
		}
		lower := strings.ToLower(fl.Name)
		if (strings.Contains(lower, "token") || strings.Contains(lower, "secret") || strings.HasSuffix(lower, "_key")) && fl.Type != providers.FieldSecret {
			t.Errorf("field %q looks like a credential: make it FieldSecret so it is write-only and encrypted", fl.Name)
		}
		if fl.Type == providers.FieldSecret && fl.Filled {
			t.Errorf("field %q is a secret filled by Check: filled fields are shown to admins, secrets never are", fl.Name)
		}
		if fl.Type == providers.FieldSelect && len(fl.Options) == 0 {
			t.Errorf("select field %q has no options", fl.Name)
		}
		if fl.Name == "api_url" {
			hasAPIURL = true
			if fl.Required {
				t.Error("api_url must be optional: it overrides the platform's default base URL")
			}
		}
	}
	if !hasAPIURL {
		t.Error("every provider needs an optional api_url setting (proxies, self-hosted servers, fake platforms in tests)")
	}
	if err := f.Validate(providers.Settings{}); err == nil {
		required := false
		for _, fl := range f.Fields {
			required = required || (fl.Required && !fl.Filled)
		}
		if required {
			t.Error("Form.Validate accepted empty settings although fields are required")
		}
	}
}

func checkEvents(t *testing.T, c Config, ch providers.Channel) {
	p := c.Provider
	ctx := context.Background()
	files, _ := filepath.Glob(filepath.Join(c.Testdata, "events", "*.json"))
	if len(files) == 0 {
		t.Fatalf("no testdata: put real platform payloads in %s/events/<kind>_<name>.json", c.Testdata)
	}
	sort.Strings(files)
	covered := map[providers.EventKind]bool{}
	sawNone := false
	for _, file := range files {
		body, err := os.ReadFile(file)
		body = bytes.TrimRight(body, " \r\n\t")
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(file)
		prefix := base[:strings.LastIndex(base, "_")+1]
		t.Run(base, func(t *testing.T) {
			evs, err := p.EventFilter(ctx, ch, c.Sign(ch, body))
			if err != nil {
				t.Fatalf("EventFilter on a signed %s: %v", base, err)
			}
			if prefix == "none_" {
				sawNone = true
				if len(evs) != 0 {
					t.Errorf("%s is an update omnichat does not handle: want no events, got %+v", base, evs)
				}
			} else {
				want := providers.EventKind(strings.TrimSuffix(prefix, "_"))
				found := false
				for _, ev := range evs {
					found = found || ev.Kind == want
					checkEvent(t, ev)
				}
				if !found {
					t.Errorf("%s must give an event of kind %q, got %+v", base, want, evs)
				}
				covered[want] = true
			}

			if _, err := p.EventFilter(ctx, ch, c.Forge(ch, body)); !errors.Is(err, providers.ErrUnauthorized) {
				t.Errorf("a forged %s must give ErrUnauthorized (nothing is stored), got %v", base, err)
			}
			for _, n := range []int{0, len(body) / 2, len(body) - 1} {
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Errorf("EventFilter panicked on %s truncated to %d bytes: %v", base, n, r)
						}
					}()
					if _, err := p.EventFilter(ctx, ch, c.Sign(ch, body[:n])); err == nil && n > 0 {
						t.Errorf("EventFilter accepted %s truncated to %d bytes: truncated JSON must be an error", base, n)
					}
				}()
			}
		})
	}
	for _, k := range c.Kinds {
		if !covered[k] {
			t.Errorf("no testdata for event kind %q: add %s/events/%s_<name>.json with a real payload", k, c.Testdata, k)
		}
	}
	if !sawNone {
		t.Errorf("no testdata for an unhandled update: add %s/events/none_<name>.json", c.Testdata)
	}
}

func checkEvent(t *testing.T, ev providers.Event) {
	switch ev.Kind {
	case providers.EventMessage, providers.EventEdited:
		if ev.UserID == "" || ev.ExternalID == "" {
			t.Errorf("%s event needs UserID and ExternalID: %+v", ev.Kind, ev)
		}
		if ev.Text == "" && len(ev.Attachments) == 0 {
			t.Errorf("%s event has neither text nor attachments: %+v", ev.Kind, ev)
		}
		for _, a := range ev.Attachments {
			if a.Kind == "" {
				t.Errorf("attachment without a Kind: %+v", a)
			}
		}
	case providers.EventButton, providers.EventSubscribed, providers.EventUnsubscribed, providers.EventConversationStarted:
		if ev.UserID == "" {
			t.Errorf("%s event needs UserID: %+v", ev.Kind, ev)
		}
	case providers.EventDelivered, providers.EventRead, providers.EventFailed:
		if len(ev.Refs) == 0 && ev.Watermark.IsZero() {
			t.Errorf("%s receipt needs Refs or a Watermark: %+v", ev.Kind, ev)
		}
	default:
		t.Errorf("unknown event kind %q", ev.Kind)
	}
	if !ev.Time.IsZero() && (ev.Time.Year() < 2000 || ev.Time.After(time.Now().Add(24*time.Hour*365*5))) {
		t.Errorf("event time %s looks wrong: check the platform's time unit (seconds or milliseconds)", ev.Time)
	}
}

func called(p Platform, method string) bool {
	for _, c := range p.Calls() {
		if c.Method == method {
			return true
		}
	}
	return false
}

func methods(p Platform) []string {
	var ms []string
	for _, c := range p.Calls() {
		ms = append(ms, c.Method)
	}
	return ms
}

func leaksSecret(msg string, f providers.Form, s providers.Settings) bool {
	for _, fl := range f.Fields {
		if v := s[fl.Name]; fl.Type == providers.FieldSecret && len(v) >= 6 && strings.Contains(msg, v) {
			return true
		}
	}
	return false
}
