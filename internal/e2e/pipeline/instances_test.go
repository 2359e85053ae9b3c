package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// deliverTo posts a signed update to the channel's webhook path on another instance than
// the one the platform was pointed at (a load balancer's choice).
func deliverTo(t *testing.T, fake *exampletest.Server, from, to *apptest.Instance, update []byte) (int, string) {
	t.Helper()
	wh := fake.Webhook()
	req, err := example.NewWebhookRequest(context.Background(), strings.Replace(wh.URL, from.URL, to.URL, 1), wh.Secret, update)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// uploadFile posts a reply with a file and returns the stored file's id.
func uploadFile(t *testing.T, c *apptest.Client, dialogID int64, name string, content []byte) int64 {
	t.Helper()
	code, raw := upload(t, c, dialogID, name, "application/octet-stream", content, "")
	var m store.Message
	if code != http.StatusCreated || json.Unmarshal(raw, &m) != nil || len(m.Attachments) != 1 || m.Attachments[0].FileID == 0 {
		t.Fatalf("upload %s: %d %s", name, code, raw)
	}
	return m.Attachments[0].FileID
}

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestInstancesShareKeyAndFiles: two instances with different data directories, one
// OMNICHAT_SECRET_KEY and OMNICHAT_FILES=postgres on one database behave as one: a channel
// created on the first takes webhooks through the second, and a file uploaded through
// either is served by the other.
func TestInstancesShareKeyAndFiles(t *testing.T) {
	env := map[string]string{"OMNICHAT_FILES": "postgres"}
	a := apptest.Start(t, apptest.Options{Env: env})
	b := apptest.Start(t, apptest.Options{DatabaseURL: a.DatabaseURL, Env: env})
	if a.App.Config.DataDir == b.App.Config.DataDir {
		t.Fatal("the instances share a data directory")
	}
	adminA := a.Admin(t)
	fake, _ := exampleChannel(t, a, adminA) // created on A
	adminB := b.SignIn(t, "admin@example.com", "test-password-1")
	streamB := adminB.Stream(t)

	update := example.NewMessageUpdate(4001, 801, "u-shared", "", "Olga", "", "Hello through B", time.Now())
	if code, body := deliverTo(t, fake, a, b, update); code != http.StatusOK {
		t.Fatalf("webhook of A's channel through B: %d %s", code, body)
	}
	ev := streamB.Next(t, "dialog.created", 10*time.Second)
	var pushed struct {
		DialogID  int64 `json:"d"`
		MessageID int64 `json:"m"`
	}
	if err := json.Unmarshal(ev.Data, &pushed); err != nil || pushed.DialogID == 0 {
		t.Fatalf("dialog.created on B: %s %v", ev.Data, err)
	}
	if m := message(t, adminA, pushed.DialogID, pushed.MessageID); m.Text != "Hello through B" {
		t.Fatalf("A reads %+v", m)
	}

	// Larger than a chunk of the PostgreSQL store, so it is streamed in several rows.
	fromA := randomBytes(600<<10, 1)
	fromB := randomBytes(70<<10, 2)
	idA := uploadFile(t, adminA, pushed.DialogID, "from-a.bin", fromA)
	idB := uploadFile(t, adminB, pushed.DialogID, "from-b.bin", fromB)
	if code, _, body := getFile(t, b.URL, adminB.Token, idA); code != http.StatusOK || !bytes.Equal(body, fromA) {
		t.Fatalf("B serves A's upload: %d, %d bytes (want %d)", code, len(body), len(fromA))
	}
	if code, _, body := getFile(t, a.URL, adminA.Token, idB); code != http.StatusOK || !bytes.Equal(body, fromB) {
		t.Fatalf("A serves B's upload: %d, %d bytes (want %d)", code, len(body), len(fromB))
	}
}

// TestInstanceWithAnotherKeyRefusesToStart: an instance whose key is not the database's
// (another OMNICHAT_SECRET_KEY, or none, so one generated into its own data directory: the
// default configuration) refuses to start with one line naming OMNICHAT_SECRET_KEY,
// instead of answering 500 to every webhook.
func TestInstanceWithAnotherKeyRefusesToStart(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	exampleChannel(t, a, a.Admin(t))
	for name, key := range map[string]string{
		"another key":   "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100",
		"generated key": "",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := apptest.TryStart(t, apptest.Options{DatabaseURL: a.DatabaseURL, Env: map[string]string{"OMNICHAT_SECRET_KEY": key}})
			if err == nil {
				t.Fatal("an instance with another key started")
			}
			msg := err.Error()
			if !strings.Contains(msg, "OMNICHAT_SECRET_KEY does not open this database's channel secrets") ||
				!strings.Contains(msg, "give every instance on the database the same OMNICHAT_SECRET_KEY") || strings.Contains(msg, "\n") {
				t.Fatalf("refusal %q: want the one line naming OMNICHAT_SECRET_KEY", msg)
			}
		})
	}
}

// TestFileOnAnotherMachineIs404: with the default OMNICHAT_FILES=dir each instance keeps
// its own files; another instance answers 404 for them (it used to answer 500).
func TestFileOnAnotherMachineIs404(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	b := apptest.Start(t, apptest.Options{DatabaseURL: a.DatabaseURL})
	adminA := a.Admin(t)
	fake, _ := exampleChannel(t, a, adminA)
	stream := adminA.Stream(t)
	d := firstDialog(t, fake, adminA, stream, "u-404", 5001)
	id := uploadFile(t, adminA, d.ID, "local.bin", []byte("only on A"))
	adminB := b.SignIn(t, "admin@example.com", "test-password-1")
	if code, _, body := getFile(t, b.URL, adminB.Token, id); code != http.StatusNotFound {
		t.Fatalf("B serving a file only A has: %d %s, want 404", code, body)
	}
	if code, _, body := getFile(t, a.URL, adminA.Token, id); code != http.StatusOK || string(body) != "only on A" {
		t.Fatalf("A serving its own file: %d %q", code, body)
	}
}
