package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirPutOpenDelete(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key, n, err := d.Put(ctx, strings.NewReader("hello"), 5)
	if err != nil || n != 5 {
		t.Fatalf("put: %q %d %v", key, n, err)
	}
	r, err := d.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
	if err := d.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, key); err == nil {
		t.Fatal("a deleted blob opens")
	}
	if err := d.Delete(ctx, key); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
}

// Over the cap: ErrTooLarge, and nothing is left behind (no blob, no temporary file).
func TestDirPutOverCapLeavesNothing(t *testing.T) {
	root := t.TempDir()
	d, _ := NewDir(root)
	_, _, err := d.Put(context.Background(), bytes.NewReader(make([]byte, 1025)), 1024)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("put over the cap: %v, want ErrTooLarge", err)
	}
	var files []string
	filepath.WalkDir(root, func(p string, e os.DirEntry, _ error) error {
		if e != nil && !e.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("left behind %v", files)
	}
}

// Keys never reach outside the directory.
func TestDirRejectsBadKeys(t *testing.T) {
	d, _ := NewDir(t.TempDir())
	for _, key := range []string{"", "ab", "../../etc/passwd", "abcd/../../x", `ab\cd`, "abcd.tmp"} {
		if _, err := d.Open(context.Background(), key); err == nil {
			t.Errorf("key %q accepted", key)
		}
		if err := d.Delete(context.Background(), key); err == nil {
			t.Errorf("delete of key %q accepted", key)
		}
	}
}

func TestDirPutHonoursContext(t *testing.T) {
	d, _ := NewDir(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := d.Put(ctx, strings.NewReader("x"), 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with a cancelled context: %v", err)
	}
}
