package localpg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testSettings turn durability off, as the test harness does.
var testSettings = map[string]string{"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

// dataDir returns a fresh data directory. Not t.TempDir: that one sits in a mode-0700
// directory the server's account could not enter when the tests run as root.
func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(ScratchDir(), "localpg-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil { // what a data directory's parent usually allows
		t.Fatal(err)
	}
	return dir
}

func start(t *testing.T, o Options) *Cluster {
	t.Helper()
	if o.Settings == nil {
		o.Settings = testSettings
	}
	if o.Logger == nil && testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)) // where Start's time goes
	}
	if o.InitCache == "" {
		o.InitCache = DefaultInitCache()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	c, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func connect(t *testing.T, c *Cluster, db string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.ConnString(db))
	if err != nil {
		t.Fatalf("connect to %s: %v", db, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestStartFreshThenRestartKeepsData(t *testing.T) {
	dir := dataDir(t)
	c := start(t, Options{DataDir: dir})

	conn := connect(t, c, Database)
	if got := queryString(t, conn, "SHOW listen_addresses"); got != "" {
		t.Errorf("listen_addresses = %q, want empty (no TCP)", got)
	}
	if got := queryString(t, conn, "SHOW fsync"); got != "off" {
		t.Errorf("fsync = %q, want off from Options.Settings", got)
	}
	if got := queryString(t, conn, "SELECT lower('ПРИВЕТ')"); got != "привет" {
		t.Errorf("lower of Cyrillic = %q: the cluster's locale folds ASCII only", got)
	}
	if got := queryString(t, conn, "SELECT current_user"); got != SuperUser {
		t.Errorf("current_user = %q, want %q", got, SuperUser)
	}
	if _, err := conn.Exec(context.Background(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pg-socket", ".s.PGSQL.5432")); err != nil {
		t.Errorf("socket not in the data directory: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "pg.log")); err != nil || fi.Size() == 0 {
		t.Errorf("server log missing or empty: %v", err)
	}
	_ = conn.Close(context.Background())

	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pg", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid still there after Stop: %v", err)
	}

	c2 := start(t, Options{DataDir: dir})
	conn2 := connect(t, c2, Database)
	if got := queryString(t, conn2, "SELECT v FROM kept"); got != "still here" {
		t.Errorf("after restart got %q", got)
	}
}

func TestSecondStartOnSameDirectoryRefused(t *testing.T) {
	dir := dataDir(t)
	start(t, Options{DataDir: dir})
	_, err := Start(context.Background(), Options{DataDir: dir, Settings: testSettings})
	if err == nil || !strings.Contains(err.Error(), "in use by another omnichat") {
		t.Fatalf("second Start on a running cluster: err = %v, want 'in use'", err)
	}
}

// A crash (here SIGKILL of the server, leaving postmaster.pid behind, with a backend still
// busy) must not block the next start, and the data committed before it survives.
func TestStartAfterCrash(t *testing.T) {
	dir := dataDir(t)
	// synchronous_commit stays on here: with it off, a commit may still sit in shared
	// memory when the server is killed, and the table would rightly be gone.
	durable := Options{DataDir: dir, Settings: map[string]string{"fsync": "off"}}
	c := start(t, durable)
	conn := connect(t, c, Database)
	if _, err := conn.Exec(context.Background(), "CREATE TABLE survived (v int); INSERT INTO survived VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	// A backend busy with a query that never checks for the server's death outlives the
	// killed server for a moment, attached to its shared memory: Start must wait for it.
	busy := make(chan error, 1)
	go func() {
		_, err := conn.Exec(context.Background(), "SELECT count(*) FROM generate_series(1, 10000000)")
		busy <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.exited
	c.release() // what a crashed omnichat's exit would do: drop the flock
	b, err := os.ReadFile(filepath.Join(dir, "pg", "postmaster.pid"))
	if err != nil {
		t.Fatalf("expected a stale postmaster.pid after the crash: %v", err)
	}
	shmid := strings.Fields(strings.Split(string(b), "\n")[6])[1]
	if n, _ := shmAttached(shmid); n == 0 {
		t.Log("note: the busy backend was already gone; the wait for old backends went untested this time")
	}

	c2 := start(t, durable)
	conn2 := connect(t, c2, Database)
	if got := queryString(t, conn2, "SELECT v::text FROM survived"); got != "42" {
		t.Errorf("after crash recovery got %q", got)
	}
	<-busy
}

// A stale postmaster.pid naming a live process that is not our server (a reused pid, as
// after a container restart) must not block the start either.
func TestStartWithReusedPid(t *testing.T) {
	dir := dataDir(t)
	c := start(t, Options{DataDir: dir})
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// The impostor runs as the server's account: PostgreSQL itself would treat another
	// user's process as stale, but not one it may signal.
	sleeper := exec.Command("sleep", "60")
	if os.Geteuid() == 0 {
		a, err := lookupAccount(SystemUser)
		if err != nil {
			t.Fatal(err)
		}
		sleeper.SysProcAttr = &syscall.SysProcAttr{Credential: a.credential()}
	}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	pidFile := filepath.Join(dir, "pg", "postmaster.pid")
	stale := fmt.Sprintf("%d\n%s\n1700000000\n5432\n%s\n\n  5432001     999999\nready   \n", sleeper.Process.Pid, filepath.Join(dir, "pg"), c.sockDir)
	if err := os.WriteFile(pidFile, []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		a, _ := lookupAccount(SystemUser)
		if err := os.Chown(pidFile, a.uid, a.gid); err != nil {
			t.Fatal(err)
		}
	}
	c2 := start(t, Options{DataDir: dir})
	connect(t, c2, Database)
}

func TestLongDataDirUsesShortSocketDir(t *testing.T) {
	dir := filepath.Join(dataDir(t), strings.Repeat("d", 60), strings.Repeat("e", 60))
	c := start(t, Options{DataDir: dir})
	if !c.tmpSock || strings.HasPrefix(c.sockDir, dir) {
		t.Fatalf("socket dir %s: want a short directory outside %s", c.sockDir, dir)
	}
	connect(t, c, Database)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.sockDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary socket dir %s not removed by Stop: %v", c.sockDir, err)
	}
}

func TestConnStringQuotesPaths(t *testing.T) {
	c := &Cluster{sockDir: "/tmp/with space/and&amp"}
	s := c.ConnString("my db")
	cfg, err := pgx.ParseConfig(s)
	if err != nil {
		t.Fatalf("ParseConfig(%q): %v", s, err)
	}
	if cfg.Host != "/tmp/with space/and&amp" || cfg.Database != "my db" || cfg.User != SuperUser || cfg.Port != port {
		t.Errorf("parsed %q as host=%q db=%q user=%q port=%d", s, cfg.Host, cfg.Database, cfg.User, cfg.Port)
	}
}

func TestMissingBinariesNamePackage(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	_, err := findBinDir("", empty)
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Fatalf("err = %v, want ErrNotInstalled naming the Debian package", err)
	}
}

func TestExistingClusterOfOtherVersionRefused(t *testing.T) {
	dir := dataDir(t)
	if err := os.MkdirAll(filepath.Join(dir, "pg"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pg", "PG_VERSION"), []byte("9.6\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "created by PostgreSQL 9.6") {
		t.Fatalf("err = %v, want a version mismatch naming 9.6", err)
	}
}

func TestRootNeedsTraversableParents(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: only root runs the server as another account; this process is not root")
	}
	parent := dataDir(t)
	if err := os.Chmod(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{DataDir: filepath.Join(parent, "data")})
	if err == nil || !strings.Contains(err.Error(), "chmod o+x "+parent) {
		t.Fatalf("err = %v, want advice to chmod o+x %s", err, parent)
	}
}

// TestServerDiesWithParent starts a cluster in a child test process that then exits
// without Stop, and checks the kernel takes the server down with it.
func TestServerDiesWithParent(t *testing.T) {
	if dir := os.Getenv("LOCALPG_ORPHAN_DIR"); dir != "" {
		c, err := Start(context.Background(), Options{DataDir: dir, Settings: testSettings, InitCache: DefaultInitCache()})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println("pid", c.cmd.Process.Pid)
		os.Exit(0) // no Stop: as if omnichat crashed
	}
	dir := dataDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithParent$")
	cmd.Env = append(os.Environ(), "LOCALPG_ORPHAN_DIR="+dir)
	out, err := cmd.CombinedOutput()
	pid := 0
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "pid "); ok {
			pid, _ = strconv.Atoi(rest)
		}
	}
	if pid == 0 {
		t.Fatalf("child did not start a server (%v):\n%s", err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("server pid %d outlived its parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// And the data directory is usable again right away.
	c := start(t, Options{DataDir: dir})
	connect(t, c, Database)
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesized command name: "pid (comm) S ...".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// A cluster created while omnichat ran as an ordinary user is handed to the server's
// account when omnichat later runs as root.
func TestRootAdoptsClusterOfAnotherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: only root changes the cluster's owner; this process is not root")
	}
	dir := dataDir(t)
	c := start(t, Options{DataDir: dir})
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	// Pretend a different user (here root itself) made the cluster.
	err := filepath.WalkDir(filepath.Join(dir, "pg"), func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, 0, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	c2 := start(t, Options{DataDir: dir})
	connect(t, c2, Database)
}
