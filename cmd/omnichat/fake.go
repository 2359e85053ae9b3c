package main

import (
	"context"
	"fmt"
	"io"

	"github.com/omnichat/omnichat/providers/telegram"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

// fake telegram: the fake Bot API the tests use, run on its own, so the whole product can
// be tried with no internet: connect a Telegram channel to it, post updates with
// `omnichat simulate telegram`, and watch the replies arrive at the fake.
func fake(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "telegram" {
		return usageError{"usage: omnichat fake telegram"}
	}
	srv := telegramtest.NewServer()
	srv.AllowHTTPWebhook = true
	defer srv.Close()
	fmt.Fprintf(stdout, "A fake Telegram Bot API is listening at %s\n\n", srv.URL())
	fmt.Fprintf(stdout, "In omnichat: Settings → Channels → Add channel → Telegram, with\n  %s: %s\n  %s: %s\n", telegram.SettingToken, srv.Token, telegram.SettingAPIURL, srv.URL())
	fmt.Fprintf(stdout, "then write as a visitor:\n  omnichat simulate telegram --channel <id> --user %d --text \"Hello\"\n\nPress Ctrl+C to stop.\n", telegramtest.UserID)
	<-ctx.Done()
	return nil
}
