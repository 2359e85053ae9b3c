package channel

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// fileLinkTTL is how long a public file link works. Platforms that fetch files by URL
// (Viber) do so while the send call runs; a day covers the job queue's retries.
const fileLinkTTL = 24 * time.Hour

// fileLinkAD binds the sealed token to its purpose: it opens nothing else and nothing else
// opens as one.
var fileLinkAD = []byte("public-file-link")

// FileURL returns an unguessable, expiring public link to an outgoing file, for platforms
// that fetch files by URL instead of taking an upload (Viber). The token is the file id and
// an expiry sealed with the instance's secret key, so every instance behind a load balancer
// verifies it and nothing needs storing. The dialog service finds this method by a type
// assertion on its Channels.
func (s *Service) FileURL(fileID int64, name string) string {
	exp := time.Now().Add(fileLinkTTL).Unix()
	sealed, err := s.Box.Seal([]byte(fmt.Sprintf("%d:%d", fileID, exp)), fileLinkAD)
	if err != nil {
		return ""
	}
	u := fmt.Sprintf("%s/public/files/%d/%s", s.PublicURL, fileID, base64.RawURLEncoding.EncodeToString(sealed))
	if name = strings.TrimSpace(name); name != "" {
		// Some platforms take the file name (and type) from the URL's last segment.
		u += "/" + url.PathEscape(name)
	}
	return u
}

// FileTokenValid reports whether token is a live link token for fileID.
func (s *Service) FileTokenValid(fileID int64, token string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return false
	}
	pt, err := s.Box.Open(raw, fileLinkAD)
	if err != nil {
		return false
	}
	id, exp, ok := strings.Cut(string(pt), ":")
	if !ok || id != strconv.FormatInt(fileID, 10) {
		return false
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	return err == nil && time.Now().Unix() < e
}
