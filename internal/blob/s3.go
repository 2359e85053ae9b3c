package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options say where an S3-compatible bucket is.
type S3Options struct {
	Endpoint  string // host[:port], no scheme
	Bucket    string
	Region    string // empty = the client's default
	AccessKey string
	SecretKey string
	TLS       bool
	PathStyle bool // force endpoint/bucket/key URLs (most S3-compatible servers); false = auto
	// Transport replaces the HTTP transport (tests trust their server's certificate).
	Transport http.RoundTripper
}

// s3PartSize is the part of a multipart upload held in memory at once: the smallest S3
// allows (the client's default for an unknown size would be hundreds of megabytes).
const s3PartSize = 5 << 20

// s3SmallObject: a blob up to this size is read first and sent as one PUT of known size
// (one request instead of a multipart upload's three).
const s3SmallObject = 1 << 20

// S3 is a Store in an S3-compatible bucket: every instance reaches it.
type S3 struct {
	client *minio.Client
	bucket string
}

// NewS3 builds the client; nothing is sent until Check or the first use.
func NewS3(o S3Options) (*S3, error) {
	lookup := minio.BucketLookupAuto
	if o.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(o.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
		Secure:       o.TLS,
		Region:       o.Region,
		BucketLookup: lookup,
		Transport:    o.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	return &S3{client: c, bucket: o.Bucket}, nil
}

// Check makes sure the bucket exists and the credentials reach it (at start, so a wrong
// setting stops the instance instead of failing every upload).
func (s *S3) Check(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3 bucket %q: %w", s.bucket, err)
	}
	if !ok {
		return fmt.Errorf("s3 bucket %q does not exist (create it, or fix OMNICHAT_S3_BUCKET)", s.bucket)
	}
	return nil
}

// Put sends a small blob as one PUT and streams a larger one as a multipart upload of
// unknown size, one part in memory at a time; more than max bytes aborts the upload with
// ErrTooLarge.
func (s *S3) Put(ctx context.Context, r io.Reader, max int64) (string, int64, error) {
	key, err := newKey()
	if err != nil {
		return "", 0, err
	}
	src := &capReader{r: ctxReader{ctx, r}, left: max}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	head := make([]byte, s3SmallObject)
	n, err := io.ReadFull(src, head)
	var info minio.UploadInfo
	switch {
	case src.over:
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		info, err = s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(head[:n]), int64(n), opts)
	case err != nil:
	default:
		opts.PartSize = s3PartSize
		info, err = s.client.PutObject(ctx, s.bucket, key, io.MultiReader(bytes.NewReader(head), src), -1, opts)
	}
	if src.over {
		// The client aborts the multipart upload when the reader fails.
		return "", 0, fmt.Errorf("blob put: %w", ErrTooLarge)
	}
	if err != nil {
		return "", 0, fmt.Errorf("blob put: %w", err)
	}
	return key, info.Size, nil
}

// Open returns the object's body; a missing object is ErrNotFound.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err == nil {
		// GetObject is lazy: Stat sends the request, so a missing key is known here.
		_, err = obj.Stat()
	}
	if err != nil {
		if obj != nil {
			obj.Close()
		}
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil, fmt.Errorf("blob open %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("blob open: %w", err)
	}
	return obj, nil
}

// Delete removes the object; S3 answers success for a missing one.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("blob delete: %w", err)
	}
	return nil
}

// capReader fails with ErrTooLarge once more than left bytes were read.
type capReader struct {
	r    io.Reader
	left int64
	over bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		c.over = true
		return 0, ErrTooLarge
	}
	return n, err
}
