package blob

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/omnichat/omnichat/internal/store"
)

// ChunkSize is how much of a blob one row of blob_chunks holds: small enough that reading
// or writing a file never holds more than this in memory, large enough that a 50 MB file
// is 200 rows.
const ChunkSize = 256 << 10

// PG is a Store in PostgreSQL itself (tables blobs and blob_chunks): every instance on the
// database reaches it, with no other part to run.
type PG struct {
	Store *store.Store
	// ChunkSize overrides the package's ChunkSize (tests); 0 = ChunkSize.
	ChunkSize int
}

// Put streams r into chunks inside one transaction, so a blob is whole or absent.
func (p *PG) Put(ctx context.Context, r io.Reader, max int64) (string, int64, error) {
	key, err := newKey()
	if err != nil {
		return "", 0, err
	}
	chunk := p.ChunkSize
	if chunk <= 0 {
		chunk = ChunkSize
	}
	var size int64
	err = p.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.CreateBlob(ctx, tx, key); err != nil {
			return err
		}
		buf := make([]byte, chunk)
		src := io.LimitReader(ctxReader{ctx, r}, max+1)
		n := 0
		for {
			k, rerr := io.ReadFull(src, buf)
			if k > 0 {
				size += int64(k)
				if size > max {
					return ErrTooLarge
				}
				if err := store.PutBlobChunk(ctx, tx, key, n, buf[:k]); err != nil {
					return err
				}
				n++
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				break
			}
			if rerr != nil {
				return rerr
			}
		}
		return store.FinishBlob(ctx, tx, key, size, n)
	})
	if err != nil {
		return "", 0, fmt.Errorf("blob put: %w", err)
	}
	return key, size, nil
}

// Open checks the blob exists and returns a reader that fetches one chunk at a time.
func (p *PG) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	_, chunks, err := store.BlobInfo(ctx, p.Store.Pool, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("blob open %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob open: %w", err)
	}
	return &pgReader{ctx: ctx, db: p.Store.Pool, key: key, chunks: chunks}, nil
}

// Delete removes the blob's rows; a missing blob is not an error.
func (p *PG) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := store.DeleteBlob(ctx, p.Store.Pool, key); err != nil {
		return fmt.Errorf("blob delete: %w", err)
	}
	return nil
}

// pgReader reads a blob chunk by chunk, each chunk a query of its own.
type pgReader struct {
	ctx    context.Context
	db     store.DB
	key    string
	chunks int
	next   int
	buf    []byte
}

func (r *pgReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.next >= r.chunks {
			return 0, io.EOF
		}
		data, err := store.BlobChunk(r.ctx, r.db, r.key, r.next)
		if errors.Is(err, store.ErrNotFound) {
			// Deleted while being read: the reader must not pass a short file off as whole.
			return 0, fmt.Errorf("blob %s deleted while read: %w", r.key, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return 0, fmt.Errorf("blob read: %w", err)
		}
		r.buf = data
		r.next++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *pgReader) Close() error {
	r.buf, r.next = nil, r.chunks
	return nil
}
