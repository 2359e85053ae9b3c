// Package app builds omnichat from its configuration and runs it. It is the only place
// that wires the parts together; everything else receives what it needs.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/omnichat/omnichat/internal/auth"
	"github.com/omnichat/omnichat/internal/blob"
	"github.com/omnichat/omnichat/internal/channel"
	"github.com/omnichat/omnichat/internal/config"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/fetch"
	"github.com/omnichat/omnichat/internal/httpapi"
	"github.com/omnichat/omnichat/internal/jobs"
	"github.com/omnichat/omnichat/internal/localpg"
	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/seal"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/chatapi"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/facebook"
	"github.com/omnichat/omnichat/providers/netguard"
	"github.com/omnichat/omnichat/providers/telegram"
	"github.com/omnichat/omnichat/providers/viber"
	"github.com/omnichat/omnichat/providers/vk"
	"github.com/omnichat/omnichat/providers/widget"
)

// Providers is the one list of channel kinds omnichat offers. A new provider is added here,
// with g: every call a provider makes goes through the address guard. dev adds the demo
// example provider (OMNICHAT_DEV_PROVIDERS: development, tests, the load test); production
// never offers it.
func Providers(g netguard.Guard, dev bool) *providers.Registry {
	ps := []providers.Provider{
		telegram.New(telegram.WithGuard(g)),
		viber.New(viber.WithGuard(g)),
		vk.New(vk.WithGuard(g)),
		facebook.New(facebook.WithGuard(g)),
		chatapi.New(chatapi.WithGuard(g)),
		widget.New(), // makes no outbound calls
	}
	if dev {
		ps = append(ps, example.New(example.WithGuard(g)))
	}
	return providers.NewRegistry(ps...)
}

// Guard is the address guard of every outbound connection (provider API calls, proxies,
// attachment downloads), from OMNICHAT_ALLOW_PRIVATE_ADDRESSES.
func Guard(cfg config.Config) netguard.Guard {
	return netguard.Guard{AllowPrivate: cfg.AllowPrivateAddresses, Allowed: cfg.AllowedAddresses}
}

// App is a built omnichat instance.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	Version  string
	Pool     *pgxpool.Pool
	Store    *store.Store
	Auth     *auth.Service
	Dialogs  *dialog.Service
	Channels *channel.Service
	Hub      *push.Hub
	River    *river.Client[pgx.Tx]
	HTTP     *httpapi.Server
	Files    blob.Store // attachments (OMNICHAT_FILES)

	cluster   *localpg.Cluster
	hubDone   chan struct{}
	noWorkers bool
	comet     *push.CometForwarder
}

// Options change how New builds the app (tests and subcommands).
type Options struct {
	Version string
	// Registry replaces Providers(Guard(cfg), cfg.DevProviders) (tests).
	Registry *providers.Registry
	// NoWorkers builds River as an insert-only client: this instance runs no jobs.
	NoWorkers bool
	// Backends are the pool's backend pids (OpenTracked); nil makes this instance forward
	// every notification to comet-server.ru, not only its own.
	Backends *push.Backends
}

// Open connects to the database: the configured URL, or the embedded cluster under
// DataDir. It migrates and refuses a schema newer than this binary.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*pgxpool.Pool, *localpg.Cluster, error) {
	return OpenTracked(ctx, cfg, log, nil)
}

// OpenTracked is Open that records the pool's backend pids in own (when not nil), so the
// push hub can tell this instance's notifications from other instances'.
func OpenTracked(ctx context.Context, cfg config.Config, log *slog.Logger, own *push.Backends) (*pgxpool.Pool, *localpg.Cluster, error) {
	url := cfg.DatabaseURL
	var cluster *localpg.Cluster
	if url == "" {
		var err error
		cluster, err = localpg.Start(ctx, localpg.Options{DataDir: cfg.DataDir, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("embedded postgresql: %w", err)
		}
		url = cluster.ConnString(localpg.Database)
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		stopCluster(cluster, log)
		return nil, nil, fmt.Errorf("database url: %w", err)
	}
	pc.MaxConns = cfg.DBMaxConns
	pc.ConnConfig.RuntimeParams["application_name"] = "omnichat"
	if own != nil {
		pc.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
			own.Add(c.PgConn().PID())
			return nil
		}
		pc.BeforeClose = func(c *pgx.Conn) { own.Remove(c.PgConn().PID()) }
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		stopCluster(cluster, log)
		return nil, nil, fmt.Errorf("database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		stopCluster(cluster, log)
		return nil, nil, fmt.Errorf("database: %w", err)
	}
	if err := store.Migrate(ctx, pool, log); err != nil {
		pool.Close()
		stopCluster(cluster, log)
		return nil, nil, err
	}
	return pool, cluster, nil
}

func stopCluster(c *localpg.Cluster, log *slog.Logger) {
	if c == nil {
		return
	}
	if err := c.Stop(); err != nil {
		log.Error("stop embedded postgresql", "err", err)
	}
}

// New builds every part. Close releases what New acquired.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, o Options) (*App, error) {
	own := push.NewBackends()
	pool, cluster, err := OpenTracked(ctx, cfg, log, own)
	if err != nil {
		return nil, err
	}
	o.Backends = own
	a, err := Build(cfg, log, o, pool)
	if err != nil {
		pool.Close()
		stopCluster(cluster, log)
		return nil, err
	}
	a.cluster = cluster
	return a, nil
}

