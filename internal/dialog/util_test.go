package dialog

import (
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/store"
)

func TestNeedsUserInfo(t *testing.T) {
	now := time.Now()
	recent, old := now.Add(-time.Hour), now.Add(-48*time.Hour)
	avatar := int64(7)
	cases := []struct {
		name string
		v    store.Visitor
		want bool
	}{
		{"never loaded", store.Visitor{FirstName: "A", AvatarFileID: &avatar}, true},
		{"complete", store.Visitor{FirstName: "A", AvatarFileID: &avatar, InfoLoadedAt: &old}, false},
		{"no avatar, loaded recently", store.Visitor{FirstName: "A", InfoLoadedAt: &recent}, false},
		{"no avatar, loaded long ago", store.Visitor{FirstName: "A", InfoLoadedAt: &old}, true},
		{"no name, loaded long ago", store.Visitor{AvatarFileID: &avatar, InfoLoadedAt: &old}, true},
		{"username only is a name", store.Visitor{Username: "u", AvatarFileID: &avatar, InfoLoadedAt: &old}, false},
	}
	for _, c := range cases {
		if got := needsUserInfo(c.v, now); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
