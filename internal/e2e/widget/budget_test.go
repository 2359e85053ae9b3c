package widget

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
)

// budgetEnv trusts the loopback proxy, so X-Forwarded-For names the visitor's address.
func budgetEnv(perAddress, perChannel int) map[string]string {
	return map[string]string{
		"OMNICHAT_TRUSTED_PROXIES":              "127.0.0.1",
		"OMNICHAT_WIDGET_UPLOAD_BUDGET_ADDRESS": strconv.Itoa(perAddress),
		"OMNICHAT_WIDGET_UPLOAD_BUDGET_CHANNEL": strconv.Itoa(perChannel),
	}
}

// uploadFrom posts a file of size bytes as if from addr and returns the status, the
// Retry-After header and the error code.
func uploadFrom(t *testing.T, v *visitor, addr string, size int) (int, string, string) {
	t.Helper()
	body := multipartFile(t, "f.bin", bytes.Repeat([]byte("x"), size))
	req, _ := http.NewRequest("POST", v.api+"/uploads", body)
	req.Header.Set("Content-Type", lastContentType)
	req.Header.Set("X-Widget-Token", v.token)
	req.Header.Set("Origin", v.base)
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := v.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, resp.Header.Get("Retry-After"), e.Error.Code
}

func wantUploaded(t *testing.T, what string, code int, _ string, _ string) {
	t.Helper()
	if code != 201 {
		t.Fatalf("%s: HTTP %d, want 201", what, code)
	}
}

func wantBudgetRefusal(t *testing.T, what string, code int, retry, ecode string) {
	t.Helper()
	if n, err := strconv.Atoi(retry); code != 429 || ecode != "rate_limited" || err != nil || n < 1 || n > 3600 {
		t.Fatalf("%s: HTTP %d, Retry-After %q, error %q; want 429, a Retry-After within the hour, rate_limited", what, code, retry, ecode)
	}
}

// TestUploadBudgetPerAddress: one address that used up its byte budget is refused with 429
// and Retry-After, while another address still uploads to the same channel.
func TestUploadBudgetPerAddress(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true, Env: budgetEnv(1000, 1<<30)})
	ch := widgetChannel(t, inst.Admin(t), map[string]string{"allowed_origins": shop})
	v := newVisitor(t, inst, ch.ID)
	w := newVisitor(t, inst, ch.ID)

	code, retry, ecode := uploadFrom(t, v, "203.0.113.1", 400)
	wantUploaded(t, "first upload", code, retry, ecode)
	code, retry, ecode = uploadFrom(t, v, "203.0.113.1", 400)
	wantUploaded(t, "second upload", code, retry, ecode)
	code, retry, ecode = uploadFrom(t, v, "203.0.113.1", 400)
	wantBudgetRefusal(t, "third upload from the same address", code, retry, ecode)
	// Another visitor from the same address is refused too: the budget is the address's.
	code, retry, ecode = uploadFrom(t, w, "203.0.113.1", 100)
	wantUploaded(t, "a small file still within the budget", code, retry, ecode)
	code, retry, ecode = uploadFrom(t, w, "203.0.113.1", 400)
	wantBudgetRefusal(t, "another visitor from the same address", code, retry, ecode)
	code, retry, ecode = uploadFrom(t, w, "203.0.113.2", 400)
	wantUploaded(t, "another address", code, retry, ecode)

	var n int
	if err := inst.Pool.QueryRow(context.Background(), `SELECT count(*) FROM widget_uploads`).Scan(&n); err != nil || n != 4 {
		t.Errorf("%d uploads stored (%v), want 4: a refused upload must not be kept", n, err)
	}
}

