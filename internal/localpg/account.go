package localpg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// account is the OS user the server runs as when we are root.
type account struct {
	name     string
	uid, gid int
}

func (a *account) credential() *syscall.Credential {
	// Groups stays empty: the server must not keep root's supplementary groups.
	return &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid)}
}

// serverOwner returns nil when the server can run as ourselves, and otherwise (we are
// root, which PostgreSQL refuses) the unprivileged SystemUser, created if missing.
func serverOwner() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var lastErr error
	// Several processes (parallel test binaries) may try to create the user at once:
	// useradd then fails on the busy /etc/passwd lock or on the name already taken, and
	// looking the user up again settles it.
	for attempt := 0; attempt < 20; attempt++ {
		if a, err := lookupAccount(SystemUser); err == nil {
			return a, nil
		} else if !errors.As(err, new(user.UnknownUserError)) {
			return nil, fmt.Errorf("localpg: look up user %s: %w", SystemUser, err)
		}
		if lastErr = createSystemUser(); lastErr == nil {
			continue
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("localpg: running as root, and PostgreSQL refuses to: could not create the system user %s to run it as (%v); "+
		"create it yourself (useradd --system --user-group %s) or run omnichat as an ordinary user", SystemUser, lastErr, SystemUser)
}

func lookupAccount(name string) (*account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("gid %q: %w", u.Gid, err)
	}
	return &account{name: name, uid: uid, gid: gid}, nil
}

func createSystemUser() error {
	useradd, err := exec.LookPath("useradd")
	if err != nil {
		useradd = "/usr/sbin/useradd"
	}
	out, err := exec.Command(useradd, "--system", "--user-group", "--no-create-home",
		"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
		"--comment", "omnichat embedded PostgreSQL", SystemUser).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", useradd, err, out)
	}
	return nil
}

// allowTraverse lets other users pass through dir (o+x) without listing it, so the server's
// account can reach its own subdirectories of omnichat's data directory.
func allowTraverse(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	if fi.Mode().Perm()&0o001 != 0 {
		return nil
	}
	if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
		return fmt.Errorf("localpg: let %s reach the data directory: %w", SystemUser, err)
	}
	return nil
}

// canReach checks that a can traverse every directory from / down to dir, and says which
// one it cannot, rather than leaving that to a bare "permission denied" from initdb.
func (a *account) canReach(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("localpg: %w", err)
		}
		if !a.mayTraverse(fi) {
			return fmt.Errorf("localpg: PostgreSQL runs as %s (omnichat runs as root), which cannot enter %s (mode %v): "+
				"allow it with chmod o+x %s, or set OMNICHAT_DATA_DIR to a directory outside it", a.name, d, fi.Mode().Perm(), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func (a *account) mayTraverse(fi fs.FileInfo) bool {
	perm := fi.Mode().Perm()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return perm&0o001 != 0
	}
	switch {
	case int(st.Uid) == a.uid:
		return perm&0o100 != 0
	case int(st.Gid) == a.gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// adopt makes a the owner of everything under dir, if it is not already.
func (a *account) adopt(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == a.uid && int(st.Gid) == a.gid {
		return nil
	}
	err = filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, a.uid, a.gid)
	})
	if err != nil {
		return fmt.Errorf("localpg: give %s to %s: %w", dir, a.name, err)
	}
	return nil
}
