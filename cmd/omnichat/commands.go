package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/omnichat/omnichat/internal/app"
	"github.com/omnichat/omnichat/internal/config"
	"github.com/omnichat/omnichat/internal/store"
)

func serve(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	if cfg.DatabaseURL == "" {
		log.Info("starting the embedded postgresql", "dir", cfg.DataDir+"/pg")
	}
	a, err := app.New(ctx, cfg, log, app.Options{Version: version})
	if err != nil {
		return err
	}
	created, err := a.Bootstrap(ctx)
	if err != nil {
		a.Close()
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	users, err := store.CountUsers(ctx, a.Pool)
	if err != nil {
		a.Close()
		return err
	}
	return a.Serve(ctx, func(addr string) {
		fmt.Fprintf(stdout, "omnichat %s is serving at %s (listening on %s)\n", version, cfg.PublicURL, addr)
		switch {
		case created:
			fmt.Fprintf(stdout, "Sign in at %s/login as %s with the password from OMNICHAT_ADMIN_PASSWORD.\n", cfg.PublicURL, cfg.AdminEmail)
		case users == 0 && cfg.DatabaseURL == "":
			// The embedded cluster belongs to this process while it runs: another omnichat
			// process cannot open it, so the tool runs after a stop.
			fmt.Fprintf(stdout, "No users yet. Stop omnichat (Ctrl+C) and create the first admin:\n  omnichat user create --email you@example.com --role admin\n"+
				"or restart with OMNICHAT_ADMIN_EMAIL and OMNICHAT_ADMIN_PASSWORD set. Then sign in at %s/login\n", cfg.PublicURL)
		case users == 0:
			fmt.Fprintf(stdout, "No users yet. Create the first admin:\n  omnichat user create --email you@example.com --role admin\n"+
				"or restart with OMNICHAT_ADMIN_EMAIL and OMNICHAT_ADMIN_PASSWORD set. Then sign in at %s/login\n", cfg.PublicURL)
		default:
			fmt.Fprintf(stdout, "Sign in at %s/login\n", cfg.PublicURL)
		}
		fmt.Fprintln(stdout, "Press Ctrl+C to stop.")
	})
}

func migrate(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	pool, cluster, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	pool.Close()
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

// user create --email E --role R [--name N] [--capacity N]
func user(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"usage: omnichat user create --email E --role admin|operator [--name N] [--capacity N]"}
	}
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	email := fs.String("email", "", "email address (sign-in name)")
	role := fs.String("role", "operator", "admin or operator")
	name := fs.String("name", "", "display name")
	capacity := fs.Int("capacity", 0, "most open dialogs at once (0 = the default, 10)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{"user create: " + err.Error()}
	}
	if *email == "" {
		return usageError{"user create: --email is required"}
	}
	if *role != "admin" && *role != "operator" {
		return usageError{fmt.Sprintf("user create: --role %q: want admin or operator", *role)}
	}
	password, err := readPassword(stdin)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, log, app.Options{Version: version, NoWorkers: true})
	if err != nil {
		return err
	}
	defer a.Close()
	u, generated, err := a.Auth.CreateUser(ctx, 0, *email, *name, *role, password, *capacity)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s %s (id %d)\n", u.Role, u.Email, u.ID)
	if generated != "" {
		fmt.Fprintf(stdout, "password: %s\n", generated)
	}
	return nil
}

// readPassword takes the first line of stdin when it is piped; a terminal or an empty
// input means "generate one".
func readPassword(stdin io.Reader) (string, error) {
	if f, ok := stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return "", nil
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
