// Package localpg runs omnichat's embedded default database: a private PostgreSQL cluster
// from the installed server binaries, kept under the data directory and reached only
// through a unix socket. `serve` uses it when OMNICHAT_DATABASE_URL is unset; the test
// harness (internal/testdb) uses it for one throwaway cluster per test process.
//
// The server runs as a child process (not a pg_ctl daemon) so that it dies with omnichat:
// the kernel sends it SIGQUIT (immediate shutdown) if omnichat exits without calling Stop.
package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// SuperUser is the database role initdb creates; every connection uses it.
	SuperUser = "omnichat"
	// Database is the database Start creates if it is missing, for omnichat's own data.
	Database = "omnichat"
	// SystemUser is the unprivileged OS account the cluster runs as when omnichat runs as
	// root (PostgreSQL refuses to run as root). Start creates it if it is missing.
	SystemUser = "omnichat-pg"

	// port only names the socket file (.s.PGSQL.5432): the cluster listens on no TCP port,
	// and every cluster has its own socket directory, so they never collide.
	port = 5432

	// maxSocketPath keeps the socket path inside sun_path (108 bytes on Linux) with room
	// to spare; PostgreSQL refuses longer paths.
	maxSocketPath = 100

	startTimeout = 2 * time.Minute
	stopTimeout  = 60 * time.Second

	// debianRoot is where Debian installs each PostgreSQL major version's binaries.
	debianRoot = "/usr/lib/postgresql"
)

// ErrNotInstalled is returned when the PostgreSQL server binaries cannot be found.
var ErrNotInstalled = errors.New("PostgreSQL server binaries (initdb, postgres) not found in PATH or /usr/lib/postgresql/*/bin: " +
	"install the Debian package postgresql (apt-get install postgresql), or set OMNICHAT_DATABASE_URL to use an existing server")

// Options configures Start.
type Options struct {
	// DataDir holds the cluster (DataDir/pg), its log (DataDir/pg.log) and its socket
	// directory (DataDir/pg-socket, or a short directory under /tmp when that path would
	// be too long for a unix socket).
	DataDir string
	// Logger receives a few lines about what Start does; nil discards them.
	Logger *slog.Logger
	// Settings are extra server settings, passed as -c name=value. The test harness uses
	// them to turn off durability (fsync=off and friends); serve keeps the defaults.
	Settings map[string]string
	// InitCache, when set, is a directory where a freshly initialized cluster is kept
	// (keyed by server version and owner) and copied instead of running initdb again.
	// Tests use it: a copy takes a fraction of initdb's second.
	InitCache string
}

// ScratchDir is a fast place for throwaway clusters (tests): /dev/shm when it is a
// writable tmpfs with room to spare, else the system temp directory. On a disk each of a
// cluster's ~1000 files costs a file creation, which is what initdb, copying a cluster and
// CREATE DATABASE spend most of their time on; in memory they are several times faster.
func ScratchDir() string {
	const shm = "/dev/shm"
	var st syscall.Statfs_t
	if syscall.Statfs(shm, &st) == nil && st.Type == tmpfsMagic &&
		uint64(st.Bavail)*uint64(st.Bsize) >= 1<<30 && syscall.Access(shm, 0o7) == nil {
		return shm
	}
	return os.TempDir()
}

const tmpfsMagic = 0x01021994

// DefaultInitCache is a per-user cache directory for Options.InitCache in ScratchDir,
// shared by the test processes of one machine.
func DefaultInitCache() string {
	return filepath.Join(ScratchDir(), fmt.Sprintf("omnichat-localpg-cache-%d", os.Geteuid()))
}

// Cluster is a running PostgreSQL server started by Start.
type Cluster struct {
	log       *slog.Logger
	pgDir     string
	sockDir   string
	tmpSock   bool // sockDir is a directory of ours under /tmp: removed by Stop
	logFile   *os.File
	lock      *os.File // flock on DataDir/pg.lock, held while the cluster runs
	cmd       *exec.Cmd
	exited    chan struct{} // closed when the server process has exited
	waitErr   error         // the process's exit status; read only after exited is closed
	stopOnce  sync.Once
	stopError error
}

