package dialog

import (
	"github.com/omnichat/omnichat/internal/pgtext"
	"github.com/omnichat/omnichat/providers"
)

// cleanEvents makes every string of evs storable (pgtext: NUL removed, invalid UTF-8
// replaced by U+FFFD), in place. It is the one place platform text is cleaned: Ingest and
// the group commit call it as events enter, so a "\u0000" in a platform's text or name can
// no longer make PostgreSQL refuse a webhook on every retry. Cleaning is idempotent: a
// platform's retry is cleaned to the same ids and recognised as a duplicate.
func cleanEvents(evs []providers.Event) {
	for i := range evs {
		ev := &evs[i]
		ev.ExternalID = pgtext.Clean(ev.ExternalID)
		ev.UserID = pgtext.Clean(ev.UserID)
		ev.ChatID = pgtext.Clean(ev.ChatID)
		cleanUserInfo(&ev.User)
		ev.Text = pgtext.Clean(ev.Text)
		ev.ReplyTo = pgtext.Clean(ev.ReplyTo)
		ev.Payload = pgtext.Clean(ev.Payload)
		ev.Reason = pgtext.Clean(ev.Reason)
		pgtext.CleanAll(ev.Refs)
		for j := range ev.Attachments {
			a := &ev.Attachments[j]
			a.Kind = providers.AttachmentKind(pgtext.Clean(string(a.Kind)))
			a.URL = pgtext.Clean(a.URL)
			a.Ref = pgtext.Clean(a.Ref)
			a.Name = pgtext.Clean(a.Name)
			a.MIME = pgtext.Clean(a.MIME)
			a.Phone = pgtext.Clean(a.Phone)
			a.Contact = pgtext.Clean(a.Contact)
		}
	}
}

// cleanUserInfo is cleanEvents for what a platform tells about a visitor (in an event, or
// from GetUserInfo).
func cleanUserInfo(u *providers.UserInfo) {
	u.FirstName = pgtext.Clean(u.FirstName)
	u.LastName = pgtext.Clean(u.LastName)
	u.Username = pgtext.Clean(u.Username)
	u.Phone = pgtext.Clean(u.Phone)
	u.Email = pgtext.Clean(u.Email)
	u.Language = pgtext.Clean(u.Language)
}
