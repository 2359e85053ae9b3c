package dialog

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
)

// userInfoRetry is how long a visitor still missing a name or avatar waits before the
// platform is asked again (a new avatar, a profile made public).
const userInfoRetry = 24 * time.Hour

// needsUserInfo reports whether a visitor's profile should be (re)loaded from the platform:
// never loaded, or loaded long enough ago and still missing a name or an avatar.
func needsUserInfo(v store.Visitor, now time.Time) bool {
	if v.InfoLoadedAt == nil {
		return true
	}
	missing := v.AvatarFileID == nil || (v.FirstName == "" && v.LastName == "" && v.Username == "")
	return missing && now.Sub(*v.InfoLoadedAt) > userInfoRetry
}

// messageEvent builds a realtime event about message id of dialog dialogID with the
// dialog's audience (department, assignee, participants, visitor). An event without them
// would reach every operator, and never the dialog's widget visitor.
func messageEvent(ctx context.Context, db store.DB, kind string, dialogID, id int64) (push.Event, error) {
	d, err := store.DialogByID(ctx, db, dialogID)
	if err != nil {
		return push.Event{}, err
	}
	return push.ForDialog(kind, d, id), nil
}

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
	// A number valid as written in the region wins ("8 916 123-45-67" in RU).
	n, err := phonenumbers.Parse(raw, region)
	if err == nil && phonenumbers.IsValidNumber(n) {
		return phonenumbers.Format(n, phonenumbers.E164)
	}
	// Telegram and WhatsApp send international numbers without "+": a digit string that is
	// valid with one is international.
	if !strings.HasPrefix(raw, "+") && strings.Trim(raw, "0123456789") == "" {
		if m, err2 := phonenumbers.Parse("+"+raw, region); err2 == nil && phonenumbers.IsValidNumber(m) {
			return phonenumbers.Format(m, phonenumbers.E164)
		}
	}
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return ""
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}
