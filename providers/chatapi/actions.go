package chatapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/omnichat/omnichat/providers"
)

// Action names on the channel's settings page.
const (
	// ActionQR shows the QR code to scan with the phone (and says so when none is needed).
	ActionQR = "qr"
	// ActionStatus shows the account status as ChatAPI reports it.
	ActionStatus = "status"
)

// pngMagic starts every PNG file.
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// Actions implements providers.Actioner. QR authorization is an action rather than part of
// Check: the code is valid for about a minute, so the admin asks for it right before
// scanning, as often as needed.
func (p *Provider) Actions(ch providers.Channel) []providers.Action {
	return []providers.Action{
		{Name: ActionQR, Label: providers.Text{En: "QR authorization", Ru: "QR-авторизация"}},
		{Name: ActionStatus, Label: providers.Text{En: "Account status", Ru: "Статус аккаунта"}},
	}
}

// RunAction implements providers.Actioner. Texts are in English and Russian, one after the
// other: ActionResult has one text and the settings page shows it as is.
func (p *Provider) RunAction(ctx context.Context, ch providers.Channel, name string) (providers.ActionResult, error) {
	if name != ActionQR && name != ActionStatus {
		return providers.ActionResult{}, fmt.Errorf("chatapi: action %q: %w", name, providers.ErrUnsupported)
	}
	c, err := channelConfig(ch)
	if err != nil {
		return providers.ActionResult{}, err
	}
	st, err := p.status(ctx, c)
	if err != nil {
		return providers.ActionResult{}, fmt.Errorf("account status: %w", err)
	}
	if name == ActionStatus {
		return providers.ActionResult{Text: describeStatus(st)}, nil
	}

	switch st.AccountStatus {
	case StatusAuthenticated:
		return providers.ActionResult{Text: describeStatus(st) + "\n\n" +
			"The phone is linked: no QR code is needed.\n" +
			"Телефон привязан: QR-код не нужен."}, nil
	case StatusGotQRCode:
		img, err := p.qrImage(ctx, c, st)
		if err != nil {
			return providers.ActionResult{}, err
		}
		return providers.ActionResult{
			Image: img, ImageType: "image/png",
			Text: describeStatus(st) + "\n\n" +
				"On the phone open WhatsApp → ⋮ (Settings) → Linked devices → Link a device and scan this code. It is valid for about a minute: press the button again for a fresh one.\n" +
				"На телефоне откройте WhatsApp → ⋮ (Настройки) → Связанные устройства → Привязка устройства и отсканируйте этот код. Он действует около минуты: для нового кода нажмите кнопку ещё раз.",
		}, nil
	case StatusLoading, StatusInit:
		return providers.ActionResult{Text: describeStatus(st) + "\n\n" +
			"The instance is starting and has no QR code yet: press the button again in a few seconds.\n" +
			"Инстанс запускается, QR-кода ещё нет: нажмите кнопку ещё раз через несколько секунд."}, nil
	default:
		return providers.ActionResult{Text: describeStatus(st) + "\n\n" +
			"ChatAPI offers no QR code in this status: see the ChatAPI dashboard.\n" +
			"В этом статусе ChatAPI не выдаёт QR-код: см. личный кабинет ChatAPI."}, nil
	}
}

// qrImage fetches the QR code as a PNG from GET qr_code. If that answer is not a PNG (an
// instance that switched status in between), the data URI GET status already returned is
// used instead.
func (p *Provider) qrImage(ctx context.Context, c config, st statusAnswer) ([]byte, error) {
	data, _, err := p.call(ctx, c, http.MethodGet, "qr_code", nil, nil)
	if err == nil && bytes.HasPrefix(data, pngMagic) {
		return data, nil
	}
	if img, ok := decodePNGDataURI(st.QRCode); ok {
		return img, nil
	}
	if err != nil {
		return nil, fmt.Errorf("QR code: %w", err)
	}
	return nil, errorf("qr_code: the answer is not a PNG image; press the button again")
}

// decodePNGDataURI decodes "data:image/png;base64,…".
func decodePNGDataURI(s string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "data:image/png;base64,")
	if !ok {
		return nil, false
	}
	img, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || !bytes.HasPrefix(img, pngMagic) {
		return nil, false
	}
	return img, true
}

// describeStatus is the account status in words, with ChatAPI's own explanation when it
// gives one.
func describeStatus(st statusAnswer) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Account status / Статус аккаунта: %s", st.AccountStatus)
	if d := st.StatusData; d != nil {
		if d.Substatus != "" {
			fmt.Fprintf(&b, " (%s)", d.Substatus)
		}
		for _, line := range []string{d.Title, d.Msg, d.Submsg} {
			if line = strings.TrimSpace(line); line != "" {
				b.WriteString("\n" + line)
			}
		}
	}
	return b.String()
}
