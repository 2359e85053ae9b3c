package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/go-telegram/bot"

	"github.com/omnichat/omnichat/providers"
)

// Check implements providers.Provider: getMe verifies the token and names the bot.
func (p *Provider) Check(ctx context.Context, s providers.Settings) (providers.Settings, error) {
	set, err := decodeSettings(s)
	if err != nil {
		return nil, err
	}
	c, err := p.client(set)
	if err != nil {
		return nil, err
	}
	me, err := c.bot.GetMe(ctx)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && (ae.Code == 401 || ae.Code == 404) {
			// Telegram answers 401 for a wrong or revoked token (404 when its shape is off).
			return nil, &providers.SettingsError{Fields: []string{SettingToken},
				Msg: "Telegram rejected the bot token: copy it again from @BotFather (/mybots → your bot → API Token)"}
		}
		return nil, fmt.Errorf("checking the bot with the Telegram Bot API at %s: %w", hostOf(set.apiURL), classify("getMe", err))
	}
	name := me.Username
	if name == "" {
		name = me.FirstName
	}
	return s.Merge(providers.Settings{
		SettingBotID:   strconv.FormatInt(me.ID, 10),
		SettingBotName: name,
	}), nil
}

// hostOf names the API server in errors without its path or credentials.
func hostOf(apiURL string) string {
	u, err := url.Parse(apiURL)
	if err != nil {
		return "the configured API URL"
	}
	return u.Host
}

// SetWebhook implements providers.Provider. The channel's secret becomes Telegram's
// secret_token, which Telegram sends back in X-Telegram-Bot-Api-Secret-Token on every
// update. Pending updates are kept (drop_pending_updates off): they are visitors' messages.
// getWebhookInfo then confirms that Telegram stored the URL.
func (p *Provider) SetWebhook(ctx context.Context, ch providers.Channel, webhookURL string) (providers.Settings, error) {
	if webhookURL == "" {
		return nil, errors.New("telegram setWebhook: empty webhook URL")
	}
	if !secretRe.MatchString(ch.Secret) {
		return nil, errors.New("telegram setWebhook: the channel secret is not a valid secret_token (1-256 characters A-Z a-z 0-9 _ -)")
	}
	c, err := p.channelClient(ch)
	if err != nil {
		return nil, err
	}
	_, err = c.bot.SetWebhook(ctx, &bot.SetWebhookParams{
		URL:            webhookURL,
		SecretToken:    ch.Secret,
		AllowedUpdates: allowedUpdates,
	})
	if err != nil {
		return nil, classify("setWebhook", err)
	}
	info, err := c.bot.GetWebhookInfo(ctx)
	if err != nil {
		return nil, classify("getWebhookInfo", err)
	}
	if info.URL != webhookURL {
		return nil, fmt.Errorf("telegram setWebhook: Telegram reports webhook %q, want %q", info.URL, webhookURL)
	}
	return nil, nil
}

// DeleteWebhook implements providers.Provider. Pending updates are kept, so a channel
// created again with the same bot still receives them.
func (p *Provider) DeleteWebhook(ctx context.Context, ch providers.Channel) error {
	c, err := p.channelClient(ch)
	if err != nil {
		return err
	}
	if _, err := c.bot.DeleteWebhook(ctx, &bot.DeleteWebhookParams{}); err != nil {
		return classify("deleteWebhook", err)
	}
	return nil
}
