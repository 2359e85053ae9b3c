package vk

import (
	"context"
	"fmt"
	"net/url"

	"github.com/omnichat/omnichat/providers"
)

// ActionAuthorize is the settings page's "Get app token" action: it shows VK's OAuth link
// that gives an administrator's user token (app_token) for the app (app_id).
const ActionAuthorize = "authorize"

// oauthRedirect is VK's own blank page for the implicit flow: the token appears in its
// address, so omnichat needs no OAuth callback route.
const oauthRedirect = "https://oauth.vk.com/blank.html"

const instructionsEn = `VK is a social network rather than a plain messenger, so connecting a community takes a few steps. Do them as an administrator of the community.

Step 1. Community
1. Open the community → Manage → Messages and turn on "Community messages".
2. Manage → Messages → Bot settings: turn on "Bot abilities" and tick "Add Start button" (buttons under operators' messages need bot abilities).
3. Manage → API usage → Access tokens → Create token. Tick every right (messages, photos, documents and community management are needed). VK confirms it by calling or texting the administrator's phone: enter the digits it asks for. Copy the token into "Community token".
4. "Community ID" is the number in the community's address (vk.com/club123456 → 123456). For a short address, the number is shown in Manage → API usage.

Step 2 (optional). App token — only if the community token was created without the community management right.
1. Open vk.com/apps?act=manage → Create app → Standalone app, and choose your community.
2. In the app's settings copy "App ID" and "Secure key" into the fields below; set the app to "Enabled and visible to all" with Open API on, and save.
3. Save this form once, then press "Get app token" and open the link as the community's administrator. Allow access; VK opens a page whose address contains access_token=…. Copy only that value (up to &expires_in) into "App token". VK warns not to copy that address: do it only for omnichat and never share it.

Step 3. Connect
1. Press "Check": omnichat connects to VK with the tokens and fills in the community name and the Callback API confirmation code.
2. Press "Save": omnichat adds its server under Manage → API usage → Callback API, with a random secret key, and subscribes it to message events. VK then confirms the address. Removing the channel removes the server.
Leave "API URL" empty unless you use a proxy or a test server. The community must write first: VK lets a community message only visitors who wrote to it or allowed its messages.`

const instructionsRu = `ВКонтакте — социальная сеть, а не просто мессенджер, поэтому подключение сообщества занимает несколько шагов. Выполняйте их как администратор сообщества.

Шаг 1. Сообщество
1. Откройте сообщество → Управление → Сообщения и включите «Сообщения сообщества».
2. Управление → Сообщения → Настройки для бота: включите «Возможности ботов» и отметьте «Добавить кнопку „Начать“» (кнопки под сообщениями операторов работают только с возможностями ботов).
3. Управление → Работа с API → Ключи доступа → Создать ключ. Отметьте все права (нужны сообщения, фотографии, документы и управление сообществом). ВКонтакте подтвердит действие звонком или SMS на телефон администратора: введите цифры, которые он попросит. Скопируйте ключ в поле «Токен сообщества».
4. «ID сообщества» — число в адресе сообщества (vk.com/club123456 → 123456). Если у сообщества короткий адрес, число видно в разделе Управление → Работа с API.

Шаг 2 (необязательно). Токен приложения — только если ключ сообщества создан без права управления сообществом.
1. Откройте vk.com/apps?act=manage → Создать приложение → Standalone-приложение и выберите своё сообщество.
2. В настройках приложения скопируйте «ID приложения» и «Защищённый ключ» в поля ниже; установите состояние «Приложение включено и видно всем», включите Open API и сохраните.
3. Сохраните эту форму, затем нажмите «Авторизация» и откройте ссылку от имени администратора сообщества. Разрешите доступ; ВКонтакте откроет страницу, в адресе которой есть access_token=…. Скопируйте только это значение (до &expires_in) в поле «Токен приложения». ВКонтакте предупреждает, что этот адрес копировать нельзя: делайте это только для omnichat и никому его не передавайте.

Шаг 3. Подключение
1. Нажмите «Проверить»: omnichat свяжется с ВКонтакте и заполнит название сообщества и строку подтверждения Callback API.
2. Нажмите «Сохранить»: omnichat добавит свой сервер в раздел Управление → Работа с API → Callback API со случайным секретным ключом и подпишет его на события сообщений. ВКонтакте затем подтвердит адрес. При удалении канала сервер удаляется.
Поле «API URL» оставьте пустым, если не используете прокси или тестовый сервер. Первым пишет клиент: ВКонтакте разрешает сообществу писать только тем, кто написал ему сам или разрешил сообщения.`

