package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/omnichat/omnichat/internal/app"
	"github.com/omnichat/omnichat/internal/config"
	"github.com/omnichat/omnichat/providers/telegram"
)

// simulate telegram --channel ID --text T: a signed update posted to the webhook, as
// Telegram would send it — for demos and for trying a channel without a real bot.
func simulate(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "telegram" {
		return usageError{"usage: omnichat-dev simulate telegram --channel ID --text TEXT [--user ID] [--name NAME] [--url BASE]"}
	}
	fs := flag.NewFlagSet("simulate telegram", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	channelID := fs.Int64("channel", 0, "channel id")
	text := fs.String("text", "", "message text")
	userID := fs.Int64("user", 100000001, "the simulated Telegram user id")
	name := fs.String("name", "Simulated Visitor", "the simulated user's first name")
	base := fs.String("url", cfg.PublicURL, "base URL of the running server")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{"simulate telegram: " + err.Error()}
	}
	if *channelID == 0 || *text == "" {
		return usageError{"simulate telegram: --channel and --text are required"}
	}
	a, err := app.New(ctx, cfg, log, app.Options{Version: version, NoWorkers: true})
	if err != nil {
		return err
	}
	p, ch, err := a.Channels.Live(ctx, *channelID)
	a.Close()
	if err != nil {
		return fmt.Errorf("channel %d: %w", *channelID, err)
	}
	if p.Kind() != "telegram" {
		return fmt.Errorf("channel %d is a %s channel, not telegram", *channelID, p.Kind())
	}
	now := time.Now()
	body := telegram.SimulatedUpdate(now.UnixNano()%1_000_000_000, *userID, *name, *text, now)
	url := strings.TrimRight(*base, "/") + "/webhooks/" + strconv.FormatInt(*channelID, 10)
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = telegram.SimulatedHeader(ch.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("post the update (is the server running at %s?): %w", *base, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the webhook answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	fmt.Fprintf(stdout, "delivered to channel %d: %q\n", *channelID, *text)
	return nil
}
