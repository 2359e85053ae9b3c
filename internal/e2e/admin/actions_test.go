package admin

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/chatapi"
	"github.com/omnichat/omnichat/providers/chatapi/chatapitest"
)

// TestChatAPIQRCodeOnTheChannelsPage: ChatAPI's QR authorization appears through the
// general actions mechanism (no ChatAPI code in the page): the button shows the PNG the
// fake instance serves, decoded by the browser under the page's CSP.
func TestChatAPIQRCodeOnTheChannelsPage(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true})
	admin := inst.Admin(t)
	fake := chatapitest.NewServer()
	t.Cleanup(fake.Close)
	var ch struct {
		ID      int64 `json:"id"`
		Actions []struct {
			Name string `json:"name"`
		} `json:"actions"`
	}
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "chatapi", "name": "WhatsApp", "settings": fake.Settings()}, &ch)
	if len(ch.Actions) < 2 {
		t.Fatalf("chatapi channel actions: %+v", ch.Actions)
	}
	fake.SetAccountStatus(chatapi.StatusGotQRCode)

	ctx, problems := browser(t)
	signIn(t, ctx, inst.URL, "admin@example.com", "test-password-1")
	row := fmt.Sprintf(`#channels-table tbody tr[data-id="%d"]`, ch.ID)
	var label, text string
	var width int
	run(t, ctx, "show the QR code",
		chromedp.Navigate(inst.URL+"/admin/channels"),
		chromedp.WaitVisible(row+` button[data-action=qr]`, chromedp.ByQuery),
		chromedp.Text(row+` button[data-action=qr]`, &label, chromedp.ByQuery),
		chromedp.Click(row+` button[data-action=qr]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#action-result img`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('#action-result img').complete`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Evaluate(`document.querySelector('#action-result img').naturalWidth`, &width),
		chromedp.Text(`#action-result`, &text, chromedp.ByQuery),
	)
	if label != "QR authorization" || width < 20 || !strings.Contains(text, "Linked devices") {
		t.Errorf("QR action: label %q, image width %d, text %.120q", label, width, text)
	}
	for _, p := range problems() {
		t.Errorf("browser: %s", p)
	}
}