// Start initializes the cluster on first use, starts the server and waits until it accepts
// connections. It reuses an existing cluster, and clears the lock file a crashed server
// left behind. ctx bounds the start only: the server runs until Stop (or until this
// process exits).
func Start(ctx context.Context, o Options) (*Cluster, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.DataDir == "" {
		return nil, errors.New("localpg: no data directory")
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("localpg: data directory: %w", err)
	}

	owner, err := serverOwner()
	if err != nil {
		return nil, err
	}
	// Directories we create are private, except that the server's own account (when we
	// are root) must be able to pass through them to reach its subdirectories.
	dirMode := os.FileMode(0o700)
	if owner != nil {
		dirMode = 0o711
	}
	if err := os.MkdirAll(dataDir, dirMode); err != nil {
		return nil, fmt.Errorf("localpg: create data directory: %w", err)
	}

	c := &Cluster{
		log:    log,
		pgDir:  filepath.Join(dataDir, "pg"),
		exited: make(chan struct{}),
	}
	ok := false
	defer func() {
		if !ok {
			c.release()
		}
	}()

	// One cluster, one owner: a second omnichat on the same data directory fails here
	// with a clear message instead of racing initdb or tripping over postmaster.pid.
	if err := c.takeLock(filepath.Join(dataDir, "pg.lock")); err != nil {
		return nil, err
	}

	if owner != nil {
		// The server's account must be able to reach its directories: the data directory
		// is ours, so let others traverse it (not list it); the parents are the user's.
		if err := allowTraverse(dataDir); err != nil {
			return nil, err
		}
		if err := owner.canReach(dataDir); err != nil {
			return nil, err
		}
	}

	existing, err := clusterVersion(c.pgDir)
	if err != nil {
		return nil, err
	}
	bin, err := findBinDir(existing, debianRoot)
	if err != nil {
		return nil, err
	}
	version, err := serverVersion(ctx, bin)
	if err != nil {
		return nil, err
	}
	if existing != "" && existing != majorOf(version) {
		return nil, fmt.Errorf("localpg: the cluster in %s was created by PostgreSQL %s but the server found in %s is %s: "+
			"install postgresql-%s, or move the directory away to start an empty cluster", c.pgDir, existing, bin, version, existing)
	}

	if existing != "" && owner != nil {
		// A cluster made while omnichat ran as an ordinary user: hand it to the server's
		// account, or PostgreSQL refuses a data directory it does not own.
		if err := owner.adopt(c.pgDir); err != nil {
			return nil, err
		}
	}
	if err := c.makeSocketDir(dataDir, owner); err != nil {
		return nil, err
	}
	if existing == "" {
		started := time.Now()
		if err := initCluster(ctx, bin, version, c.pgDir, o.InitCache, owner, o.Settings["fsync"] == "off"); err != nil {
			return nil, err
		}
		log.Info("created PostgreSQL cluster", "dir", c.pgDir, "version", version, "took", time.Since(started).Round(time.Millisecond))
	}
	if err := clearStaleLocks(ctx, c.pgDir, c.sockDir); err != nil {
		return nil, err
	}

	logPath := filepath.Join(dataDir, "pg.log")
	c.logFile, err = os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localpg: open server log: %w", err)
	}

	started := time.Now()
	if err := c.spawn(bin, o.Settings, owner); err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, logPath); err != nil {
		_ = c.stop()
		return nil, err
	}
	if err := c.ensureDatabase(ctx, Database); err != nil {
		_ = c.stop()
		return nil, err
	}
	log.Info("started PostgreSQL", "dir", c.pgDir, "socket", c.sockDir, "log", logPath,
		"took", time.Since(started).Round(time.Millisecond))
	ok = true
	return c, nil
}

