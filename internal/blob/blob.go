// Package blob stores attachment bytes. The default is a local directory; the Store
// interface leaves room for S3-compatible storage.
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
	if len(key) < 4 || strings.ContainsAny(key, `/\.`) {
		return "", fmt.Errorf("blob: bad key %q", key)
	}
	return filepath.Join(d.Root, key[:2], key), nil
}

// Put writes to a temporary file and renames it into place, so a crash leaves no partial blob.
func (d *Dir) Put(ctx context.Context, r io.Reader, max int64) (string, int64, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", 0, fmt.Errorf("blob key: %w", err)
	}
	key := hex.EncodeToString(b)
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
