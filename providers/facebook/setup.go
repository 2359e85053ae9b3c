package facebook

import (
	"context"
	"errors"
	"fmt"
	"strings"

	fb "github.com/huandu/facebook/v2"

	"github.com/omnichat/omnichat/providers"
)

// WebhookFields are the page webhook fields SetWebhook subscribes to. message_echoes is left
// out on purpose: echoes of our own sends are ignored anyway, so they would only cost
// traffic (EventFilter still ignores them when an admin subscribes by hand).
var WebhookFields = []string{
	"messages",
	"messaging_postbacks",
	"message_deliveries",
	"message_reads",
	"message_edits",
	"messaging_referrals",
}

// Check verifies the page token (it must belong to page_id) and the app id/secret pair,
// and fills page_name.
func (p *Provider) Check(ctx context.Context, s providers.Settings) (providers.Settings, error) {
	c, err := decodeConfig(s)
	if err != nil {
		return nil, err
	}

	res, err := p.pageSession(ctx, c).Get("/me", fb.Params{"fields": "id,name"})
	if err != nil {
		var fe *fb.Error
		if errors.As(err, &fe) && (fe.Code == codeAccessToken || fe.Code == 2500) {
			return nil, &providers.SettingsError{Fields: []string{SettingPageToken},
				Msg: "Facebook rejected the page access token (" + scrubString(fe.Message, c.secrets()...) + ")"}
		}
		return nil, fmt.Errorf("facebook: checking the page access token: %w", scrub(err, c.secrets()...))
	}
	id, name := resultString(res, "id"), resultString(res, "name")
	if id != c.PageID {
		return nil, &providers.SettingsError{Fields: []string{SettingPageID, SettingPageToken},
			Msg: fmt.Sprintf("the page access token belongs to %q (id %s), not to page %s: generate the token for this page", name, id, c.PageID)}
	}

	// The app secret signs every webhook: a wrong one would make every delivery fail the
	// signature check, so it is verified here, with the app's own token.
	res, err = p.appSession(ctx, c).Get("/"+c.AppID, fb.Params{"fields": "id,name"})
	if err != nil {
		var fe *fb.Error
		if errors.As(err, &fe) && (fe.Code == codeAccessToken || fe.Code == codeAppInvalid || fe.Code == codeInvalidParameter) {
			return nil, &providers.SettingsError{Fields: []string{SettingAppID, SettingAppSecret},
				Msg: "Facebook rejected the app id and app secret pair (" + scrubString(fe.Message, c.secrets()...) + ")"}
		}
		return nil, fmt.Errorf("facebook: checking the app id and secret: %w", scrub(err, c.secrets()...))
	}
	if got := resultString(res, "id"); got != c.AppID {
		return nil, &providers.SettingsError{Fields: []string{SettingAppID}, Msg: fmt.Sprintf("Facebook answered for app %s, not %s", got, c.AppID)}
	}

	out := s.Clone()
	out[SettingPageName] = name
	return out, nil
}

// SetWebhook subscribes the app to page webhooks at url (Meta calls the verify handshake on
// url during this request, so the channel must already be reachable there), then subscribes
// the page to the app. It returns the verify token it registered, to be stored.
func (p *Provider) SetWebhook(ctx context.Context, ch providers.Channel, url string) (providers.Settings, error) {
	c, err := decodeConfig(ch.Settings)
	if err != nil {
		return nil, err
	}
	token := verifyToken(ch)
	if token == "" {
		return nil, errors.New("facebook: the channel has no secret to use as the verify token")
	}
	fields := strings.Join(WebhookFields, ",")

	res, err := p.appSession(ctx, c).Post("/"+c.AppID+"/subscriptions", fb.Params{
		"object":       "page",
		"callback_url": url,
		"verify_token": token,
		"fields":       fields,
	})
	if err != nil {
		return nil, fmt.Errorf("facebook: subscribing the app to page webhooks: %w", classify(c, res, err))
	}
	res, err = p.pageSession(ctx, c).Post("/"+c.PageID+"/subscribed_apps", fb.Params{
		"subscribed_fields": fields,
	})
	if err != nil {
		return nil, fmt.Errorf("facebook: subscribing the page to the app: %w", classify(c, res, err))
	}
	return providers.Settings{SettingVerifyToken: token}, nil
}

// DeleteWebhook unsubscribes the page from the app. The app-level subscription stays: it is
// shared by every page the app serves.
func (p *Provider) DeleteWebhook(ctx context.Context, ch providers.Channel) error {
	c, err := decodeConfig(ch.Settings)
	if err != nil {
		return err
	}
	res, err := p.pageSession(ctx, c).Delete("/"+c.PageID+"/subscribed_apps", nil)
	if err != nil {
		return fmt.Errorf("facebook: unsubscribing the page from the app: %w", classify(c, res, err))
	}
	return nil
}

// ActionWebhook shows the callback URL and verify token for the app's Webhooks settings.
const ActionWebhook = "webhook"

// Actions lists the settings page's extra buttons.
func (p *Provider) Actions(ch providers.Channel) []providers.Action {
	return []providers.Action{{
		Name:  ActionWebhook,
		Label: providers.Text{En: "Callback URL and verify token", Ru: "URL обратного вызова и токен подтверждения"},
	}}
}

// RunAction runs one of Actions. The webhook action reveals the verify token: it is shown
// to admins only, like the seed's settings form did.
func (p *Provider) RunAction(ctx context.Context, ch providers.Channel, name string) (providers.ActionResult, error) {
	if name != ActionWebhook {
		return providers.ActionResult{}, fmt.Errorf("facebook: unknown action %q: %w", name, providers.ErrUnsupported)
	}
	token := verifyToken(ch)
	if ch.WebhookURL == "" || token == "" {
		return providers.ActionResult{}, errors.New("facebook: save the channel first: the callback URL and verify token exist once it is saved")
	}
	return providers.ActionResult{
		Text: "Saving the channel registers this webhook with Facebook automatically. To set it by hand: " +
			"Meta app → Messenger → Settings → Webhooks → Add callback URL, paste both values, then subscribe " +
			"the page to the fields " + strings.Join(WebhookFields, ", ") + ".\n" +
			"Сохранение канала регистрирует webhook в Facebook автоматически. Вручную: приложение Meta → Messenger → " +
			"Настройки → Webhooks → Добавить URL обратного вызова, вставьте оба значения и подпишите страницу на поля выше.",
		Code: "Callback URL: " + ch.WebhookURL + "\nVerify token: " + token,
	}, nil
}