// ConnString returns a connection URL for database dbname on this cluster, for
// pgxpool.New or OMNICHAT_DATABASE_URL. It carries no password: the socket directory is
// private to the server's account (and root), and local connections are trusted.
func (c *Cluster) ConnString(dbname string) string {
	u := url.URL{Scheme: "postgres", User: url.User(SuperUser), Path: "/" + dbname}
	// libpq-style URIs decode %20 but not '+' as a space, so no url.Values.Encode.
	esc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	u.RawQuery = "host=" + esc(c.sockDir) + "&port=" + strconv.Itoa(port) + "&sslmode=disable"
	return u.String()
}

// Done is closed when the server process exits, whether through Stop or not: a server
// that dies under a running omnichat is a reason to shut down rather than limp on.
func (c *Cluster) Done() <-chan struct{} { return c.exited }

// Stop shuts the server down (fast shutdown: open sessions are ended, data is kept) and
// waits for it to exit. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.stopError = c.stop()
		c.release()
	})
	return c.stopError
}

func (c *Cluster) stop() error {
	if c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
	select {
	case <-c.exited:
		return fmt.Errorf("localpg: server had already exited: %w", c.waitErr)
	default:
	}
	// SIGINT is PostgreSQL's fast shutdown; SIGQUIT (immediate, crash recovery on next
	// start) only if that hangs, and SIGKILL as the last resort.
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{
		{syscall.SIGINT, stopTimeout},
		{syscall.SIGQUIT, 10 * time.Second},
		{syscall.SIGKILL, 10 * time.Second},
	}
	for _, s := range steps {
		if err := c.cmd.Process.Signal(s.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("localpg: signal server: %w", err)
		}
		select {
		case <-c.exited:
			if s.sig != syscall.SIGINT {
				return fmt.Errorf("localpg: server did not stop on SIGINT; sent %v", s.sig)
			}
			if c.waitErr != nil {
				return fmt.Errorf("localpg: server exit: %w", c.waitErr)
			}
			return nil
		case <-time.After(s.wait):
		}
	}
	return errors.New("localpg: server did not exit after SIGKILL")
}

// release frees what Start took, once the server is gone (or never started).
func (c *Cluster) release() {
	if c.logFile != nil {
		_ = c.logFile.Close()
	}
	if c.tmpSock {
		_ = os.RemoveAll(c.sockDir)
	}
	if c.lock != nil {
		_ = c.lock.Close() // closing drops the flock
	}
}

func (c *Cluster) takeLock(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("localpg: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("localpg: %s is in use by another omnichat process", filepath.Dir(path))
		}
		return fmt.Errorf("localpg: lock %s: %w", path, err)
	}
	c.lock = f
	return nil
}

// makeSocketDir picks and creates the directory the server puts its socket in.
func (c *Cluster) makeSocketDir(dataDir string, owner *account) error {
	dir := filepath.Join(dataDir, "pg-socket")
	if len(dir)+len("/.s.PGSQL.5432") > maxSocketPath {
		tmp, err := os.MkdirTemp("", "omnichat-pg-")
		if err != nil {
			return fmt.Errorf("localpg: create socket directory: %w", err)
		}
		c.log.Info("data directory path too long for a unix socket; using a socket directory under the temp dir", "socket", tmp)
		dir, c.tmpSock = tmp, true
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("localpg: create socket directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("localpg: socket directory: %w", err)
	}
	if owner != nil {
		if err := os.Chown(dir, owner.uid, owner.gid); err != nil {
			return fmt.Errorf("localpg: socket directory: %w", err)
		}
	}
	c.sockDir = dir
	return nil
}

// spawn starts postgres as a child process.
func (c *Cluster) spawn(bin string, extra map[string]string, owner *account) error {
	settings := map[string]string{
		"listen_addresses":        "",
		"unix_socket_directories": c.sockDir,
		"unix_socket_permissions": "0700",
		"port":                    strconv.Itoa(port),
		// PostgreSQL's output goes to our log file; no collector process needed.
		"logging_collector": "off",
	}
	for k, v := range extra {
		settings[k] = v
	}
	args := []string{"-D", c.pgDir}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", k+"="+settings[k])
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = c.pgDir
	cmd.Stdout = c.logFile
	cmd.Stderr = c.logFile
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// The kernel sends SIGQUIT to the server if omnichat dies without stopping it.
		Pdeathsig: syscall.SIGQUIT,
		// Its own process group, so a Ctrl-C in the terminal reaches omnichat only, which
		// then shuts down in order and stops the database last.
		Setpgid: true,
	}
	if owner != nil {
		cmd.SysProcAttr.Credential = owner.credential()
	}
	c.cmd = cmd

	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the OS thread that started the child exits, not when the
		// process does (golang/go#27505). Keep this goroutine on its thread until the child
		// is gone so the Go runtime never retires that thread under a live server.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("localpg: start postgres: %w", err)
	}
	return nil
}

