// Command omnichat is the omnichannel messenger backend: one binary that serves the API,
// the web inbox and the webhooks, runs the background jobs, and carries its own tools.
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

const usage = `omnichat — omnichannel messenger backend

Usage:
  omnichat [serve]                      start the server (the default)
  omnichat migrate                      apply database migrations and exit
  omnichat user create --email E --role admin|operator [--name N] [--capacity N]
                                        create a user; the password is read from stdin,
                                        or generated and printed when stdin is empty
  omnichat version                      print the version
  omnichat env                          list the environment variables and defaults

Configuration is read from OMNICHAT_* environment variables ("omnichat env").
The developer tools (fake platforms, simulate, loadtest) are in omnichat-dev.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "omnichat", version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	case "env":
		for _, v := range config.Vars {
			fmt.Fprintf(stdout, "%-34s %-22q %s\n", v.Name, v.Default, v.Help)
		}
		return 0
	case "fake", "simulate", "loadtest":
		// They moved out of the shipped binary: say where, instead of "unknown".
		fmt.Fprintf(stderr, "omnichat: %s is a developer tool: run omnichat-dev %s (make build builds bin/omnichat-dev)\n", cmd, cmd)
		return 2
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintln(stderr, "omnichat: configuration:", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "serve":
		err = serve(ctx, cfg, log, stdout)
	case "migrate":
		err = migrate(ctx, cfg, log, stdout)
	case "user":
		err = user(ctx, cfg, log, args, stdin, stdout)
	default:
		fmt.Fprintf(stderr, "omnichat: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(stderr, "omnichat:", err)
			return 2
		}
		// A domain error (duplicate email, weak password) is for people: its message alone.
		var ae *apperr.Error
		if errors.As(err, &ae) {
			fmt.Fprintln(stderr, "omnichat:", ae.Message)
			return 1
		}
		fmt.Fprintln(stderr, "omnichat:", err)
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
