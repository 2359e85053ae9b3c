package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/omnichat/omnichat/providers/telegram"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

// fake telegram: the fake Bot API the tests use, run on its own, so the whole product can
// be tried with no internet: connect a Telegram channel to it, write as a visitor (a line
// typed here, or `omnichat-dev simulate telegram`), and watch the replies arrive at the fake.
// A typed line goes through the fake's own webhook registration, so it needs no access to
// omnichat's database (which the embedded cluster of a running `make run` does not share).
func fake(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "telegram" {
		return usageError{"usage: omnichat-dev fake telegram"}
	}
	srv := telegramtest.NewServer()
	srv.AllowHTTPWebhook = true
	defer srv.Close()
	fmt.Fprintf(stdout, "A fake Telegram Bot API is listening at %s\n\n", srv.URL())
	fmt.Fprintf(stdout, "In omnichat: Settings → Channels → Add channel → Telegram, with\n  %s: %s\n  %s: %s\n", telegram.SettingToken, srv.Token, telegram.SettingAPIURL, srv.URL())
	fmt.Fprintf(stdout, "then write as a visitor: type a line here and press Enter, or (with a shared OMNICHAT_DATABASE_URL)\n  omnichat-dev simulate telegram --channel <id> --user %d --text \"Hello\"\n\nPress Ctrl+C to stop.\n", telegramtest.UserID)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case line := <-lines:
			text := strings.TrimSpace(line)
			if text == "" {
				continue
			}
			status, answer, err := srv.Deliver(ctx, srv.TextUpdate(telegramtest.UserID, text))
			switch {
			case err != nil:
				fmt.Fprintf(stdout, "not delivered (%v): is a Telegram channel connected to this fake?\n", err)
			case status != http.StatusOK:
				fmt.Fprintf(stdout, "the webhook answered %d: %s\n", status, strings.TrimSpace(string(answer)))
			default:
				fmt.Fprintf(stdout, "delivered: %q\n", text)
			}
		}
	}
}