// SettingsForm implements providers.Provider.
func (p *Provider) SettingsForm() providers.Form {
	return providers.Form{
		Title:        providers.Text{En: "VK community", Ru: "Сообщество ВКонтакте"},
		Instructions: providers.Text{En: instructionsEn, Ru: instructionsRu},
		Fields: []providers.Field{
			{
				Name: SettingGroupID, Type: providers.FieldText, Required: true,
				Label: providers.Text{En: "Community ID", Ru: "ID сообщества"},
				Help: providers.Text{
					En: "The number in the community's address: vk.com/club123456 → 123456.",
					Ru: "Число в адресе сообщества: vk.com/club123456 → 123456.",
				},
			},
			{
				Name: SettingGroupToken, Type: providers.FieldSecret, Required: true,
				Label: providers.Text{En: "Community token", Ru: "Токен сообщества"},
				Help: providers.Text{
					En: "Manage → API usage → Access tokens, with every right ticked.",
					Ru: "Управление → Работа с API → Ключи доступа, со всеми отмеченными правами.",
				},
			},
			{
				Name: SettingAppID, Type: providers.FieldText,
				Label: providers.Text{En: "VK app ID", Ru: "ID приложения ВКонтакте"},
				Help: providers.Text{
					En: "Optional: your Standalone app's ID, for the \"Get app token\" link.",
					Ru: "Необязательно: ID вашего Standalone-приложения, для ссылки «Авторизация».",
				},
			},
			{
				Name: SettingAppSecret, Type: providers.FieldSecret,
				Label: providers.Text{En: "App secure key", Ru: "Защищённый ключ приложения"},
				Help: providers.Text{
					En: "Optional: the app's secure key (app settings). Kept encrypted with the channel; the \"Get app token\" link does not need it.",
					Ru: "Необязательно: защищённый ключ приложения (настройки приложения). Хранится зашифрованным вместе с каналом; для ссылки «Авторизация» он не нужен.",
				},
			},
			{
				Name: SettingAppToken, Type: providers.FieldSecret,
				Label: providers.Text{En: "App token", Ru: "Токен приложения"},
				Help: providers.Text{
					En: "Optional: an administrator's token from \"Get app token\". When set, omnichat manages the Callback API server with it.",
					Ru: "Необязательно: токен администратора из «Авторизации». Если задан, omnichat управляет сервером Callback API с его помощью.",
				},
			},
			{
				Name: SettingAPIURL, Type: providers.FieldURL, Default: DefaultAPIURL,
				Label: providers.Text{En: "API URL", Ru: "API URL"},
				Help: providers.Text{
					En: "Optional. Replaces " + DefaultAPIURL + " (a proxy or a test server).",
					Ru: "Необязательно. Заменяет " + DefaultAPIURL + " (прокси или тестовый сервер).",
				},
			},
			{
				Name: SettingGroupName, Type: providers.FieldText, Filled: true,
				Label: providers.Text{En: "Community name", Ru: "Название сообщества"},
			},
			{
				Name: SettingConfirmationCode, Type: providers.FieldText, Filled: true,
				Label: providers.Text{En: "Callback API confirmation code", Ru: "Строка подтверждения Callback API"},
				Help: providers.Text{
					En: "What omnichat answers when VK confirms the server address.",
					Ru: "Её omnichat отвечает, когда ВКонтакте подтверждает адрес сервера.",
				},
			},
			{
				Name: SettingCallbackServerID, Type: providers.FieldText, Internal: true,
				Label: providers.Text{En: "Callback server ID", Ru: "ID Callback-сервера"},
			},
		},
		MaxUploadBytes: MaxUploadBytes,
	}
}

// Actions implements providers.Actioner: the seed's "Authorization" button.
func (p *Provider) Actions(ch providers.Channel) []providers.Action {
	return []providers.Action{{
		Name:  ActionAuthorize,
		Label: providers.Text{En: "Get app token", Ru: "Авторизация"},
	}}
}

// RunAction implements providers.Actioner.
func (p *Provider) RunAction(ctx context.Context, ch providers.Channel, name string) (providers.ActionResult, error) {
	if name != ActionAuthorize {
		return providers.ActionResult{}, fmt.Errorf("vk: unknown action %q: %w", name, providers.ErrUnsupported)
	}
	link, err := AuthorizeURL(ch.Settings[SettingAppID])
	if err != nil {
		return providers.ActionResult{}, err
	}
	return providers.ActionResult{
		Text: "Open the link as the community's administrator, allow access, then copy the access_token value from the address of the page VK opens into \"App token\".\n" +
			"Откройте ссылку от имени администратора сообщества, разрешите доступ и скопируйте значение access_token из адреса открывшейся страницы в поле «Токен приложения».",
		Code: link,
	}, nil
}

// AuthorizeURL returns VK's OAuth link (implicit flow) for the app appID: an administrator
// who opens it gets a user token with the "groups" right (callback server management) that
// never expires ("offline").
func AuthorizeURL(appID string) (string, error) {
	if _, err := parsePositive(appID); err != nil {
		return "", &providers.SettingsError{Fields: []string{SettingAppID}, Msg: "fill in the VK app ID first"}
	}
	q := url.Values{}
	q.Set("client_id", appID)
	q.Set("display", "page")
	q.Set("redirect_uri", oauthRedirect)
	q.Set("scope", "groups,offline")
	q.Set("response_type", "token")
	q.Set("v", APIVersion)
	return "https://oauth.vk.com/authorize?" + q.Encode(), nil
}
