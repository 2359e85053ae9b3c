// Package pgtext makes text storable in PostgreSQL. PostgreSQL refuses two things every
// other part of the stack accepts: the NUL character (U+0000, in text and in jsonb) and
// bytes that are not UTF-8 (SQLSTATE 22021 / 22P05). A platform or a browser that sends
// either would make every retry of the same request fail, so omnichat cleans text once,
// where it enters (ingest of platform events, the HTTP API's query, form and JSON input):
//
//   - NUL characters are removed (they are never visible content);
//   - invalid UTF-8 bytes are replaced by U+FFFD, the replacement character.
//
// Cleaning is idempotent and deterministic, so a platform's retry of a cleaned message is
// still recognised as the same message.
package pgtext

import (
	"strings"
	"unicode/utf8"
)

// Clean returns s without NUL characters and with invalid UTF-8 replaced by U+FFFD. A
// clean s is returned as is, without allocating.
func Clean(s string) string {
	if !Dirty(s) {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

// Dirty reports whether s holds something Clean changes.
func Dirty(s string) bool {
	return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
}

// CleanAll cleans every string of ss in place.
func CleanAll(ss []string) {
	for i := range ss {
		ss[i] = Clean(ss[i])
	}
}
