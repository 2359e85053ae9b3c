// Command omnichat-dev carries omnichat's developer tools: the fake platforms, the simulated
// visitor and the load test. They are built on the fakes the tests use, so they live here
// and not in the shipped omnichat binary, which must link no test code
// (cmd/omnichat's TestBinaryLinksNoTestCode).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/config"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

const usage = `omnichat-dev — omnichat's developer tools (not for production)

Usage:
  omnichat-dev fake telegram            a fake Telegram Bot API for trying omnichat offline
  omnichat-dev simulate telegram --channel ID --text TEXT [--user ID] [--name NAME]
                                        post a realistic signed Telegram update to a
                                        running server's webhook
  omnichat-dev loadtest [--inprocess | --url U --email E --password P] [--rate N] [--duration D]
                                        signed webhooks at a rate: accepted/s, latencies,
                                        webhook→SSE latency, stored exactly once (a server
                                        given by --url needs OMNICHAT_DEV_PROVIDERS=true)
  omnichat-dev version                  print the version

Configuration is read from the same OMNICHAT_* environment variables as omnichat's
("omnichat env"); the development providers are always on here.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "omnichat-dev", version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintln(stderr, "omnichat-dev: configuration:", err)
		return 2
	}
	// The load test's channels are example channels: this binary always knows that kind.
	cfg.DevProviders = true
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "fake":
		err = fake(ctx, args, stdin, stdout)
	case "simulate":
		err = simulate(ctx, cfg, log, args, stdout)
	case "loadtest":
		err = loadtestCmd(ctx, cfg, log, args, stdout)
	default:
		fmt.Fprintf(stderr, "omnichat-dev: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(stderr, "omnichat-dev:", err)
			return 2
		}
		var ae *apperr.Error
		if errors.As(err, &ae) {
			fmt.Fprintln(stderr, "omnichat-dev:", ae.Message)
			return 1
		}
		fmt.Fprintln(stderr, "omnichat-dev:", err)
		return 1
	}
	return 0
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
