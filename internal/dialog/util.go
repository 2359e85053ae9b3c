package dialog

import (
	"encoding/json"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

func jsonRaw(v any) json.RawMessage {
	b, _ := json.Marshal(v) // maps of strings always marshal
	return b
}

// NormalizePhone returns the number in E.164, or "" when it is not a phone number. Numbers
// without a country code are read in region (default RU: the seed's users).
func NormalizePhone(raw, region string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	if region == "" {
		region = "RU"
	}
	digits := strings.TrimLeft(raw, " ")
	// Telegram sends its contacts' numbers without "+": a long digit string is international.
	if !strings.HasPrefix(digits, "+") && len(strings.Trim(digits, "0123456789")) == 0 && len(digits) >= 11 {
		digits = "+" + digits
	}
	n, err := phonenumbers.Parse(digits, region)
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return ""
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}
