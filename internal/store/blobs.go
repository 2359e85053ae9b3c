package store

import "context"

// CreateBlob starts a blob kept in PostgreSQL; its chunks follow in the same transaction
// and FinishBlob records its size.
func CreateBlob(ctx context.Context, db DB, key string) error {
	_, err := db.Exec(ctx, `INSERT INTO blobs (key, size, chunks) VALUES ($1, 0, 0)`, key)
	return notFoundOrNil(err, "create blob")
}

// PutBlobChunk stores chunk n (from 0) of a blob.
func PutBlobChunk(ctx context.Context, db DB, key string, n int, data []byte) error {
	_, err := db.Exec(ctx, `INSERT INTO blob_chunks (key, n, data) VALUES ($1, $2, $3)`, key, n, data)
	return notFoundOrNil(err, "put blob chunk")
}

// FinishBlob records the size and chunk count of a written blob.
func FinishBlob(ctx context.Context, db DB, key string, size int64, chunks int) error {
	_, err := db.Exec(ctx, `UPDATE blobs SET size = $2, chunks = $3 WHERE key = $1`, key, size, chunks)
	return notFoundOrNil(err, "finish blob")
}

// BlobInfo returns a blob's size and chunk count; ErrNotFound when there is no such blob.
func BlobInfo(ctx context.Context, db DB, key string) (size int64, chunks int, err error) {
	err = db.QueryRow(ctx, `SELECT size, chunks FROM blobs WHERE key = $1`, key).Scan(&size, &chunks)
	if err != nil {
		return 0, 0, notFound(err, "blob")
	}
	return size, chunks, nil
}

// BlobChunk returns chunk n of a blob; ErrNotFound when it is gone (deleted meanwhile).
func BlobChunk(ctx context.Context, db DB, key string, n int) ([]byte, error) {
	var data []byte
	if err := db.QueryRow(ctx, `SELECT data FROM blob_chunks WHERE key = $1 AND n = $2`, key, n).Scan(&data); err != nil {
		return nil, notFound(err, "blob chunk")
	}
	return data, nil
}

// DeleteBlob removes a blob and its chunks; a missing blob is not an error.
func DeleteBlob(ctx context.Context, db DB, key string) error {
	_, err := db.Exec(ctx, `DELETE FROM blobs WHERE key = $1`, key)
	return notFoundOrNil(err, "delete blob")
}