// Build wires the app on an open, migrated pool (New, and tests that bring their own
// database).
func Build(cfg config.Config, log *slog.Logger, o Options, pool *pgxpool.Pool) (*App, error) {
	box, err := keyBox(cfg)
	if err != nil {
		return nil, err
	}
	st := store.New(pool)
	files, err := fileStore(cfg, st)
	if err != nil {
		return nil, err
	}
	reg := o.Registry
	if reg == nil {
		reg = Providers(Guard(cfg), cfg.DevProviders)
	}
	a := &App{Config: cfg, Log: log, Version: o.Version, Pool: pool, Store: st, Files: files, noWorkers: o.NoWorkers}
	a.Auth = &auth.Service{Store: st, SessionTTL: cfg.SessionTTL}
	a.Channels = &channel.Service{Store: st, Providers: reg, Box: box, PublicURL: cfg.PublicURL,
		Log: log.With("part", "channel"), CacheTTL: 5 * time.Second}
	a.Dialogs = dialog.New(st, reg, log.With("part", "dialog"))
	a.Dialogs.Channels = a.Channels
	a.Dialogs.Blob = files
	a.Dialogs.Fetch = &fetch.Fetcher{Guard: Guard(cfg), Timeout: 2 * time.Minute}
	a.Dialogs.PhoneRegion = cfg.PhoneRegion
	a.Dialogs.Uploads = dialog.UploadLimits{PerAddress: cfg.WidgetUploadBudgetAddress, PerChannel: cfg.WidgetUploadBudgetChannel,
		Window: cfg.WidgetUploadBudgetWindow, MaxAge: cfg.WidgetUploadMaxAge}

	rc := &river.Config{Logger: log.With("part", "river"), JobTimeout: 2 * time.Minute}
	if !o.NoWorkers {
		rc.Workers = jobs.Workers(a.Dialogs)
		rc.Queues = jobs.Queues(cfg.Workers)
		rc.PeriodicJobs = jobs.Periodic(cfg.WidgetUploadMaxAge)
	}
	a.River, err = river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	a.Dialogs.SetQueue(jobs.Inserter(a.River, log))

	a.Hub = push.NewHub(pool, log.With("part", "push"), instanceName())
	a.Hub.Own = o.Backends
	a.Hub.OnPresence = func(userID int64, online bool) {
		// An operator came or went: queued dialogs may now have somewhere to go (or not).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Dialogs.RequestDispatch(ctx)
	}

	if p, ok := reg.Get(widget.Kind); ok {
		if w, ok := p.(*widget.Provider); ok {
			w.SetPublisher(visitorPublisher{st})
		}
	}

	a.HTTP = httpapi.New(httpapi.Deps{Config: cfg, Log: log, Store: st, Auth: a.Auth, Dialogs: a.Dialogs,
		Channels: a.Channels, Hub: a.Hub, Providers: reg, Blob: files, Version: o.Version})
	// comet-server.ru: this instance's events also go to the operators' comet channels
	// whenever an admin configured it (the settings are reread at most once a second).
	a.comet = &push.CometForwarder{Store: st, Log: log.With("part", "comet"), Load: a.HTTP.CometPublisher}
	a.Hub.OnEvent = a.comet.Handle
	return a, nil
}

// fileStore opens the attachment store OMNICHAT_FILES names.
func fileStore(cfg config.Config, st *store.Store) (blob.Store, error) {
	switch cfg.Files {
	case config.FilesPostgres:
		return &blob.PG{Store: st}, nil
	case config.FilesS3:
		s, err := blob.NewS3(blob.S3Options{Endpoint: cfg.S3.Endpoint, Bucket: cfg.S3.Bucket, Region: cfg.S3.Region,
			AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, TLS: cfg.S3.TLS, PathStyle: cfg.S3.PathStyle})
		if err != nil {
			return nil, fmt.Errorf("OMNICHAT_S3_ENDPOINT: %w", err)
		}
		return s, nil
	}
	d, err := blob.NewDir(filepath.Join(cfg.DataDir, "files"))
	if err != nil {
		return nil, fmt.Errorf("files directory: %w", err)
	}
	return d, nil
}

