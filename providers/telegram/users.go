package telegram

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-telegram/bot"

	"github.com/omnichat/omnichat/providers"
)

// GetUserInfo implements providers.Provider: names and username from getChat, the avatar
// from getUserProfilePhotos + getFile.
//
// UserInfo.AvatarURL is a Bot API file URL and CONTAINS THE BOT TOKEN
// ({api}/file/bot<token>/<path>): download it server-side and never store, log or show it.
// A missing avatar (none set, hidden by privacy settings, or a failed lookup) leaves
// AvatarURL empty without an error: the core loads it again later.
func (p *Provider) GetUserInfo(ctx context.Context, ch providers.Channel, externalUserID string) (providers.UserInfo, error) {
	userID, err := strconv.ParseInt(externalUserID, 10, 64)
	if err != nil || userID <= 0 {
		return providers.UserInfo{}, providers.Permanent("not a Telegram user id", fmt.Errorf("%q", externalUserID))
	}
	c, err := p.channelClient(ch)
	if err != nil {
		return providers.UserInfo{}, err
	}
	chat, err := c.bot.GetChat(ctx, &bot.GetChatParams{ChatID: userID})
	if err != nil {
		return providers.UserInfo{}, classify("getChat", err)
	}
	info := providers.UserInfo{FirstName: chat.FirstName, LastName: chat.LastName, Username: chat.Username}
	info.AvatarURL = c.avatarURL(ctx, userID)
	return info, nil
}

// avatarURL returns the download URL of the user's current profile photo in its largest
// size, or "" when there is none.
func (c *client) avatarURL(ctx context.Context, userID int64) string {
	photos, err := c.bot.GetUserProfilePhotos(ctx, &bot.GetUserProfilePhotosParams{UserID: userID, Limit: 1})
	if err != nil || len(photos.Photos) == 0 || len(photos.Photos[0]) == 0 {
		return ""
	}
	sizes := photos.Photos[0] // smallest first
	f, err := c.bot.GetFile(ctx, &bot.GetFileParams{FileID: sizes[len(sizes)-1].FileID})
	if err != nil || f.FilePath == "" {
		return ""
	}
	return c.fileURL(f.FilePath)
}

// ResolveFile implements providers.FileResolver: getFile turns an attachment's file_id
// into a download URL valid for at least an hour. The URL contains the bot token: the
// core downloads it and never stores or logs it. Telegram's cloud API serves files up to
// 20 MB; larger ones fail with a Permanent error.
func (p *Provider) ResolveFile(ctx context.Context, ch providers.Channel, ref string) (providers.Download, error) {
	if ref == "" {
		return providers.Download{}, providers.Permanent("empty Telegram file id", nil)
	}
	c, err := p.channelClient(ch)
	if err != nil {
		return providers.Download{}, err
	}
	f, err := c.bot.GetFile(ctx, &bot.GetFileParams{FileID: ref})
	switch {
	case apiErrorHas(err, 400, "file is too big"):
		return providers.Download{}, providers.Permanent("the file is larger than the 20 MB Telegram lets bots download", classify("getFile", err))
	case err != nil:
		return providers.Download{}, classify("getFile", err)
	case f.FilePath == "":
		return providers.Download{}, errors.New("telegram getFile: the answer has no file_path")
	}
	return providers.Download{URL: c.fileURL(f.FilePath)}, nil
}

// AnswerButton implements providers.ButtonAnswerer: answerCallbackQuery stops the
// spinner on the button the visitor pressed. ev.ExternalID is "cb:<callback_query_id>" as
// EventFilter made it. Telegram accepts an answer only for a short while after the press;
// a late answer fails with a Permanent error (retrying cannot help).
func (p *Provider) AnswerButton(ctx context.Context, ch providers.Channel, ev providers.Event) error {
	id, ok := strings.CutPrefix(ev.ExternalID, "cb:")
	if !ok || id == "" {
		return providers.Permanent("not a Telegram button press", fmt.Errorf("external id %q", ev.ExternalID))
	}
	c, err := p.channelClient(ch)
	if err != nil {
		return err
	}
	if _, err := c.bot.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: id}); err != nil {
		return classify("answerCallbackQuery", err)
	}
	return nil
}
