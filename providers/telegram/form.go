package telegram

import "github.com/omnichat/omnichat/providers"

// maxUploadBytes is the Bot API's limit for files a bot uploads (sendDocument).
const maxUploadBytes = 50 << 20

// SettingsForm implements providers.Provider.
func (p *Provider) SettingsForm() providers.Form {
	return providers.Form{
		Title:          providers.Text{En: "Telegram bot", Ru: "Бот Telegram"},
		Instructions:   providers.Text{En: instructionsEn, Ru: instructionsRu},
		MaxUploadBytes: maxUploadBytes,
		Fields: []providers.Field{
			{
				Name: SettingToken, Type: providers.FieldSecret, Required: true,
				Label: providers.Text{En: "Bot token", Ru: "Токен бота"},
				Help: providers.Text{
					En: "The token @BotFather gave you, like 123456789:AAE…. It is stored encrypted and never shown again.",
					Ru: "Токен, который выдал @BotFather, вида 123456789:AAE…. Хранится в зашифрованном виде и больше не показывается.",
				},
			},
			{
				// A proxy URL often carries a password, so it is a write-only secret too.
				Name: SettingProxyURL, Type: providers.FieldSecret,
				Label: providers.Text{En: "Proxy server", Ru: "Прокси-сервер"},
				Help: providers.Text{
					En: "Optional. Where Telegram is blocked, calls go through this proxy: http://host:3128, socks5://user:password@host:1080. Stored encrypted.",
					Ru: "Необязательно. Если Telegram заблокирован, запросы пойдут через этот прокси: http://host:3128, socks5://user:password@host:1080. Хранится в зашифрованном виде.",
				},
			},
			{
				Name: SettingAPIURL, Type: providers.FieldURL,
				Label: providers.Text{En: "Bot API server URL", Ru: "Адрес сервера Bot API"},
				Help: providers.Text{
					En: "Optional. Leave empty for https://api.telegram.org; set it for a self-hosted telegram-bot-api server.",
					Ru: "Необязательно. Оставьте пустым для https://api.telegram.org; укажите адрес своего сервера telegram-bot-api, если он есть.",
				},
			},
			{
				Name: SettingAllowGroups, Type: providers.FieldBool, Default: "false",
				Label: providers.Text{En: "Accept group chats", Ru: "Принимать групповые чаты"},
				Help: providers.Text{
					En: "Off: only private chats with the bot become dialogs. On: messages in groups the bot belongs to become dialogs as well (one dialog per group).",
					Ru: "Выключено: диалогами становятся только личные чаты с ботом. Включено: сообщения из групп, где состоит бот, тоже становятся диалогами (один диалог на группу).",
				},
			},
			{
				Name: SettingBotID, Type: providers.FieldText, Filled: true,
				Label: providers.Text{En: "Bot ID", Ru: "Bot ID"},
				Help:  providers.Text{En: "Filled by Check.", Ru: "Заполняется кнопкой «Проверить»."},
			},
			{
				Name: SettingBotName, Type: providers.FieldText, Filled: true,
				Label: providers.Text{En: "Bot name", Ru: "Имя бота"},
				Help:  providers.Text{En: "The bot's @username, filled by Check.", Ru: "@username бота, заполняется кнопкой «Проверить»."},
			},
		},
	}
}

const instructionsEn = `1. Create a bot: open @BotFather in Telegram, send /newbot, choose a display name and a username ending in "bot". BotFather answers with the bot token (123456789:AAE…). /mybots → your bot → API Token shows it again; Revoke there issues a new one.
2. Add a channel of kind Telegram, paste the token. If Telegram is blocked on the server's network, set a proxy server (HTTP or SOCKS5).
3. Press Check: omnichat asks Telegram who the bot is and fills Bot ID and Bot name.
4. Save: omnichat registers its webhook with Telegram automatically (and removes it when the channel is deleted). Telegram only calls HTTPS addresses with a certificate from a public CA (Let's Encrypt works, self-signed does not) on port 443, 80, 88 or 8443, so omnichat's public URL must be one.
Good to know: a bot has one webhook, so do not connect the same bot to another system at the same time. The visitor writes first: a bot cannot start a chat. Visitors find the bot by its @username or a t.me/<username> link; a link t.me/<username>?start=<code> passes <code> to omnichat as the conversation's start payload.`

const instructionsRu = `1. Создайте бота: откройте @BotFather в Telegram, отправьте /newbot, задайте отображаемое имя и username, оканчивающийся на «bot». BotFather пришлёт токен бота (123456789:AAE…). Команда /mybots → ваш бот → API Token покажет его снова, а Revoke выпустит новый.
2. Добавьте канал типа Telegram и вставьте токен. Если Telegram заблокирован в сети сервера, укажите прокси-сервер (HTTP или SOCKS5).
3. Нажмите «Проверить»: omnichat спросит у Telegram данные бота и заполнит поля Bot ID и «Имя бота».
4. Сохраните: omnichat сам зарегистрирует webhook в Telegram (и удалит его при удалении канала). Telegram обращается только по HTTPS с сертификатом от публичного центра сертификации (Let's Encrypt подходит, самоподписанный — нет) на порты 443, 80, 88 или 8443, поэтому публичный адрес omnichat должен быть таким.
Для сведения: у бота может быть только один webhook, не подключайте одного и того же бота одновременно к другой системе. Посетитель пишет первым: бот не может начать диалог сам. Бота находят по @username или ссылке t.me/<username>; ссылка t.me/<username>?start=<код> передаёт <код> в omnichat как метку начала диалога.`
