package pipeline

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/example"
)

func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// getFile fetches /api/v1/files/{id} with the client's token (none when token is "").
func getFile(t *testing.T, base, token string, id int64) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", apptest.Path("%s/api/v1/files/%d", base, id), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// upload posts a multipart reply with a file.
func upload(t *testing.T, c *apptest.Client, dialogID int64, name, mimeType string, content []byte, text string, idempotencyKey ...string) (int, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if text != "" {
		mw.WriteField("text", text)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="`+name+`"`)
	h.Set("Content-Type", mimeType)
	part, _ := mw.CreatePart(h)
	part.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", apptest.Path("%s/api/v1/dialogs/%d/messages", c.Base, dialogID), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if len(idempotencyKey) > 0 {
		req.Header.Set("Idempotency-Key", idempotencyKey[0])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// TestInboundAttachmentIsFetchedAndServed: a visitor's photo (a platform file id) is
// downloaded by the fetch job into blob storage and served to signed-in operators with its
// content type; the bot token shows nowhere in the API or the log.
func TestInboundAttachmentIsFetchedAndServed(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)

	photo := testPNG(t)
	fake.AddFile("file-photo-1", "", "image/png", photo)
	fake.AddFile("file-doc-1", "report.pdf", "application/pdf", []byte("%PDF-1.4 test document"))
	update := example.Update{UpdateID: 4001, Type: example.TypeMessage, Message: &example.Message{
		ID: 801, ChatID: "u-5", From: example.User{ID: "u-5", FirstName: "Pavel"}, Date: time.Now().Unix(),
		Attachments: []example.Attachment{
			{Type: "image", FileID: "file-photo-1", MIME: "image/png"},
			{Type: "file", FileID: "file-doc-1", Name: "report.pdf"},
		},
	}}.Marshal()
	deliver(t, fake, update)
	ev := stream.Next(t, "dialog.created", 10*time.Second)
	_ = ev
	var list struct {
		Dialogs []store.Dialog `json:"dialogs"`
	}
	admin.Must(t, "GET", "/api/v1/dialogs", nil, &list)
	if len(list.Dialogs) != 1 {
		t.Fatalf("dialogs: %+v", list.Dialogs)
	}
	d := list.Dialogs[0]
	var m store.Message
	apptest.Eventually(t, 15*time.Second, "both attachments downloaded", func() bool {
		ms := messages(t, admin, d.ID)
		for _, x := range ms {
			if x.Direction == "in" && len(x.Attachments) == 2 && x.Attachments[0].FileID != 0 && x.Attachments[1].FileID != 0 {
				m = x
				return true
			}
		}
		return false
	})
	img, doc := m.Attachments[0], m.Attachments[1]
	if img.Kind != "image" || img.MIME != "image/png" || img.Size != int64(len(photo)) || img.Pending || img.Error != "" {
		t.Errorf("image attachment %+v", img)
	}
	if doc.Name != "report.pdf" || doc.Pending {
		t.Errorf("file attachment %+v", doc)
	}

	code, h, body := getFile(t, inst.URL, admin.Token, img.FileID)
	if code != 200 || !bytes.Equal(body, photo) || h.Get("Content-Type") != "image/png" {
		t.Fatalf("GET file: %d %q %d bytes", code, h.Get("Content-Type"), len(body))
	}
	if cd := h.Get("Content-Disposition"); !strings.HasPrefix(cd, "inline") {
		t.Errorf("image Content-Disposition %q", cd)
	}
	code, h, body = getFile(t, inst.URL, admin.Token, doc.FileID)
	if code != 200 || string(body) != "%PDF-1.4 test document" || h.Get("Content-Type") != "application/pdf" {
		t.Fatalf("GET pdf: %d %q %q", code, h.Get("Content-Type"), body)
	}
	if code, _, _ := getFile(t, inst.URL, "", img.FileID); code != http.StatusUnauthorized {
		t.Fatalf("GET file without a session: %d, want 401", code)
	}
	// An operator sees the file exactly when they may see its dialog; otherwise the file
	// does not exist for them.
	other := inst.CreateUser(t, "op2@example.com", "operator")
	dialogCode, _ := other.Call(t, "GET", apptest.Path("/api/v1/dialogs/%d", d.ID), nil, nil)
	if code, _, _ := getFile(t, inst.URL, other.Token, img.FileID); code != dialogCode {
		t.Fatalf("GET file as another operator: %d, but the dialog answers %d", code, dialogCode)
	}
	if code, _, _ := getFile(t, inst.URL, admin.Token, img.FileID+1000); code != http.StatusNotFound {
		t.Fatalf("GET a file that does not exist: %d", code)
	}

	// The avatar job ran too (GetUserInfo); wait for it so its log lines are in.
	apptest.Eventually(t, 10*time.Second, "user info fetched", func() bool { return len(fake.CallsTo("GET /users/{id}")) > 0 })
	_, raw := admin.Call(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages", d.ID), nil, nil)
	_, rawD := admin.Call(t, "GET", apptest.Path("/api/v1/dialogs/%d", d.ID), nil, nil)
	for what, s := range map[string]string{"messages API": string(raw), "dialog API": string(rawD), "server log": inst.Log.String()} {
		if strings.Contains(s, fake.Token) {
			t.Errorf("the bot token appears in the %s", what)
		}
		if strings.Contains(s, fake.URL()+"/download") {
			t.Errorf("the platform's download URL appears in the %s", what)
		}
	}
}

// TestOperatorFileUpload: a multipart reply goes to the platform as a file with its name and
// type; a file over the cap is refused with 413 and nothing is sent.
func TestOperatorFileUpload(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{Env: map[string]string{"OMNICHAT_UPLOAD_MAX_BYTES": "65536"}})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)
	d := firstDialog(t, fake, admin, stream, "u-42", 1)
	fake.Reset()

	photo := testPNG(t)
	code, raw := upload(t, admin, d.ID, "scan.png", "image/png", photo, "here is the scan", "up-1")
	if code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, raw)
	}
	// The same upload again with its Idempotency-Key: the first message, no second send.
	code2, raw2 := upload(t, admin, d.ID, "scan.png", "image/png", photo, "here is the scan", "up-1")
	var first, again store.Message
	json.Unmarshal(raw, &first)
	json.Unmarshal(raw2, &again)
	if code2 != http.StatusOK || again.ID != first.ID {
		t.Fatalf("repeated upload: %d %s, want 200 with message %d", code2, raw2, first.ID)
	}
	apptest.Eventually(t, 15*time.Second, "the file at the platform", func() bool { return len(fake.Sent()) == 1 })
	s := fake.Sent()[0]
	if s.FileName != "scan.png" || s.FileMIME != "image/png" || !bytes.Equal(s.File, photo) || s.Caption != "here is the scan" || s.ChatID != "u-42" {
		t.Fatalf("platform got file %q %q %d bytes caption %q to %q", s.FileName, s.FileMIME, len(s.File), s.Caption, s.ChatID)
	}
	var out []store.Message
	apptest.Eventually(t, 10*time.Second, "file message sent", func() bool {
		out = nil
		for _, m := range messages(t, admin, d.ID) {
			if m.Direction == "out" && m.Kind == "file" && m.Status == "sent" {
				out = append(out, m)
			}
		}
		return len(out) == 1
	})
	if a := out[0].Attachments; len(a) != 1 || a[0].FileID == 0 || a[0].Name != "scan.png" {
		t.Fatalf("stored attachment %+v", a)
	}
	if code, h, body := getFile(t, inst.URL, admin.Token, out[0].Attachments[0].FileID); code != 200 || !bytes.Equal(body, photo) || h.Get("Content-Type") != "image/png" {
		t.Fatalf("operator's own file: %d %q", code, h.Get("Content-Type"))
	}

	// Active content is never served inline: an uploaded HTML page downloads as bytes.
	code, raw = upload(t, admin, d.ID, "page.html", "text/html", []byte("<html><script>alert(1)</script></html>"), "")
	var page store.Message
	if code != http.StatusCreated || json.Unmarshal(raw, &page) != nil || len(page.Attachments) != 1 {
		t.Fatalf("upload html: %d %s", code, raw)
	}
	code, h, _ := getFile(t, inst.URL, admin.Token, page.Attachments[0].FileID)
	if code != 200 || h.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
		t.Fatalf("html file served as %d %q %q", code, h.Get("Content-Type"), h.Get("Content-Disposition"))
	}
	apptest.Eventually(t, 10*time.Second, "the html file at the platform", func() bool { return len(fake.Sent()) == 2 })

	for _, size := range []int{70_000, 2 << 20} {
		big := bytes.Repeat([]byte("x"), size)
		if code, raw := upload(t, admin, d.ID, "big.txt", "text/plain", big, ""); code != http.StatusRequestEntityTooLarge {
			t.Fatalf("upload of %d bytes over a 64 KiB cap: %d %s, want 413", size, code, raw)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(fake.Sent()); n != 2 {
		t.Fatalf("platform got %d sends, want only the two accepted files", n)
	}
}

// TestDeleteEditButtonReceipts: deleting a sent reply deletes it on the platform (409 when
// too old); an edited visitor message shows as edited; a button press is stored and
// answered; delivered and read receipts move the reply's status.
func TestDeleteEditButtonReceipts(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)
	d := firstDialog(t, fake, admin, stream, "u-42", 1)
	fake.Reset()

	// Receipts.
	m := reply(t, admin, d.ID, "Choose one", nil)
	waitStatus(t, admin, d.ID, m.ID, "sent", 10*time.Second)
	extID := fake.Sent()[0].ID
	deliver(t, fake, example.NewReceiptUpdate(5001, example.TypeDelivered, "u-42", "", []int64{extID}, time.Now()))
	if got := message(t, admin, d.ID, m.ID); got.Status != "delivered" {
		t.Fatalf("after a delivered receipt: %q", got.Status)
	}
	nextFor(t, stream, "message.updated", m.ID, 5*time.Second)
	deliver(t, fake, example.NewReceiptUpdate(5002, example.TypeRead, "u-42", "", []int64{extID}, time.Now()))
	if got := message(t, admin, d.ID, m.ID); got.Status != "read" {
		t.Fatalf("after a read receipt: %q", got.Status)
	}
	// A late delivered receipt does not move it back.
	deliver(t, fake, example.NewReceiptUpdate(5003, example.TypeDelivered, "u-42", "", []int64{extID}, time.Now()))
	if got := message(t, admin, d.ID, m.ID); got.Status != "read" {
		t.Fatalf("a late delivered receipt moved read back to %q", got.Status)
	}

	// A button press under our message: stored once, answered at the platform.
	press := example.NewButtonUpdate(5004, "press-1", "u-42", "", extID, "yes", time.Now())
	deliver(t, fake, press)
	deliver(t, fake, press) // a platform retry
	apptest.Eventually(t, 10*time.Second, "the press answered", func() bool { return len(fake.Answered()) > 0 })
	if a := fake.Answered(); len(a) != 1 || a[0] != "press-1" {
		t.Fatalf("answered %v, want [press-1]", a)
	}
	buttons := 0
	for _, x := range messages(t, admin, d.ID) {
		if x.Kind == "button" {
			buttons++
			if x.Text != "yes" || x.ReplyTo != strconv.FormatInt(extID, 10) {
				t.Errorf("button message %+v", x)
			}
		}
	}
	if buttons != 1 {
		t.Fatalf("%d button messages stored, want 1", buttons)
	}

	// An edited visitor message keeps its previous text.
	deliver(t, fake, example.NewMessageUpdate(5005, 901, "u-42", "", "Anna", "", "I ordered 3 items", time.Now()))
	edit := example.Update{UpdateID: 5006, Type: example.TypeEdited, Message: &example.Message{
		ID: 901, ChatID: "u-42", From: example.User{ID: "u-42"}, Date: time.Now().Unix(), EditDate: time.Now().Unix(), Text: "I ordered 4 items"}}.Marshal()
	deliver(t, fake, edit)
	var edited store.Message
	for _, x := range messages(t, admin, d.ID) {
		if x.Direction == "in" && strings.HasPrefix(x.Text, "I ordered") {
			edited = x
		}
	}
	if edited.Text != "I ordered 4 items" || edited.EditedAt == nil || len(edited.Edits) != 1 || edited.Edits[0].Text != "I ordered 3 items" {
		t.Fatalf("edited message %+v", edited)
	}
	nextFor(t, stream, "message.updated", edited.ID, 5*time.Second)

	// Delete our reply: DeleteMessage at the platform, the message marked deleted.
	admin.Must(t, "DELETE", apptest.Path("/api/v1/dialogs/%d/messages/%d", d.ID, m.ID), nil, nil)
	if del := fake.Deleted(); len(del) != 1 || del[0] != extID {
		t.Fatalf("platform deleted %v, want [%d]", del, extID)
	}
	if got := message(t, admin, d.ID, m.ID); got.DeletedAt == nil {
		t.Fatalf("deleted message %+v has no deleted_at", got)
	}
	// Deleting the visitor's message is not ours to do.
	if code, body := admin.Call(t, "DELETE", apptest.Path("/api/v1/dialogs/%d/messages/%d", d.ID, edited.ID), nil, nil); code != http.StatusConflict {
		t.Fatalf("deleting a visitor's message: %d %s, want 409", code, body)
	}
	// Too old to delete on the platform: 409 with a message that says why.
	old := reply(t, admin, d.ID, "old one", nil)
	waitStatus(t, admin, d.ID, old.ID, "sent", 10*time.Second)
	fake.MarkOld(fake.Sent()[len(fake.Sent())-1].ID)
	code, body := admin.Call(t, "DELETE", apptest.Path("/api/v1/dialogs/%d/messages/%d", d.ID, old.ID), nil, nil)
	if code != http.StatusConflict || !strings.Contains(string(body), "24 hours") {
		t.Fatalf("deleting a too-old message: %d %s, want 409 saying why", code, body)
	}
}

// TestAttachmentDownloadSSRFGuard: with private addresses allowed only for the platform's
// own network (here the fake on 127.0.0.1, as a self-hosted API server would be), an
// attachment URL pointing at any other private address (127.0.0.2) is refused without a
// connection, and the operator reads why.
func TestAttachmentDownloadSSRFGuard(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{Env: map[string]string{"OMNICHAT_ALLOW_PRIVATE_ADDRESSES": "127.0.0.1/32"}})
	admin := inst.Admin(t)
	fake, _ := exampleChannel(t, inst, admin)
	stream := admin.Stream(t)

	var internalHits atomic.Int32
	internal := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		w.Write([]byte("secret metadata"))
	}))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	internal.Listener.Close()
	internal.Listener = ln
	internal.Start()
	defer internal.Close()

	fake.AddFile("f-ok", "ok.png", "image/png", testPNG(t))
	deliver(t, fake, example.Update{UpdateID: 1, Type: example.TypeMessage, Message: &example.Message{
		ID: 1, ChatID: "u-1", From: example.User{ID: "u-1"}, Date: time.Now().Unix(),
		Attachments: []example.Attachment{
			{Type: "image", FileID: "f-ok"},
			{Type: "file", URL: internal.URL + "/latest/meta-data", Name: "meta.txt"},
		}}}.Marshal())
	stream.Next(t, "dialog.created", 10*time.Second)
	var list struct {
		Dialogs []store.Dialog `json:"dialogs"`
	}
	admin.Must(t, "GET", "/api/v1/dialogs", nil, &list)
	var m store.Message
	apptest.Eventually(t, 15*time.Second, "both downloads settled", func() bool {
		for _, x := range messages(t, admin, list.Dialogs[0].ID) {
			if x.Direction == "in" && len(x.Attachments) == 2 && !x.Attachments[0].Pending && !x.Attachments[1].Pending {
				m = x
				return true
			}
		}
		return false
	})
	if a := m.Attachments[0]; a.FileID == 0 || a.Error != "" {
		t.Errorf("the file from the channel's own API host was not downloaded: %+v", a)
	}
	if a := m.Attachments[1]; a.FileID != 0 || !strings.Contains(a.Error, "not allowed") {
		t.Errorf("a private address was downloaded or the reason is unclear: %+v", a)
	}
	if n := internalHits.Load(); n != 0 {
		t.Fatalf("the private server got %d requests", n)
	}
}
