// Package blob stores attachment bytes. The default is a local directory (one instance);
// PG (PostgreSQL itself) and S3 (S3-compatible object storage) are shared by every
// instance.
package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Store keeps blobs by key.
type Store interface {
	// Put stores at most max bytes from r; ErrTooLarge when r has more.
	Put(ctx context.Context, r io.Reader, max int64) (key string, size int64, err error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
}

// ErrTooLarge means the content exceeded the cap.
var ErrTooLarge = errors.New("file too large")

// ErrNotFound means there is no blob under the key (never stored, deleted, or a key no
// backend would have made).
var ErrNotFound = errors.New("blob not found")

// newKey makes a blob key: 32 hex digits, the same shape in every backend.
func newKey() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("blob key: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// checkKey refuses keys no backend makes, so a key from a URL never reaches outside its
// directory, table or bucket prefix.
func checkKey(key string) error {
	if len(key) < 4 || strings.ContainsAny(key, `/\.`) {
		return fmt.Errorf("blob: bad key %q: %w", key, ErrNotFound)
	}
	return nil
}

// Dir is a Store in a local directory, sharded by key prefix.
type Dir struct{ Root string }

// NewDir creates the directory if needed.
func NewDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("blob dir: %w", err)
	}
	return &Dir{Root: root}, nil
}

func (d *Dir) path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.Root, key[:2], key), nil
}

// Put writes to a temporary file and renames it into place, so a crash leaves no partial blob.
func (d *Dir) Put(ctx context.Context, r io.Reader, max int64) (string, int64, error) {
	key, err := newKey()
	if err != nil {
		return "", 0, err
	}
	p, _ := d.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return "", 0, fmt.Errorf("blob: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return "", 0, fmt.Errorf("blob: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(ctxReader{ctx, r}, max+1))
	if err == nil && n > max {
		err = ErrTooLarge
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("blob put: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", 0, fmt.Errorf("blob: %w", err)
	}
	return key, n, nil
}

// Open reads a blob.
func (d *Dir) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob open %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob open: %w", err)
	}
	return f, nil
}

// Delete removes a blob.
func (d *Dir) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blob delete: %w", err)
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
