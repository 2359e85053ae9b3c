package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// conformance is what every Store promises; each backend runs it.
func conformance(t *testing.T, s Store) {
	ctx := context.Background()
	t.Run("put open delete", func(t *testing.T) {
		key, n, err := s.Put(ctx, strings.NewReader("hello"), 5)
		if err != nil || n != 5 {
			t.Fatalf("put: %q %d %v", key, n, err)
		}
		if got := read(t, s, key); string(got) != "hello" {
			t.Fatalf("read %q", got)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Fatalf("open after delete: %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("deleting twice: %v", err)
		}
	})
	t.Run("keys differ", func(t *testing.T) {
		k1, _, err1 := s.Put(ctx, strings.NewReader("a"), 5)
		k2, _, err2 := s.Put(ctx, strings.NewReader("b"), 5)
		if err1 != nil || err2 != nil || k1 == k2 {
			t.Fatalf("two puts: %q %v, %q %v", k1, err1, k2, err2)
		}
		if string(read(t, s, k1)) != "a" || string(read(t, s, k2)) != "b" {
			t.Fatal("the blobs got mixed up")
		}
	})
	t.Run("empty", func(t *testing.T) {
		key, n, err := s.Put(ctx, bytes.NewReader(nil), 10)
		if err != nil || n != 0 {
			t.Fatalf("put empty: %d %v", n, err)
		}
		if got := read(t, s, key); len(got) != 0 {
			t.Fatalf("empty blob reads %d bytes", len(got))
		}
	})
	t.Run("exactly the cap", func(t *testing.T) {
		key, n, err := s.Put(ctx, bytes.NewReader(make([]byte, 1024)), 1024)
		if err != nil || n != 1024 {
			t.Fatalf("put at the cap: %d %v", n, err)
		}
		if got := read(t, s, key); len(got) != 1024 {
			t.Fatalf("read %d bytes", len(got))
		}
	})
	t.Run("too large", func(t *testing.T) {
		_, _, err := s.Put(ctx, bytes.NewReader(make([]byte, 1025)), 1024)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("put over the cap: %v, want ErrTooLarge", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		key, _ := newKey()
		if _, err := s.Open(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Fatalf("open of a key never stored: %v, want ErrNotFound", err)
		}
		for _, bad := range []string{"", "ab", "../../etc/passwd", "abcd/../../x", `ab\cd`, "abcd.tmp"} {
			if _, err := s.Open(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("open of bad key %q: %v, want ErrNotFound", bad, err)
			}
			if err := s.Delete(ctx, bad); err == nil {
				t.Errorf("delete of bad key %q accepted", bad)
			}
		}
	})
	t.Run("larger than a chunk", func(t *testing.T) {
		want := make([]byte, 3*ChunkSize+4321)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range want {
			want[i] = byte(rng.Uint32())
		}
		// A reader that hands out small pieces, like a network body does.
		key, n, err := s.Put(ctx, &trickle{r: bytes.NewReader(want)}, int64(len(want)))
		if err != nil || n != int64(len(want)) {
			t.Fatalf("put: %d %v", n, err)
		}
		r, err := s.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// Read in odd-sized pieces across chunk boundaries.
		var got bytes.Buffer
		buf := make([]byte, 70001)
		for {
			k, err := r.Read(buf)
			got.Write(buf[:k])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("read %d bytes, differing from the %d written", got.Len(), len(want))
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := s.Put(cctx, strings.NewReader("x"), 10); err == nil {
			t.Fatal("put with a cancelled context succeeded")
		}
	})
}

// trickle returns at most 1000 bytes a read.
type trickle struct{ r io.Reader }

func (t *trickle) Read(p []byte) (int, error) { return t.r.Read(p[:min(len(p), 1000)]) }

func read(t *testing.T, s Store, key string) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func TestDirConformance(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	conformance(t, d)
}

func TestPGConformance(t *testing.T) {
	conformance(t, &PG{Store: store.New(testdb.New(t))})
}

// The PostgreSQL backend keeps a blob as ChunkSize rows, writes it whole or not at all, and
// Delete removes every row.
func TestPGChunksAndDelete(t *testing.T) {
	pool := testdb.New(t)
	p := &PG{Store: store.New(pool)}
	ctx := context.Background()
	count := func(table string) int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	key, _, err := p.Put(ctx, bytes.NewReader(make([]byte, 2*ChunkSize+1)), 10*ChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	var biggest int
	if err := pool.QueryRow(ctx, `SELECT max(length(data)) FROM blob_chunks WHERE key = $1`, key).Scan(&biggest); err != nil {
		t.Fatal(err)
	}
	if n := count("blob_chunks"); n != 3 || biggest != ChunkSize {
		t.Fatalf("%d chunk rows of at most %d bytes, want 3 of %d", n, biggest, ChunkSize)
	}
	// Over the cap after two chunks were written: the transaction leaves nothing.
	if _, _, err := p.Put(ctx, bytes.NewReader(make([]byte, 3*ChunkSize)), 2*ChunkSize+10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("put over the cap: %v", err)
	}
	if b, c := count("blobs"), count("blob_chunks"); b != 1 || c != 3 {
		t.Fatalf("after a refused put: %d blobs, %d chunks; want 1 and 3", b, c)
	}
	// A reader open while the blob is deleted fails instead of returning a short file.
	r, err := p.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading a deleted blob: %v, want io.ErrUnexpectedEOF", err)
	}
	r.Close()
	if b, c := count("blobs"), count("blob_chunks"); b != 0 || c != 0 {
		t.Fatalf("after delete: %d blobs, %d chunks", b, c)
	}
}

// fakeS3 starts an S3-speaking server (gofakes3, in memory) with one bucket.
func fakeS3(t *testing.T, bucket string) S3Options {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	// TLS, as in production: the client then sends plain (unsigned) payloads, which the
	// fake decodes for multipart parts too.
	srv := httptest.NewTLSServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return S3Options{Endpoint: strings.TrimPrefix(srv.URL, "https://"), Bucket: bucket, Region: "us-east-1",
		AccessKey: "test-access", SecretKey: "test-secret", TLS: true, PathStyle: true,
		Transport: srv.Client().Transport}
}

func TestS3Conformance(t *testing.T) {
	s, err := NewS3(fakeS3(t, "omnichat-files"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Check(ctx); err != nil {
		t.Fatalf("check: %v", err)
	}
	conformance(t, s)
}

// Larger than one part: a multipart upload of several parts, read back whole; over the
// cap in the second part aborts it.
func TestS3Multipart(t *testing.T) {
	s, err := NewS3(fakeS3(t, "omnichat-files"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := make([]byte, s3PartSize+12345)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	key, n, err := s.Put(ctx, &trickle{r: bytes.NewReader(want)}, int64(len(want)))
	if err != nil || n != int64(len(want)) {
		t.Fatalf("put: %d %v", n, err)
	}
	if got := read(t, s, key); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, differing from the %d written", len(got), len(want))
	}
	if _, _, err := s.Put(ctx, bytes.NewReader(want), s3PartSize+100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("put over the cap: %v, want ErrTooLarge", err)
	}
}

// A bucket that is not there stops the start (Check), naming the bucket.
func TestS3CheckMissingBucket(t *testing.T) {
	o := fakeS3(t, "present")
	o.Bucket = "absent"
	s, err := NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), `"absent"`) {
		t.Fatalf("check of a missing bucket: %v", err)
	}
}