// waitReady polls the socket until the server accepts a connection, the server exits,
// or the start times out.
func (c *Cluster) waitReady(ctx context.Context, logPath string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	connString := c.ConnString("postgres") + "&connect_timeout=5"
	var lastErr error
	for {
		conn, err := pgconn.Connect(ctx, connString)
		if err == nil {
			return conn.Close(ctx)
		}
		lastErr = err
		select {
		case <-c.exited:
			return fmt.Errorf("localpg: postgres exited during start (%v); its log %s ends with:\n%s", c.waitErr, logPath, tail(logPath, 15))
		case <-ctx.Done():
			return fmt.Errorf("localpg: postgres not ready (last error: %v); its log %s ends with:\n%s", lastErr, logPath, tail(logPath, 15))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ensureDatabase creates database name if it does not exist yet.
func (c *Cluster) ensureDatabase(ctx context.Context, name string) error {
	conn, err := pgconn.Connect(ctx, c.ConnString("postgres"))
	if err != nil {
		return fmt.Errorf("localpg: connect: %w", err)
	}
	defer conn.Close(context.Background())
	// The name is one of our constants, but quote it anyway.
	exists := conn.ExecParams(ctx, "SELECT 1 FROM pg_database WHERE datname = $1", [][]byte{[]byte(name)}, nil, nil, nil).Read()
	if exists.Err != nil {
		return fmt.Errorf("localpg: look up database %s: %w", name, exists.Err)
	}
	if len(exists.Rows) > 0 {
		return nil
	}
	if err := conn.Exec(ctx, "CREATE DATABASE "+quoteIdent(name)).Close(); err != nil {
		return fmt.Errorf("localpg: create database %s: %w", name, err)
	}
	return nil
}

// clusterVersion reads PG_VERSION of an existing cluster; "" when there is none yet.
func clusterVersion(pgDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(pgDir, "PG_VERSION"))
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("localpg: read cluster version: %w", err)
	}
	entries, err := os.ReadDir(pgDir)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("localpg: read %s: %w", pgDir, err)
	}
	if len(entries) > 0 {
		return "", fmt.Errorf("localpg: %s exists but is not a PostgreSQL cluster (no PG_VERSION): move it away", pgDir)
	}
	// An empty directory (made by hand, say): initCluster replaces it.
	return "", nil
}

