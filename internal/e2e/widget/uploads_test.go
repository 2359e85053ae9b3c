package widget

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
)

// TestUnsentUploadsAreRemoved: a widget upload never sent with a message is removed with
// its blob once it is older than the maximum age (15 minutes by default); a fresh one, and
// one a message still needs (its download has not run), are kept. A second instance with
// workers runs the pruning job on start, on the same database and file storage.
func TestUnsentUploadsAreRemoved(t *testing.T) {
	dataDir := t.TempDir()
	env := map[string]string{"OMNICHAT_DATA_DIR": dataDir}
	// No workers: a sent upload's download job stays queued, so the message still needs it.
	inst := apptest.Start(t, apptest.Options{NoWorkers: true, Env: env})
	admin := inst.Admin(t)
	ch := widgetChannel(t, admin, map[string]string{"allowed_origins": "https://shop.example"})
	v := newVisitor(t, inst, ch.ID)
	ctx := context.Background()

	upload := func(name string) string {
		t.Helper()
		var up map[string]any
		if code, raw := v.do(t, "POST", "/uploads", multipartFile(t, name, []byte("content of "+name)), map[string]string{"Content-Type": lastContentType}, &up); code != 201 {
			t.Fatalf("upload %s: %d %s", name, code, raw)
		}
		return up["ref"].(string)
	}
	blobExists := func(ref string) bool {
		_, err := os.Stat(filepath.Join(dataDir, "files", ref[:2], ref))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	}
	rowExists := func(ref string) bool {
		var n int
		if err := inst.Pool.QueryRow(ctx, `SELECT count(*) FROM widget_uploads WHERE ref = $1`, ref).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	age := func(ref string) {
		t.Helper()
		if _, err := inst.Pool.Exec(ctx, `UPDATE widget_uploads SET created_at = now() - interval '25 hours' WHERE ref = $1`, ref); err != nil {
			t.Fatal(err)
		}
	}

	abandoned := upload("abandoned.txt") // a day old, never sent: removed
	fresh := upload("fresh.txt")         // never sent yet, but new: kept
	sent := upload("sent.txt")           // a day old, sent, its download still queued: kept
	v.say(t, "", map[string]any{"files": []any{map[string]any{"ref": sent, "name": "sent.txt", "mime": "text/plain", "size": 15}}})
	age(abandoned)
	age(sent)
	for _, ref := range []string{abandoned, fresh, sent} {
		if !blobExists(ref) || !rowExists(ref) {
			t.Fatalf("upload %s not stored (blob %v, row %v)", ref, blobExists(ref), rowExists(ref))
		}
	}

	// Called directly: only the abandoned upload goes.
	n, err := inst.App.Dialogs.PruneUploads(ctx, 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("PruneUploads: %d, %v; want 1 removed", n, err)
	}
	if blobExists(abandoned) || rowExists(abandoned) {
		t.Errorf("the abandoned upload is still there (blob %v, row %v)", blobExists(abandoned), rowExists(abandoned))
	}
	if !blobExists(fresh) || !rowExists(fresh) || !blobExists(sent) || !rowExists(sent) {
		t.Errorf("a needed upload was removed: fresh (blob %v, row %v), sent (blob %v, row %v)", blobExists(fresh), rowExists(fresh), blobExists(sent), rowExists(sent))
	}

	// Through the pruning job: another abandoned upload; the instance with workers
	// downloads the sent file (which removes its upload) and runs the pruning job on start.
	abandoned2 := upload("abandoned-too.txt")
	age(abandoned2)
	apptest.Start(t, apptest.Options{DatabaseURL: inst.DatabaseURL, Env: env})
	apptest.Eventually(t, 30*time.Second, "the pruning job removed the second abandoned upload", func() bool {
		return !rowExists(abandoned2)
	})
	if blobExists(abandoned2) {
		t.Error("the pruning job removed the row but not the blob")
	}
	apptest.Eventually(t, 15*time.Second, "the sent upload read by the download job and removed", func() bool {
		return !rowExists(sent) && !blobExists(sent)
	})
	if !blobExists(fresh) || !rowExists(fresh) {
		t.Error("the pruning job removed a fresh upload")
	}
}
