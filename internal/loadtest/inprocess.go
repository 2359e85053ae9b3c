package loadtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/omnichat/omnichat/internal/app"
	"github.com/omnichat/omnichat/internal/config"
	"github.com/omnichat/omnichat/internal/localpg"
)

// Server is an omnichat instance started in this process for a load run: the same app,
// HTTP stack and database as `omnichat serve`, on a loopback port.
type Server struct {
	URL, DatabaseURL string
	Email, Password  string
	App              *app.App

	srv     *http.Server
	cancel  context.CancelFunc
	cluster *localpg.Cluster
	dataDir string
}

// StartServer starts an instance on databaseURL, or (when empty) on a fresh embedded
// PostgreSQL cluster with its default, durable settings. env overrides OMNICHAT_* settings
// (e.g. OMNICHAT_DB_MAX_CONNS).
func StartServer(ctx context.Context, databaseURL string, env map[string]string, log *slog.Logger) (*Server, error) {
	dir, err := os.MkdirTemp("", "omnichat-loadtest-")
	if err != nil {
		return nil, err
	}
	// The embedded cluster may run as its own system user (when we are root): let it in.
	if err := os.Chmod(dir, 0o711); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	url := "http://" + ln.Addr().String()
	vars := map[string]string{
		"OMNICHAT_DATABASE_URL":            databaseURL,
		"OMNICHAT_HTTP_ADDR":               ln.Addr().String(),
		"OMNICHAT_PUBLIC_URL":              url,
		"OMNICHAT_DATA_DIR":                dir,
		"OMNICHAT_ALLOW_PRIVATE_ADDRESSES": "true",
		"OMNICHAT_LOG_LEVEL":               "warn",
		// The load generator is one address with more requests in flight than a client gets.
		"OMNICHAT_MAX_REQUESTS_PER_ADDRESS": "0",
		// The load is example-provider webhooks.
		"OMNICHAT_DEV_PROVIDERS": "true",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) {
		if v, ok := vars[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		ln.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("loadtest: config: %w", err)
	}
	s := &Server{URL: url, Email: "loadtest@example.com", Password: "loadtest-password-1", dataDir: dir}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	pool, cluster, err := app.Open(rctx, cfg, log)
	if err != nil {
		cancel()
		ln.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	s.cluster = cluster
	s.DatabaseURL = databaseURL
	if cluster != nil {
		s.DatabaseURL = cluster.ConnString(localpg.Database)
	}
	a, err := app.Build(cfg, log, app.Options{Version: "loadtest"}, pool)
	if err != nil {
		pool.Close()
		s.Close()
		ln.Close()
		return nil, err
	}
	s.App = a
	if _, err := a.Auth.EnsureAdmin(rctx, s.Email, s.Password); err != nil {
		ln.Close()
		s.Close()
		return nil, fmt.Errorf("loadtest: create the admin: %w", err)
	}
	if err := a.Start(rctx); err != nil {
		ln.Close()
		s.Close()
		return nil, err
	}
	s.srv = a.HTTP.HTTPServer(cfg.HTTPAddr)
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("loadtest: serve", "err", err)
		}
	}()
	select {
	case <-a.Hub.Ready():
	case <-time.After(15 * time.Second):
		s.Close()
		return nil, errors.New("loadtest: the push hub did not start listening")
	}
	return s, nil
}

// Close stops the instance and removes its data (the embedded cluster included).
func (s *Server) Close() {
	if s.App != nil {
		s.App.Hub.CloseStreams()
	}
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.srv.Shutdown(ctx)
		cancel()
	}
	s.cancel()
	if s.App != nil {
		s.App.Close() // River, the pool
	}
	if s.cluster != nil {
		_ = s.cluster.Stop()
	}
	os.RemoveAll(s.dataDir)
}
