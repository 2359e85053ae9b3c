package baselogic

import (
	"testing"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/store"
)

func TestNormalizePhone(t *testing.T) {
	cases := []struct{ raw, region, want string }{
		{"+7 (916) 123-45-67", "RU", "+79161234567"},
		{"8 916 123 45 67", "RU", "+79161234567"},
		{"89161234567", "RU", "+79161234567"},
		{"79161234567", "RU", "+79161234567"},   // Telegram: international without "+"
		{"9161234567", "RU", "+79161234567"},    // national without the trunk prefix
		{"380501234567", "RU", "+380501234567"}, // a foreign number without "+"
		{"(415) 555-2671", "US", "+14155552671"},
		{"+44 20 7946 0958", "US", "+442079460958"},
		{"", "RU", ""},
		{"call me", "RU", ""},
		{"123", "RU", ""},
	}
	for _, c := range cases {
		if got := dialog.NormalizePhone(c.raw, c.region); got != c.want {
			t.Errorf("NormalizePhone(%q, %s) = %q, want %q", c.raw, c.region, got, c.want)
		}
	}
}

// TestPhoneRegionSetting: numbers without a country code are read in OMNICHAT_PHONE_REGION.
func TestPhoneRegionSetting(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{Env: map[string]string{"OMNICHAT_PHONE_REGION": "US"}})
	admin := inst.Admin(t)
	var c store.Client
	admin.Must(t, "POST", "/api/v1/clients", map[string]any{"name": "John", "phones": []string{"(415) 555-2671"}}, &c)
	if len(c.Phones) != 1 || c.Phones[0] != "+14155552671" {
		t.Fatalf("phones %v, want [+14155552671]", c.Phones)
	}
	var res struct{ Clients []store.Client }
	admin.Must(t, "GET", "/api/v1/clients?q="+urlq("415-555-2671"), nil, &res)
	if len(res.Clients) != 1 || res.Clients[0].ID != c.ID {
		t.Fatalf("search by the national format: %+v", res.Clients)
	}
}
