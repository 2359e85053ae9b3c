package viber

import (
	"context"
	"errors"
	"strings"
	"time"

	mviber "github.com/mileusna/viber"

	"github.com/omnichat/omnichat/providers"
)

// Viber allows get_user_details only twice per user in 12 hours, and callbacks already carry
// the visitor's name and avatar, so answers are cached for the whole window and a rate-limit
// answer is remembered until its delay is over.
const (
	userCacheTTL  = 12 * time.Hour
	userCacheSize = 10000
)

// userKey identifies a user of one bot: Viber user ids differ per bot, and the API URL keeps
// a test fake apart from the real platform.
type userKey struct {
	channelID int64
	baseURL   string
	userID    string
}

type cachedUser struct {
	info    providers.UserInfo
	err     error // the rate-limit answer, remembered until expires
	expires time.Time
}

// userDetailsResponse is get_user_details's answer.
type userDetailsResponse struct {
	User mviber.User `json:"user"`
}

// GetUserInfo implements providers.Provider with get_user_details, cached.
func (p *Provider) GetUserInfo(ctx context.Context, ch providers.Channel, externalUserID string) (providers.UserInfo, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.UserInfo{}, err
	}
	if strings.TrimSpace(externalUserID) == "" {
		return providers.UserInfo{}, providers.Permanent("no Viber user id to look up", nil)
	}
	key := userKey{channelID: ch.ID, baseURL: c.baseURL, userID: externalUserID}
	now := p.now()
	if cu, ok := p.cached(key, now); ok {
		if cu.err != nil {
			// Still inside the rate-limit window: do not spend another call.
			return providers.UserInfo{}, errorf("get user details: %w", providers.RetryAfter(cu.expires.Sub(now), cu.err))
		}
		return cu.info, nil
	}

	var resp userDetailsResponse
	err = p.call(ctx, c, "get_user_details", struct {
		ID string `json:"id"`
	}{externalUserID}, &resp)
	if err != nil {
		var ra *providers.RetryAfterError
		if errors.As(err, &ra) {
			p.store(key, cachedUser{err: ra.Err, expires: now.Add(ra.After)}, now)
		}
		return providers.UserInfo{}, errorf("get user details: %w", err)
	}
	info := providers.UserInfo{FirstName: resp.User.Name, Language: resp.User.Language, AvatarURL: resp.User.Avatar}
	p.store(key, cachedUser{info: info, expires: now.Add(userCacheTTL)}, now)
	return info, nil
}

func (p *Provider) cached(key userKey, now time.Time) (cachedUser, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cu, ok := p.users[key]
	if !ok || !now.Before(cu.expires) {
		return cachedUser{}, false
	}
	return cu, true
}

// store adds an entry, first dropping expired ones when the cache is full and then, if it
// is still full, an arbitrary one: the cache only saves calls, losing an entry is harmless.
func (p *Provider) store(key userKey, cu cachedUser, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.users) >= userCacheSize {
		for k, v := range p.users {
			if !now.Before(v.expires) {
				delete(p.users, k)
			}
		}
		for k := range p.users {
			if len(p.users) < userCacheSize {
				break
			}
			delete(p.users, k)
		}
	}
	p.users[key] = cu
}