// TestUploadBudgetSharedAcrossInstances: two instances on one database draw on one budget
// per address and one per channel.
func TestUploadBudgetSharedAcrossInstances(t *testing.T) {
	env := budgetEnv(1000, 2000)
	a := apptest.Start(t, apptest.Options{NoWorkers: true, Env: env})
	b := apptest.Start(t, apptest.Options{NoWorkers: true, Env: env, DatabaseURL: a.DatabaseURL})
	ch := widgetChannel(t, a.Admin(t), map[string]string{"allowed_origins": shop})
	va := newVisitor(t, a, ch.ID)
	vb := &visitor{base: b.URL, api: fmt.Sprintf("%s/widget/api/%d", b.URL, ch.ID), token: va.token, http: va.http}

	code, retry, ecode := uploadFrom(t, va, "198.51.100.1", 600)
	wantUploaded(t, "address 1 at A", code, retry, ecode)
	code, retry, ecode = uploadFrom(t, vb, "198.51.100.1", 600)
	wantBudgetRefusal(t, "address 1 at B (its budget is spent at A)", code, retry, ecode)
	code, retry, ecode = uploadFrom(t, vb, "198.51.100.2", 600)
	wantUploaded(t, "address 2 at B", code, retry, ecode)
	code, retry, ecode = uploadFrom(t, va, "198.51.100.3", 600)
	wantUploaded(t, "address 3 at A", code, retry, ecode)
	code, retry, ecode = uploadFrom(t, vb, "198.51.100.4", 600)
	wantBudgetRefusal(t, "address 4 at B (the channel's budget is spent)", code, retry, ecode)
}

// TestUnsentUploadsRemovedWithinMinutes: with the maximum age shortened, the periodic
// pruning job removes an upload never sent with a message soon after, while a sent one
// becomes the message's file and stays.
func TestUnsentUploadsRemovedWithinMinutes(t *testing.T) {
	dataDir := t.TempDir()
	inst := apptest.Start(t, apptest.Options{Env: map[string]string{"OMNICHAT_DATA_DIR": dataDir, "OMNICHAT_WIDGET_UPLOAD_MAX_AGE": "2s"}})
	ch := widgetChannel(t, inst.Admin(t), map[string]string{"allowed_origins": shop})
	v := newVisitor(t, inst, ch.ID)
	upload := func(name string) string {
		t.Helper()
		var up map[string]any
		if code, raw := v.do(t, "POST", "/uploads", multipartFile(t, name, []byte("content of "+name)), map[string]string{"Content-Type": lastContentType}, &up); code != 201 {
			t.Fatalf("upload %s: %d %s", name, code, raw)
		}
		return up["ref"].(string)
	}
	stored := func(ref string) bool {
		var n int
		if err := inst.Pool.QueryRow(context.Background(), `SELECT count(*) FROM widget_uploads WHERE ref = $1`, ref).Scan(&n); err != nil {
			t.Fatal(err)
		}
		_, err := os.Stat(filepath.Join(dataDir, "files", ref[:2], ref))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return n == 1 || err == nil
	}

	abandoned := upload("abandoned.txt")
	sent := upload("sent.txt")
	v.say(t, "", map[string]any{"files": []any{map[string]any{"ref": sent, "name": "sent.txt", "mime": "text/plain", "size": 16}}})
	apptest.Eventually(t, 60*time.Second, "the unsent upload removed by the periodic job", func() bool { return !stored(abandoned) })
	apptest.Eventually(t, 30*time.Second, "the sent file stored with its message", func() bool {
		ms, _ := v.history(t)
		for _, m := range ms {
			for _, f := range m.Files {
				if f.Name == "sent.txt" && !f.Pending && f.ID > 0 {
					return true
				}
			}
		}
		return false
	})
	// The sent file stays past the maximum age.
	time.Sleep(3 * time.Second)
	ms, raw := v.history(t)
	var fileID int64
	for _, m := range ms {
		for _, f := range m.Files {
			if f.Name == "sent.txt" {
				fileID = f.ID
			}
		}
	}
	if fileID == 0 {
		t.Fatalf("the sent file is gone from the history: %s", raw)
	}
	code, body := v.do(t, "GET", fmt.Sprintf("/files/%d", fileID), nil, nil, nil)
	if code != 200 || string(body) != "content of sent.txt" {
		t.Errorf("the sent file: HTTP %d %q", code, body)
	}
}