// keyBox opens the key ring that seals channel secrets: OMNICHAT_SECRET_KEY, or a key
// generated once into the data directory.
func keyBox(cfg config.Config) (*seal.Box, error) {
	key := cfg.SecretKey
	if len(key) == 0 {
		var err error
		key, err = seal.LoadOrCreateKey(filepath.Join(cfg.DataDir, "secret.key"))
		if err != nil {
			return nil, fmt.Errorf("secret key: %w", err)
		}
	}
	return seal.New(append([][]byte{key}, cfg.OldSecretKeys...)...)
}

// instanceName identifies this process in presence rows: unique even for two instances
// on one host.
func instanceName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Bootstrap creates the admin from OMNICHAT_ADMIN_EMAIL/PASSWORD when missing.
func (a *App) Bootstrap(ctx context.Context) (created bool, err error) {
	if a.Config.AdminEmail == "" {
		return false, nil
	}
	return a.Auth.EnsureAdmin(ctx, a.Config.AdminEmail, a.Config.AdminPassword)
}

// Start runs the background parts: the LISTEN hub and River.
func (a *App) Start(ctx context.Context) error {
	a.hubDone = make(chan struct{})
	// Before anything runs: an instance whose key cannot open the database's channel
	// secrets, or whose file store is unreachable, must not take webhooks or jobs.
	if err := a.Channels.CheckKey(ctx); err != nil {
		close(a.hubDone)
		return err
	}
	if c, ok := a.Files.(interface{ Check(context.Context) error }); ok {
		if err := c.Check(ctx); err != nil {
			close(a.hubDone)
			return fmt.Errorf("attachment store (OMNICHAT_FILES=%s): %w", a.Config.Files, err)
		}
	}
	go func() { a.Hub.Run(ctx); close(a.hubDone) }()
	// An insert-only River client (NoWorkers) cannot start: it only enqueues.
	if !a.noWorkers {
		if err := a.River.Start(ctx); err != nil {
			return fmt.Errorf("job queue: %w", err)
		}
	}
	if len(a.Config.OldSecretKeys) > 0 {
		// Key rotation: everything still sealed with an old key is re-sealed with the
		// current one, so OMNICHAT_SECRET_KEY_OLD can be dropped at the next restart.
		n, err := a.Channels.Reseal(ctx)
		if err != nil {
			return fmt.Errorf("re-seal channel secrets with the new key: %w", err)
		}
		a.Log.Info("channel secrets re-sealed with the current key", "channels", n)
	}
	return nil
}

// Serve listens on the configured address until ctx ends, then shuts down in order:
// HTTP, River, the pool, the embedded cluster. ready (if not nil) gets the bound address.
func (a *App) Serve(ctx context.Context, ready func(addr string)) error {
	ln, err := net.Listen("tcp", a.Config.HTTPAddr)
	if err != nil {
		a.Close() // what New opened: the pool, and the embedded cluster stopped cleanly
		return fmt.Errorf("listen on %s: %w", a.Config.HTTPAddr, err)
	}
	hubCtx, stopHub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHub()
	if err := a.Start(hubCtx); err != nil {
		ln.Close()
		stopHub()
		<-a.hubDone
		a.Close()
		return err
	}
	srv := a.HTTP.HTTPServer(a.Config.HTTPAddr)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr().String())
	}
	var serveErr error
	var clusterDied <-chan struct{}
	if a.cluster != nil {
		clusterDied = a.cluster.Done()
	}
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	case <-clusterDied:
		serveErr = errors.New("the embedded postgresql stopped unexpectedly")
	}
	a.Log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Open SSE streams never finish on their own: end them so Shutdown need not wait.
	a.Hub.CloseStreams()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		a.Log.Warn("http shutdown", "err", err)
	}
	stopHub()
	<-a.hubDone
	a.Close()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// Close stops River (letting running jobs finish briefly), then the pool and the cluster.
func (a *App) Close() {
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if a.comet != nil {
		a.comet.Stop() // it reads the database
	}
	if a.HTTP != nil {
		a.HTTP.Close()
	}
	if a.River != nil {
		if err := a.River.Stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			a.Log.Warn("job queue stop", "err", err)
		}
	}
	if a.Pool != nil {
		a.Pool.Close()
	}
	stopCluster(a.cluster, a.Log)
	a.cluster = nil
}
