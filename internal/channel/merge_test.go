package channel

import (
	"errors"
	"strings"
	"testing"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/providers"
)

func TestMergeSettingsAskForSecretsWhenAnAddressChanges(t *testing.T) {
	form := providers.Form{Fields: []providers.Field{
		{Name: "token", Type: providers.FieldSecret},
		{Name: "proxy_url", Type: providers.FieldSecret},
		{Name: "app_secret", Type: providers.FieldSecret}, // optional, never set below
		{Name: "verify", Type: providers.FieldSecret, Internal: true},
		{Name: "api_url", Type: providers.FieldURL},
		{Name: "welcome", Type: providers.FieldTextarea},
		{Name: "name", Type: providers.FieldText},
	}}
	stored := providers.Settings{"token": "T", "proxy_url": "socks5://u:p@proxy:1080", "verify": "V",
		"api_url": "https://api.example", "welcome": "hi", "name": "bot"}
	for _, c := range []struct {
		name    string
		in      providers.Settings
		missing string // "" = accepted
		address bool
	}{
		{"nothing changes", providers.Settings{"token": "", "api_url": "https://api.example"}, "", false},
		{"a text changes", providers.Settings{"name": "bot 2", "token": ""}, "", false},
		{"a text with a link", providers.Settings{"welcome": "see https://shop.example for prices"}, "", false},
		{"api_url", providers.Settings{"api_url": "http://127.0.0.1:9"}, "token,proxy_url", true},
		{"api_url cleared", providers.Settings{"api_url": ""}, "token,proxy_url", true},
		{"api_url with one secret", providers.Settings{"api_url": "http://x.example", "token": "T"}, "proxy_url", true},
		{"proxy_url (a secret URL)", providers.Settings{"proxy_url": "http://evil.example:8080"}, "token", true},
		{"a text field set to a URL", providers.Settings{"name": "http://evil.example"}, "token,proxy_url", true},
		{"everything entered", providers.Settings{"api_url": "http://x.example", "token": "T2", "proxy_url": "socks5://q"}, "", true},
	} {
		m, err := mergeSettings(form, stored, c.in)
		if c.missing == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			if m.Address != c.address || m.NewSecret != c.address {
				t.Errorf("%s: address %v, new secret %v, want %v", c.name, m.Address, m.NewSecret, c.address)
			}
			if c.in["token"] == "" && m.Settings["token"] != "T" {
				t.Errorf("%s: the stored token was not kept: %v", c.name, m.Settings)
			}
			continue
		}
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Code != apperr.Invalid || strings.Join(ae.Fields, ",") != c.missing {
			t.Errorf("%s: %v, want Invalid naming %s", c.name, err, c.missing)
		}
		if err != nil && strings.Contains(err.Error(), "T") && strings.Contains(err.Error(), "u:p") {
			t.Errorf("%s: the error quotes a secret: %v", c.name, err)
		}
	}

	// A form without secrets (the widget) changes addresses freely and keeps its webhook secret.
	widget := providers.Form{Fields: []providers.Field{{Name: "api_url", Type: providers.FieldURL}, {Name: "allowed_origins", Type: providers.FieldTextarea}}}
	m, err := mergeSettings(widget, providers.Settings{"api_url": "https://a.example", "allowed_origins": "https://a.example"},
		providers.Settings{"api_url": "https://b.example", "allowed_origins": "https://b.example"})
	if err != nil || !m.Address || m.NewSecret {
		t.Errorf("widget: %+v %v", m, err)
	}
}
