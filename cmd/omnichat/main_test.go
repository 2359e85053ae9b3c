package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/omnichat/omnichat/internal/auth"
	"github.com/omnichat/omnichat/internal/config"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/internal/testdb"
)

// asMain makes the test binary act as the omnichat binary: the subprocess tests run
// os.Args[0] with this set, so they exercise the real main without a separate build.
const asMain = "OMNICHAT_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	testdb.Main(m)
}

// syncBuf collects a subprocess's output while the test reads it.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuf
	done           chan struct{}
	err            error
}

// environ is the parent's environment without any OMNICHAT_* variable, plus env.
func environ(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OMNICHAT_") {
			out = append(out, kv)
		}
	}
	out = append(out, asMain+"=1")
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// start runs omnichat as a subprocess; it is killed when the test ends if still running.
func start(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(os.Args[0], args...), stdout: &syncBuf{}, stderr: &syncBuf{}, done: make(chan struct{})}
	p.cmd.Env = environ(env)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("omnichat %v stdout:\n%s\nstderr:\n%s", args, p.stdout, p.stderr)
		}
	})
	return p
}

// waitOutput waits until stdout matches re and returns the match's groups.
func (p *proc) waitOutput(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			t.Fatalf("omnichat exited (%v) before printing %s\nstdout:\n%s\nstderr:\n%s", p.err, re, p.stdout, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("omnichat did not print %s within %s", re, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and returns the exit code and how long the exit took.
func (p *proc) stop(t *testing.T, timeout time.Duration) (int, time.Duration) {
	t.Helper()
	return p.signal(t, syscall.SIGTERM, timeout)
}

func (p *proc) signal(t *testing.T, sig os.Signal, timeout time.Duration) (int, time.Duration) {
	t.Helper()
	began := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("omnichat did not exit within %s of SIGTERM", timeout)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(began)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady polls /readyz until it answers 200 and returns how long that took.
func waitReady(t *testing.T, base string, timeout time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	c := &http.Client{Timeout: time.Second}
	for time.Since(began) < timeout {
		if resp, err := c.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(began)
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s/readyz not 200 within %s", base, timeout)
	return 0
}

func signIn(t *testing.T, base, email, password string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := http.Post(base+"/api/v1/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode != 200 {
		return resp.StatusCode, string(raw)
	}
	return resp.StatusCode, out.Token
}

func serveEnv(dbURL, addr string) map[string]string {
	return map[string]string{
		"OMNICHAT_DATABASE_URL":   dbURL,
		"OMNICHAT_HTTP_ADDR":      addr,
		"OMNICHAT_SECRET_KEY":     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"OMNICHAT_ADMIN_EMAIL":    "boss@example.com",
		"OMNICHAT_ADMIN_PASSWORD": "boss-password-1",
		"OMNICHAT_WORKERS":        "2",
		"OMNICHAT_DB_MAX_CONNS":   "4",
	}
}

var signInLine = regexp.MustCompile(`Sign in at (\S+)/login`)

// runIn runs the command in-process with env set, returning exit code, stdout and stderr.
func runIn(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OMNICHAT_") {
			t.Setenv(k, "")
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// lastLine is the last line of a command's stderr: its error, after any log lines.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestVersion(t *testing.T) {
	code, out, _ := runIn(t, nil, "", "version")
	if code != 0 || out != "omnichat "+version+"\n" {
		t.Fatalf("version: code %d, %q", code, out)
	}
}

// A bad value stops every command before it touches anything: exit 2, one line naming the
// variable on stderr, nothing on stdout.
func TestBadConfigIsOneLineAndExitCode2(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"OMNICHAT_LOG_LEVEL": "loud"}, "OMNICHAT_LOG_LEVEL"},
		{map[string]string{"OMNICHAT_HTTP_ADDR": "nowhere"}, "OMNICHAT_HTTP_ADDR"},
		{map[string]string{"OMNICHAT_DATABASE_URL": "mysql://root:hunter2@db/x"}, "OMNICHAT_DATABASE_URL"},
		{map[string]string{"OMNICHAT_ADMIN_EMAIL": "a@b.c"}, "OMNICHAT_ADMIN_PASSWORD"},
	} {
		for _, args := range [][]string{nil, {"serve"}, {"migrate"}} {
			code, out, errOut := runIn(t, tc.env, "", args...)
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			if code != 2 || out != "" || len(lines) != 1 || !strings.Contains(lines[0], tc.name) || strings.Contains(errOut, "hunter2") {
				t.Errorf("%v with %v: code %d, stdout %q, stderr %q", args, tc.env, code, out, errOut)
			}
		}
	}
	// And the real process, as a shell sees it.
	p := start(t, map[string]string{"OMNICHAT_SESSION_TTL": "forever"}, "serve")
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 2 || p.stderr.String() != "omnichat: configuration: OMNICHAT_SESSION_TTL=\"forever\": want a duration of at least 1m, like 720h\n" {
		t.Fatalf("serve with a bad TTL: exit %d, stderr %q", code, p.stderr)
	}
}

func TestMigrateAppliesOnceAndIsIdempotent(t *testing.T) {
	dbURL := testdb.NewEmptyURL(t)
	env := map[string]string{"OMNICHAT_DATABASE_URL": dbURL, "OMNICHAT_DATA_DIR": t.TempDir()}
	code, out, errOut := runIn(t, env, "", "migrate")
	if code != 0 || out != "migrations applied\n" {
		t.Fatalf("migrate: code %d, stdout %q, stderr %s", code, out, errOut)
	}
	latest, err := store.LatestVersion()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(errOut, "applied migration"); n != latest {
		t.Errorf("first migrate logged %d applied migrations, want %d", n, latest)
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if v, err := store.SchemaVersion(context.Background(), pool); err != nil || v != latest {
		t.Fatalf("schema version %d (%v), want %d", v, err, latest)
	}
	code, out, errOut = runIn(t, env, "", "migrate")
	if code != 0 || out != "migrations applied\n" || strings.Contains(errOut, "applied migration") {
		t.Fatalf("second migrate: code %d, stdout %q, stderr %s", code, out, errOut)
	}
}

func TestUserCreate(t *testing.T) {
	dbURL := testdb.NewURL(t)
	env := map[string]string{"OMNICHAT_DATABASE_URL": dbURL, "OMNICHAT_DATA_DIR": t.TempDir()}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := context.Background()

	// Password from stdin: not echoed, stored as argon2id.
	code, out, errOut := runIn(t, env, "piped-password-1\n", "user", "create", "--email", "Op@Example.com", "--role", "operator", "--name", "Olga")
	if code != 0 || !regexp.MustCompile(`^created operator Op@Example.com \(id \d+\)\n$`).MatchString(out) {
		t.Fatalf("user create: code %d, stdout %q, stderr %s", code, out, errOut)
	}
	u, err := store.UserByEmail(ctx, pool, "op@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != "operator" || u.Name != "Olga" || !u.Active || !strings.HasPrefix(u.PasswordHash, "$argon2id$") || !auth.CheckPassword(u.PasswordHash, "piped-password-1") {
		t.Fatalf("stored user %+v", u)
	}

	// No password: one is generated and printed once.
	code, out, errOut = runIn(t, env, "", "user", "create", "--email", "root@example.com", "--role", "admin")
	m := regexp.MustCompile(`(?m)^password: (\S+)$`).FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.HasPrefix(out, "created admin root@example.com") {
		t.Fatalf("generated: code %d, stdout %q, stderr %s", code, out, errOut)
	}
	a, err := store.UserByEmail(ctx, pool, "root@example.com")
	if err != nil || a.Role != "admin" || !auth.CheckPassword(a.PasswordHash, m[1]) || len(m[1]) < auth.MinPasswordLen {
		t.Fatalf("generated password %q does not sign in (%v, %+v)", m[1], err, a)
	}

	// The same email in another case: a clear error, exit 1, nothing created.
	code, out, errOut = runIn(t, env, "other-password-1\n", "user", "create", "--email", "OP@example.COM", "--role", "admin")
	if code != 1 || out != "" || lastLine(errOut) != "omnichat: a user with this email exists" {
		t.Fatalf("duplicate: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	// A short password, a bad role, a missing email.
	for _, tc := range []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"short\n", []string{"user", "create", "--email", "x@example.com", "--role", "operator"}, 1, "omnichat: the password must have 8 to 200 characters\n"},
		{"", []string{"user", "create", "--email", "x@example.com", "--role", "boss"}, 2, "omnichat: user create: --role \"boss\": want admin or operator\n"},
		{"", []string{"user", "create", "--role", "admin"}, 2, "omnichat: user create: --email is required\n"},
		{"", []string{"user", "delete"}, 2, ""},
	} {
		code, out, errOut = runIn(t, env, tc.stdin, tc.args...)
		if code != tc.code || out != "" || (tc.want != "" && lastLine(errOut) != strings.TrimSpace(tc.want)) {
			t.Errorf("%v: code %d, stdout %q, stderr %q", tc.args, code, out, errOut)
		}
	}
	if n, err := store.CountUsers(ctx, pool); err != nil || n != 2 {
		t.Fatalf("%d users (%v), want 2", n, err)
	}
}

// serve as a real process: prints where and how to sign in, answers health checks, signs
// the bootstrap admin in, and on SIGTERM exits 0 promptly even with an SSE stream open.
func TestServeSubprocess(t *testing.T) {
	addr := freeAddr(t)
	env := serveEnv(testdb.NewURL(t), addr)
	env["OMNICHAT_DATA_DIR"] = t.TempDir()
	p := start(t, env, "serve")
	base := "http://" + addr
	m := p.waitOutput(t, signInLine, 30*time.Second)
	if m[1] != base || !strings.Contains(p.stdout.String(), "omnichat "+version+" is serving at "+base) ||
		!strings.Contains(p.stdout.String(), "as boss@example.com with the password from OMNICHAT_ADMIN_PASSWORD") {
		t.Fatalf("start message:\n%s", p.stdout)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, body := signIn(t, base, "boss@example.com", "wrong-password"); code != 401 || !strings.Contains(body, `"code":"unauthorized"`) {
		t.Fatalf("wrong password: %d %s", code, body)
	}
	code, token := signIn(t, base, "BOSS@example.com", "boss-password-1")
	if code != 200 || token == "" {
		t.Fatalf("sign in: %d %s", code, token)
	}

	// An open stream must not hold the shutdown up.
	req, _ := http.NewRequest("GET", base+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", err, resp)
	}
	defer resp.Body.Close()
	streamEnded := make(chan struct{})
	gotHello := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() == "event: hello" {
				gotHello <- struct{}{}
			}
		}
		close(streamEnded)
	}()
	select {
	case <-gotHello:
	case <-time.After(10 * time.Second):
		t.Fatal("no hello on the stream")
	}

	code, took := p.stop(t, 10*time.Second)
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM\nstderr:\n%s", code, p.stderr)
	}
	select {
	case <-streamEnded:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream stayed open after the server exited")
	}
	t.Logf("SIGTERM to exit with a stream open: %s", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("shutdown took %s, want a few seconds at most", took)
	}
	// River runs with the server and stops after HTTP, before the process ends.
	logs := p.stderr.String()
	started, down, stopped := strings.Index(logs, "River client started"), strings.Index(logs, "shutting down"), strings.Index(logs, "River client stopped")
	if started < 0 || down < started || stopped < down {
		t.Errorf("want River started, then shutting down, then River stopped; log:\n%s", logs)
	}
}

// Two processes on one empty database start together: migrations run once, exactly one
// of them creates the bootstrap admin, and both serve.
func TestTwoServesStartTogether(t *testing.T) {
	dbURL := testdb.NewEmptyURL(t)
	var procs []*proc
	var bases []string
	for i := 0; i < 2; i++ {
		addr := freeAddr(t)
		env := serveEnv(dbURL, addr)
		env["OMNICHAT_DATA_DIR"] = t.TempDir()
		procs = append(procs, start(t, env, "serve"))
		bases = append(bases, "http://"+addr)
	}
	creators, applied := 0, 0
	for i, p := range procs {
		p.waitOutput(t, signInLine, 60*time.Second)
		waitReady(t, bases[i], 10*time.Second)
		if code, tok := signIn(t, bases[i], "boss@example.com", "boss-password-1"); code != 200 || tok == "" {
			t.Fatalf("instance %d: sign in: %d %s", i, code, tok)
		}
		if strings.Contains(p.stdout.String(), "as boss@example.com") {
			creators++
		}
		applied += strings.Count(p.stderr.String(), "applied migration")
	}
	latest, err := store.LatestVersion()
	if err != nil {
		t.Fatal(err)
	}
	if creators != 1 || applied != latest {
		t.Errorf("%d instances created the admin (want 1); %d migrations applied in all (want %d)", creators, applied, latest)
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var admins, versions int
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM users WHERE role = 'admin'), (SELECT count(*) FROM schema_migrations)`).Scan(&admins, &versions); err != nil {
		t.Fatal(err)
	}
	if admins != 1 || versions != latest {
		t.Errorf("%d admins, %d schema versions; want 1 and %d", admins, versions, latest)
	}
	for i, p := range procs {
		if code, _ := p.stop(t, 10*time.Second); code != 0 {
			t.Errorf("instance %d exited %d", i, code)
		}
	}
}

// A database migrated by a newer omnichat: serve refuses with a clear line and exit 1.
func TestServeRefusesANewerSchema(t *testing.T) {
	dbURL := testdb.NewURL(t)
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(context.Background(), `INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`)
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	latest, _ := store.LatestVersion()
	addr := freeAddr(t)
	env := serveEnv(dbURL, addr)
	env["OMNICHAT_DATA_DIR"] = t.TempDir()
	p := start(t, env, "serve")
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not refuse a newer schema")
	}
	last := lastLine(p.stderr.String())
	want := fmt.Sprintf("omnichat: %s: the database is at version 9999, this binary knows versions up to %d", store.ErrSchemaTooNew, latest)
	if code := p.cmd.ProcessState.ExitCode(); code != 1 || last != want || p.stdout.String() != "" {
		t.Fatalf("exit %d, last stderr line %q, want %q; stdout %q", code, last, want, p.stdout)
	}
	// migrate refuses the same way, and changes nothing.
	code, out, errOut := runIn(t, env, "", "migrate")
	if code != 1 || out != "" || lastLine(errOut) != want {
		t.Fatalf("migrate on a newer schema: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// With no user at all and no bootstrap variables, serve says how to make the first admin.
func TestServeWithoutUsersSaysHowToCreateOne(t *testing.T) {
	addr := freeAddr(t)
	env := serveEnv(testdb.NewURL(t), addr)
	delete(env, "OMNICHAT_ADMIN_EMAIL")
	delete(env, "OMNICHAT_ADMIN_PASSWORD")
	env["OMNICHAT_DATA_DIR"] = t.TempDir()
	env["OMNICHAT_LOG_FORMAT"] = "json"
	p := start(t, env, "serve")
	p.waitOutput(t, regexp.MustCompile(`Press Ctrl\+C to stop`), 30*time.Second)
	if code, _ := get(t, "http://"+addr+"/api/v1/me"); code != 401 {
		t.Errorf("/api/v1/me: %d", code)
	}
	for _, want := range []string{"No users yet", "omnichat user create --email you@example.com --role admin", "OMNICHAT_ADMIN_EMAIL and OMNICHAT_ADMIN_PASSWORD", "sign in at http://" + addr + "/login"} {
		if !strings.Contains(p.stdout.String(), want) {
			t.Errorf("start message lacks %q:\n%s", want, p.stdout)
		}
	}
	if code, _ := p.stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	// OMNICHAT_LOG_FORMAT=json: every log line is a JSON object, the access log included.
	access := 0
	for _, line := range strings.Split(strings.TrimSpace(p.stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["msg"] == nil || rec["level"] == nil {
			t.Errorf("not a JSON log line: %q", line)
		}
		if rec["msg"] == "http" && rec["path"] == "/api/v1/me" && rec["status"] == float64(401) && rec["req"] != "" {
			access++
		}
	}
	if access != 1 {
		t.Errorf("%d JSON access log lines for /api/v1/me, want 1", access)
	}
}

// The embedded default: no OMNICHAT_DATABASE_URL. The first start creates the cluster
// under the data directory, the second reuses it (the admin made the first time is still
// there), and every stop takes PostgreSQL down with it.
func TestEmbeddedDatabaseFirstStartAndRestart(t *testing.T) {
	dir := testdb.DataDir(t)
	// As root the cluster runs as an unprivileged account that must pass through the
	// data directory to reach pg/ inside it (serve's own error message says the same).
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	env := serveEnv("", addr)
	delete(env, "OMNICHAT_DATABASE_URL")
	env["OMNICHAT_DATA_DIR"] = dir
	base := "http://" + addr
	// The cluster's postmaster.pid, wherever under the data directory localpg keeps it.
	pidFile := func() string {
		var found string
		_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == "postmaster.pid" {
				found = path
			}
			return nil
		})
		return found
	}

	for i, want := range []string{"as boss@example.com", "Sign in at " + base + "/login\n"} {
		p := start(t, env, "serve")
		took := waitReady(t, base, 60*time.Second)
		t.Logf("start %d: /readyz 200 after %s", i+1, took.Round(time.Millisecond))
		if i == 0 && took > 30*time.Second || i == 1 && took > 5*time.Second {
			t.Errorf("start %d took %s", i+1, took)
		}
		p.waitOutput(t, signInLine, 5*time.Second)
		if !strings.Contains(p.stdout.String(), want) {
			t.Fatalf("start %d: want %q in\n%s", i+1, want, p.stdout)
		}
		pf := pidFile()
		if pf == "" {
			t.Fatalf("start %d: no running cluster under the data directory", i+1)
		}
		raw, err := os.ReadFile(pf)
		if err != nil {
			t.Fatal(err)
		}
		pgPID, err := strconv.Atoi(strings.SplitN(string(raw), "\n", 2)[0])
		if err != nil || syscall.Kill(pgPID, 0) != nil {
			t.Fatalf("start %d: postmaster.pid %q names no live process", i+1, raw)
		}
		if code, tok := signIn(t, base, "boss@example.com", "boss-password-1"); code != 200 || tok == "" {
			t.Fatalf("start %d: sign in: %d %s", i+1, code, tok)
		}
		// Ctrl-C, as in a terminal.
		if code, took := p.signal(t, os.Interrupt, 30*time.Second); code != 0 {
			t.Fatalf("start %d: exit %d", i+1, code)
		} else {
			t.Logf("start %d: Ctrl-C to exit (PostgreSQL stopped too): %s", i+1, took.Round(time.Millisecond))
		}
		if f := pidFile(); f != "" {
			t.Fatalf("after stop %d PostgreSQL still runs (%s exists)", i+1, f)
		}
		// No orphan: the postmaster (and so its children) is gone.
		if err := syscall.Kill(pgPID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("after stop %d the postmaster %d is still there (%v)", i+1, pgPID, err)
		}
	}

	// A crash (kill -9, the OOM killer): PostgreSQL must not outlive omnichat, and the next
	// start copes with what the crash left behind.
	p := start(t, env, "serve")
	waitReady(t, base, 30*time.Second)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p = start(t, env, "serve")
	took := waitReady(t, base, 30*time.Second)
	t.Logf("start after kill -9: /readyz 200 after %s", took.Round(time.Millisecond))
	if code, tok := signIn(t, base, "boss@example.com", "boss-password-1"); code != 200 || tok == "" {
		t.Fatalf("after a crash: sign in: %d %s", code, tok)
	}
	if code, _ := p.signal(t, os.Interrupt, 30*time.Second); code != 0 {
		t.Fatalf("after a crash: exit %d", code)
	}
	if f := pidFile(); f != "" {
		t.Fatalf("after the last stop PostgreSQL still runs (%s exists)", f)
	}
}

// The port is taken: serve says so in one line, exits 1, and stops the embedded cluster
// it started (no PostgreSQL left behind).
func TestServeWithTheAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := testdb.DataDir(t)
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	env := serveEnv("", ln.Addr().String())
	delete(env, "OMNICHAT_DATABASE_URL")
	env["OMNICHAT_DATA_DIR"] = dir
	p := start(t, env, "serve")
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("serve kept running with its address taken")
	}
	last := lastLine(p.stderr.String())
	if code := p.cmd.ProcessState.ExitCode(); code != 1 || !strings.HasPrefix(last, "omnichat: listen on "+ln.Addr().String()) || !strings.Contains(last, "address already in use") {
		t.Fatalf("exit %d, last line %q", code, last)
	}
	var left []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "postmaster.pid" {
			left = append(left, path)
		}
		return nil
	})
	if len(left) != 0 {
		t.Fatalf("PostgreSQL was not stopped cleanly: %v", left)
	}
}

// The first run as the start message tells it, on the embedded database: no users, so
// serve says to stop and create the admin; user create while serve runs fails with a clear
// line; after Ctrl-C it works, and the next start lets the admin sign in.
func TestFirstAdminOnTheEmbeddedDatabase(t *testing.T) {
	dir := testdb.DataDir(t)
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	env := serveEnv("", addr)
	for _, k := range []string{"OMNICHAT_DATABASE_URL", "OMNICHAT_ADMIN_EMAIL", "OMNICHAT_ADMIN_PASSWORD"} {
		delete(env, k)
	}
	env["OMNICHAT_DATA_DIR"] = dir
	p := start(t, env, "serve")
	p.waitOutput(t, regexp.MustCompile(`Press Ctrl\+C to stop`), 60*time.Second)
	if !strings.Contains(p.stdout.String(), "No users yet. Stop omnichat (Ctrl+C) and create the first admin:\n  omnichat user create --email you@example.com --role admin") {
		t.Fatalf("start message:\n%s", p.stdout)
	}
	create := func() *proc {
		c := start(t, env, "user", "create", "--email", "first@example.com", "--role", "admin")
		c.cmd.Stdin = nil
		<-c.done
		return c
	}
	busy := create()
	if code := busy.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(lastLine(busy.stderr.String()), "in use by another omnichat process") {
		t.Fatalf("user create while serving: exit %d, %q", code, busy.stderr)
	}
	if code, _ := p.signal(t, os.Interrupt, 30*time.Second); code != 0 {
		t.Fatalf("Ctrl-C: exit %d", code)
	}
	made := create()
	m := regexp.MustCompile(`(?m)^password: (\S+)$`).FindStringSubmatch(made.stdout.String())
	if code := made.cmd.ProcessState.ExitCode(); code != 0 || m == nil {
		t.Fatalf("user create after the stop: exit %d, stdout %q, stderr %q", code, made.stdout, made.stderr)
	}
	p = start(t, env, "serve")
	p.waitOutput(t, signInLine, 60*time.Second)
	if code, tok := signIn(t, "http://"+addr, "first@example.com", m[1]); code != 200 || tok == "" {
		t.Fatalf("the new admin signs in: %d %s", code, tok)
	}
	if code, _ := p.signal(t, os.Interrupt, 30*time.Second); code != 0 {
		t.Fatalf("Ctrl-C: exit %d", code)
	}
}

func TestEnvAndHelp(t *testing.T) {
	code, out, _ := runIn(t, nil, "", "env")
	if code != 0 || strings.Count(out, "\n") != len(config.Vars) {
		t.Fatalf("env: code %d:\n%s", code, out)
	}
	for _, v := range config.Vars {
		if !strings.Contains(out, v.Name) {
			t.Errorf("env does not list %s", v.Name)
		}
	}
	if code, out, _ := runIn(t, nil, "", "help"); code != 0 || !strings.Contains(out, "omnichat user create --email E --role admin|operator") {
		t.Errorf("help: %d %s", code, out)
	}
	if code, out, errOut := runIn(t, nil, "", "frobnicate"); code != 2 || out != "" || !strings.HasPrefix(errOut, `omnichat: unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q %q", code, out, errOut)
	}
}

// fake, simulate and loadtest moved to the developer binary: omnichat says where they went.
func TestDeveloperCommandsPointToOmnichatDev(t *testing.T) {
	for _, cmd := range []string{"fake", "simulate", "loadtest"} {
		code, out, errOut := runIn(t, nil, "", cmd, "telegram")
		if code != 2 || out != "" || !strings.Contains(errOut, "omnichat-dev "+cmd) {
			t.Errorf("%s: code %d, stdout %q, stderr %q", cmd, code, out, errOut)
		}
	}
	if _, out, _ := runIn(t, nil, "", "help"); strings.Contains(out, "omnichat fake") || strings.Contains(out, "omnichat loadtest") || !strings.Contains(out, "omnichat-dev") {
		t.Errorf("help still lists the developer tools as omnichat's:\n%s", out)
	}
}
