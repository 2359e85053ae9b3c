package localpg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// initCluster creates the cluster in pgDir: from the cache when one is given and holds a
// cluster for this server version and owner, otherwise with initdb. The work happens in
// pgDir+".init" and is renamed into place, so a crash half-way leaves no half cluster.
func initCluster(ctx context.Context, bin, version, pgDir, cache string, owner *account, noSync bool) error {
	tmp := pgDir + ".init"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("localpg: remove leftover %s: %w", tmp, err)
	}
	// clusterVersion let through only a missing or empty pgDir; rename needs it gone.
	if err := os.Remove(pgDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("localpg: remove empty %s: %w", pgDir, err)
	}

	args := initdbArgs()
	if cache == "" {
		if err := runInitdb(ctx, bin, tmp, args, owner, noSync); err != nil {
			return err
		}
	} else if err := initFromCache(ctx, bin, version, tmp, cache, args, owner); err != nil {
		return err
	}
	if err := os.Rename(tmp, pgDir); err != nil {
		return fmt.Errorf("localpg: move new cluster into place: %w", err)
	}
	return nil
}

// initFromCache copies a cached cluster into dir, making the cache entry first if needed.
// The cache is keyed by everything that shapes initdb's output, so a server upgrade or a
// change of initdb arguments simply makes a new entry.
func initFromCache(ctx context.Context, bin, version, dir, cache string, args []string, owner *account) error {
	uid := os.Geteuid()
	if owner != nil {
		uid = owner.uid
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s", bin, version, uid, strings.Join(args, "\x00"))
	entry := filepath.Join(cache, "initdb-"+hex.EncodeToString(h.Sum(nil))[:16])

	if _, err := os.Stat(filepath.Join(entry, "PG_VERSION")); err == nil {
		return copyTree(entry, dir, owner)
	}
	// Cache miss: initdb (without fsync: the cache is a scratch copy, and a cluster that
	// wants durability gets it from the server's own fsync once it runs), then publish a
	// copy with a rename so concurrent test processes never see a half-written entry.
	if err := runInitdb(ctx, bin, dir, args, owner, true); err != nil {
		return err
	}
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return nil // the cache is an optimization; the cluster itself is ready
	}
	staging, err := os.MkdirTemp(cache, "staging-")
	if err != nil {
		return nil
	}
	if err := os.Remove(staging); err == nil {
		if err := copyTree(dir, staging, nil); err == nil && os.Rename(staging, entry) == nil {
			return nil
		}
	}
	_ = os.RemoveAll(staging) // another process published first, or the copy failed
	return nil
}

// initdbArgs are the initdb arguments besides the directory.
func initdbArgs() []string {
	args := []string{
		"--username=" + SuperUser,
		// Only the socket is reachable, and its directory is private (mode 0700) to the
		// server's account and root; TCP is off and refused even if turned on.
		"--auth-local=trust",
		"--auth-host=reject",
		"--encoding=UTF8",
	}
	// C.UTF-8 sorts by code point like C, but lower()/upper() and full-text search still
	// know non-ASCII letters (Cyrillic); plain C would fold ASCII only.
	locale := "C"
	for _, dir := range []string{"/usr/lib/locale/C.utf8", "/usr/lib/locale/C.UTF-8"} {
		if _, err := os.Stat(dir); err == nil {
			locale = "C.UTF-8"
			break
		}
	}
	return append(args, "--locale="+locale)
}

func runInitdb(ctx context.Context, bin, dir string, args []string, owner *account, noSync bool) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("localpg: create cluster directory: %w", err)
	}
	if owner != nil {
		if err := os.Chown(dir, owner.uid, owner.gid); err != nil {
			return fmt.Errorf("localpg: create cluster directory: %w", err)
		}
	}
	args = append([]string{"--pgdata=" + dir}, args...)
	if noSync {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), args...)
	cmd.Dir = filepath.Dir(dir)
	cmd.Env = serverEnv()
	if owner != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner.credential()}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("localpg: initdb: %w\n%s", err, out)
	}
	return nil
}

// copyTree copies the directory src to dst (which must not exist), keeping modes. The
// copies belong to owner when one is given (we are root then), else to us.
func copyTree(src, dst string, owner *account) error {
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := copyFile(path, target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected file type %v at %s", info.Mode().Type(), path)
		}
		// Mkdir and OpenFile apply the umask; the server insists on exact modes.
		if err := os.Chmod(target, info.Mode().Perm()); err != nil {
			return err
		}
		if owner != nil {
			return os.Lchown(target, owner.uid, owner.gid)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("localpg: copy cluster %s: %w", src, err)
	}
	return nil
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// parsePid reads the first line of a postmaster.pid.
func parsePid(b []byte) int {
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}
