package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/omnichat/omnichat/internal/app"
	"github.com/omnichat/omnichat/internal/config"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/loadtest"
	"github.com/omnichat/omnichat/providers/example"
)

const slogLevelWarn = slog.LevelWarn

const loadtestUsage = `usage: omnichat-dev loadtest [--url BASE --email E --password P | --inprocess]
         [--rate N] [--duration D] [--concurrency N] [--users N]
         [--channel ID [--secret S]] [--database-url URL]
         [--group-commit=false] [--batch-window D] [--batch-workers N] [--notify-after-commit] [--sequential]`

// loadtest fires signed example-provider webhooks at a server (or at an instance started in
// this process) and prints throughput, latencies and the exactly-once verdict.
func loadtestCmd(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var lc loadtest.Config
	fs.StringVar(&lc.URL, "url", cfg.PublicURL, "base URL of the running server")
	fs.StringVar(&lc.Email, "email", cfg.AdminEmail, "an admin's email")
	fs.StringVar(&lc.Password, "password", cfg.AdminPassword, "the admin's password")
	fs.Int64Var(&lc.ChannelID, "channel", 0, "an existing example channel (default: create one against a built-in fake platform)")
	fs.StringVar(&lc.Secret, "secret", "", "that channel's webhook secret (default: read from the database with OMNICHAT_SECRET_KEY)")
	fs.IntVar(&lc.Rate, "rate", 1000, "webhooks per second")
	fs.DurationVar(&lc.Duration, "duration", 10*time.Second, "how long to send")
	fs.IntVar(&lc.Concurrency, "concurrency", 64, "webhooks in flight at most")
	fs.IntVar(&lc.Users, "users", 200, "distinct visitors")
	fs.StringVar(&lc.DatabaseURL, "database-url", cfg.DatabaseURL, "the server's database: verifies exactly-once and measures webhook→SSE latency")
	inprocess := fs.Bool("inprocess", false, "start an instance in this process (on OMNICHAT_DATABASE_URL, or a fresh embedded cluster)")
	// Group-commit knobs of the in-process instance, for comparing measurements.
	group := fs.Bool("group-commit", true, "with --inprocess: share transactions between concurrent webhooks (false: one per webhook)")
	window := fs.Duration("batch-window", dialog.DefaultWindow, "with --inprocess: how long a committer waits for more webhooks")
	workers := fs.Int("batch-workers", 0, "with --inprocess: group-commit shards (0: the default, one a core, at least 2)")
	notifyAfter := fs.Bool("notify-after-commit", false, "with --inprocess: pg_notify after the commit instead of inside it")
	sequential := fs.Bool("sequential", false, "with --inprocess: store a batch's messages one statement after another, not pipelined")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (generator and in-process server) to this file")
	if err := fs.Parse(args); err != nil {
		return usageError{"loadtest: " + err.Error() + "\n" + loadtestUsage}
	}
	if *inprocess {
		// The server's per-request log would cost the run more than it tells.
		slog := log
		if os.Getenv("OMNICHAT_LOG_LEVEL") == "" {
			slog = newLogger(config.Config{LogLevel: slogLevelWarn, LogFormat: cfg.LogFormat}, os.Stderr)
		}
		srv, err := loadtest.StartServer(ctx, cfg.DatabaseURL, nil, slog)
		if err != nil {
			return err
		}
		defer srv.Close()
		b := srv.App.Dialogs.Batcher()
		b.Off, b.Window, b.NotifyAfterCommit, b.Sequential = !*group, *window, *notifyAfter, *sequential
		if *workers > 0 {
			b.Workers = *workers
		}
		defer func() {
			st := b.Stats()
			if st.Batches > 0 {
				fmt.Fprintf(stdout, "group commit: %d transactions for %d webhooks (%.1f a transaction), %d fallbacks\n",
					st.Batches, st.Items, float64(st.Items)/float64(st.Batches), st.Fallbacks)
			}
		}()
		lc.URL, lc.Email, lc.Password, lc.DatabaseURL = srv.URL, srv.Email, srv.Password, srv.DatabaseURL
		fmt.Fprintf(stdout, "in-process server at %s\n", srv.URL)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if lc.Email == "" || lc.Password == "" {
		return usageError{"loadtest: --email and --password (an admin) are required\n" + loadtestUsage}
	}
	if lc.ChannelID != 0 && lc.Secret == "" {
		a, err := app.New(ctx, cfg, log, app.Options{Version: version, NoWorkers: true})
		if err != nil {
			return err
		}
		p, ch, err := a.Channels.Live(ctx, lc.ChannelID)
		a.Close()
		if err != nil {
			return fmt.Errorf("channel %d: %w", lc.ChannelID, err)
		}
		if p.Kind() != example.Kind {
			return fmt.Errorf("channel %d is a %s channel; loadtest sends example webhooks", lc.ChannelID, p.Kind())
		}
		lc.Secret = ch.Secret
	}
	cpu0 := cpuTime()
	res, err := loadtest.Run(ctx, lc)
	if res != nil {
		res.Print(stdout, lc)
		// What this process burned: the generator, plus the server with --inprocess.
		if cpu := cpuTime() - cpu0; res.Accepted > 0 {
			fmt.Fprintf(stdout, "this process used %.2fs of CPU: %.3fms a webhook\n", cpu.Seconds(), float64(cpu)/1e6/float64(res.Accepted))
		}
	}
	if err != nil {
		return err
	}
	if res.Verified && !res.ExactlyOnce {
		return fmt.Errorf("loadtest: messages were not stored exactly once")
	}
	return nil
}

// cpuTime is the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