// findBinDir finds the directory holding postgres and initdb: PATH first, then Debian's
// /usr/lib/postgresql/<major>/bin (newest first). When a cluster of version want already
// exists, that version's binaries win so an upgrade of the default package does not
// strand the data.
func findBinDir(want, debianRoot string) (string, error) {
	var dirs []string
	if want != "" {
		dirs = append(dirs, filepath.Join(debianRoot, want, "bin"))
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	found, _ := filepath.Glob(filepath.Join(debianRoot, "*", "bin"))
	slices.SortFunc(found, func(a, b string) int { return versionOfDebianDir(b) - versionOfDebianDir(a) })
	dirs = append(dirs, found...)
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "postgres")) && isExecutable(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

func versionOfDebianDir(dir string) int {
	n, _ := strconv.Atoi(strings.SplitN(filepath.Base(filepath.Dir(dir)), ".", 2)[0])
	return n
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// serverVersion returns the version postgres reports, e.g. "15.18".
func serverVersion(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("localpg: %s --version: %w", filepath.Join(bin, "postgres"), err)
	}
	// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
	fields := strings.Fields(string(out))
	if len(fields) < 3 {
		return "", fmt.Errorf("localpg: unexpected postgres --version output %q", out)
	}
	return fields[2], nil
}

// majorOf turns "15.18" into "15" (and "9.6.24" into "9.6", as PG_VERSION writes it).
func majorOf(version string) string {
	parts := strings.Split(version, ".")
	if n, _ := strconv.Atoi(parts[0]); n < 10 && len(parts) > 1 {
		return parts[0] + "." + parts[1]
	}
	return parts[0]
}

// clearStaleLocks deals with the lock files a crashed server leaves behind. PostgreSQL
// clears a postmaster.pid whose pid is gone by itself (and frees the old shared memory
// named in it), so that case is left to it; but when the pid has been reused by an
// unrelated live process, which is common after a container restart, PostgreSQL refuses
// to start, so that file is removed here. A server really running on this directory is an
// error.
func clearStaleLocks(ctx context.Context, pgDir, sockDir string) error {
	pidFile := filepath.Join(pgDir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("localpg: read %s: %w", pidFile, err)
	}
	if err == nil {
		pid := parsePid(b)
		if pid > 0 && serverRunning(pid, pgDir) {
			return fmt.Errorf("localpg: PostgreSQL (pid %d) is already running on %s; stop it first", pid, pgDir)
		}
		if err := waitForOldBackends(ctx, b); err != nil {
			return err
		}
		if pid > 0 && syscall.Kill(pid, 0) != syscall.ESRCH {
			if err := os.Remove(pidFile); err != nil {
				return fmt.Errorf("localpg: remove stale %s: %w", pidFile, err)
			}
		}
	}
	// The socket directory is private to this cluster, so anything left in it is stale.
	for _, name := range []string{".s.PGSQL.5432", ".s.PGSQL.5432.lock"} {
		if err := os.Remove(filepath.Join(sockDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("localpg: remove stale socket file: %w", err)
		}
	}
	return nil
}

// waitForOldBackends waits while processes of a dead server are still attached to its
// shared memory: when the server itself was killed outright (SIGKILL, the OOM killer), its
// backends notice only a moment later, and PostgreSQL will not start until they are gone
// ("pre-existing shared memory block is still in use"). pidFile is the stale
// postmaster.pid, whose seventh line holds the segment's key and id.
func waitForOldBackends(ctx context.Context, pidFile []byte) error {
	lines := strings.Split(string(pidFile), "\n")
	if len(lines) < 7 {
		return nil
	}
	fields := strings.Fields(lines[6])
	if len(fields) < 2 {
		return nil
	}
	shmid := fields[1]
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		attached, err := shmAttached(shmid)
		if err != nil || attached == 0 {
			return nil // no such segment (or no /proc to tell): let PostgreSQL decide
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localpg: %d processes of a previous PostgreSQL on this cluster are still running "+
				"(attached to shared memory id %s); stop them (see ps -u %s or ps -u $USER) and start again", attached, shmid, SystemUser)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// shmAttached returns how many processes are attached to System V shared memory shmid.
func shmAttached(shmid string) (int, error) {
	b, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return 0, err
	}
	// Columns: key shmid perms size cpid lpid nattch ...
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 7 && f[1] == shmid {
			return strconv.Atoi(f[6])
		}
	}
	return 0, nil
}

// serverRunning reports whether pid is a live postgres started on pgDir.
func serverRunning(pid int, pgDir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) == 0 || filepath.Base(args[0]) != "postgres" {
		return false
	}
	return slices.Contains(args, pgDir)
}

// serverEnv is the environment for initdb and postgres: ours minus the libpq variables,
// which would only confuse the server's own tools, plus a predictable locale for messages.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LANG=C.UTF-8")
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	const max = 16 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		_, _ = f.Seek(fi.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
