package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/blob"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
)

type dialogList struct {
	Dialogs []store.Dialog `json:"dialogs"`
	// Next is the cursor for the following page ("" at the end).
	Next string `json:"next"`
}

// listDialogs: ?status=open|closed &assigned=me|none &channel= &q= &cursor= &limit=
func (s *Server) listDialogs(c echo.Context) error {
	id := identity(c)
	f := store.DialogFilter{Status: c.QueryParam("status"), Assigned: c.QueryParam("assigned"), UserID: id.User.ID, Query: c.QueryParam("q")}
	if f.Status != "" && f.Status != "open" && f.Status != "closed" {
		return invalid("status must be open or closed")
	}
	if f.Assigned != "" && f.Assigned != "me" && f.Assigned != "none" {
		return invalid("assigned must be me or none")
	}
	if !id.Admin() {
		f.Viewer = &id.User.ID
	}
	if v := c.QueryParam("channel"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return invalid("channel must be a channel id")
		}
		f.ChannelID = n
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return invalid("limit must be 1..200")
		}
		f.Limit = n
	}
	if cur := c.QueryParam("cursor"); cur != "" {
		t, idPart, ok := strings.Cut(cur, "_")
		ns, err1 := strconv.ParseInt(t, 10, 64)
		n, err2 := strconv.ParseInt(idPart, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return invalid("bad cursor")
		}
		f.BeforeTime, f.BeforeID = time.Unix(0, ns), n
	}
	ds, err := store.ListDialogs(c.Request().Context(), s.Store.Pool, f)
	if err != nil {
		return err
	}
	out := dialogList{Dialogs: ds}
	limit := f.Limit
	if limit == 0 {
		limit = 50
	}
	if len(ds) == limit {
		last := ds[len(ds)-1]
		out.Next = strconv.FormatInt(last.LastMessageAt.UnixNano(), 10) + "_" + strconv.FormatInt(last.ID, 10)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getDialog(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	d, err := s.Dialogs.Dialog(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

// listMessages: ?before=<id> (older page, newest first) or ?after=<id> (newer, oldest first).
func (s *Server) listMessages(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := s.Dialogs.Dialog(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	after, _ := strconv.ParseInt(c.QueryParam("after"), 10, 64)
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	ms, err := store.ListMessages(c.Request().Context(), s.Store.Pool, id, before, after, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"messages": ms})
}

type sendBody struct {
	Text    string               `json:"text"`
	Buttons [][]providers.Button `json:"buttons"`
}

// sendMessage takes JSON {"text"} or multipart (file, text) and an optional Idempotency-Key.
func (s *Server) sendMessage(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	a := actor(c)
	req := dialog.SendRequest{IdempotencyKey: c.Request().Header.Get("Idempotency-Key")}
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if strings.HasPrefix(ct, echo.MIMEMultipartForm) {
		d, err := s.Dialogs.Dialog(ctx, a, id)
		if err != nil {
			return err
		}
		if req.IdempotencyKey != "" {
			if m, err := store.MessageByIdempotencyKey(ctx, s.Store.Pool, d.ID, req.IdempotencyKey); err == nil {
				return c.JSON(http.StatusOK, m)
			}
		}
		f, err := s.saveUpload(c, d)
		if err != nil {
			return err
		}
		req.File = f
		req.Text = c.Request().FormValue("text")
	} else {
		if ct != "" && !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
			return echo.NewHTTPError(http.StatusUnsupportedMediaType, "send JSON (Content-Type: application/json) or multipart/form-data with a file")
		}
		b, err := decodeSendJSON(c.Request().Body)
		if err != nil {
			return err
		}
		req.Text, req.Buttons = b.Text, b.Buttons
	}
	m, created, err := s.Dialogs.Send(ctx, a, id, req)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	return c.JSON(status, m)
}

// maxSendJSON caps a JSON reply: dialog.MaxTextLen bytes of text with room for buttons and
// JSON escapes. The route has no body limit of its own (uploads are capped per provider).
const maxSendJSON = 1 << 20

// decodeSendJSON reads a JSON reply {"text", "buttons"}. Fuzzed in fuzz_test.go.
func decodeSendJSON(r io.Reader) (sendBody, error) {
	var b sendBody
	data, err := io.ReadAll(io.LimitReader(r, maxSendJSON+1))
	if err != nil {
		return b, echo.NewHTTPError(http.StatusBadRequest, "could not read the body")
	}
	if len(data) > maxSendJSON {
		return b, apperr.New(apperr.TooLarge, "the request is larger than %d KB", maxSendJSON>>10)
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return b, echo.NewHTTPError(http.StatusBadRequest, "malformed JSON body")
	}
	cleanStrings(&b)
	return b, nil
}

// readUploadForm parses a multipart reply and returns its "file" part: 413 when the file is
// over limit (or the body far over it), 400 when there is no file. Fuzzed in fuzz_test.go.
func readUploadForm(w http.ResponseWriter, r *http.Request, limit int64) (*multipart.FileHeader, error) {
	tooLarge := apperr.New(apperr.TooLarge, "the file is larger than %s allowed for this channel", sizeText(limit))
	r.Body = http.MaxBytesReader(w, r.Body, limit+1<<20)
	// Parts beyond 32 MiB go to temporary files, removed by net/http after the request.
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, invalid("send multipart/form-data with the file in the field \"file\"")
	}
	cleanMultipart(r)
	files := r.MultipartForm.File["file"]
	if len(files) == 0 {
		return nil, invalid("attach the file in the multipart field \"file\"")
	}
	if files[0].Size > limit {
		return nil, tooLarge
	}
	return files[0], nil
}

// sizeText writes a byte count for people: "20 MB", "64 KB".
func sizeText(n int64) string {
	if n >= 1<<20 {
		return strconv.FormatInt(n>>20, 10) + " MB"
	}
	return strconv.FormatInt(max(n>>10, 1), 10) + " KB"
}

// saveUpload stores an operator's file, capped by the provider's limit or the global one.
func (s *Server) saveUpload(c echo.Context, d store.Dialog) (*store.File, error) {
	limit := s.Config.UploadMaxBody
	if p, ok := s.Providers.Get(d.ChannelKind); ok {
		if m := p.SettingsForm().MaxUploadBytes; m > 0 && m < limit {
			limit = m
		}
	}
	fh, err := readUploadForm(c.Response(), c.Request(), limit)
	if err != nil {
		return nil, err
	}
	src, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(src, head)
	mt := http.DetectContentType(head[:n])
	if byExt := mime.TypeByExtension(strings.ToLower(filepath.Ext(fh.Filename))); byExt != "" && (mt == "application/octet-stream" || strings.HasPrefix(mt, "text/plain")) {
		mt = byExt
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	key, size, err := s.Blob.Put(c.Request().Context(), src, limit)
	if errors.Is(err, blob.ErrTooLarge) {
		return nil, apperr.New(apperr.TooLarge, "the file is larger than %s allowed for this channel", sizeText(limit))
	}
	if err != nil {
		return nil, err
	}
	name := filepath.Base(fh.Filename)
	if name == "." || name == "/" || name == "" {
		name = "file"
	}
	f := &store.File{Key: key, Name: name, MIME: mt, Size: size}
	if err := store.CreateFile(c.Request().Context(), s.Store.Pool, f); err != nil {
		return nil, err
	}
	return f, nil
}

func (s *Server) deleteMessage(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	mid, err := idParam(c, "mid")
	if err != nil {
		return err
	}
	if err := s.Dialogs.Delete(c.Request().Context(), actor(c), id, mid); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) retryMessage(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	mid, err := idParam(c, "mid")
	if err != nil {
		return err
	}
	m, err := s.Dialogs.Retry(c.Request().Context(), actor(c), id, mid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

type actionBody struct {
	UserID       int64  `json:"user_id"`
	DepartmentID int64  `json:"department_id"`
	ClientID     int64  `json:"client_id"`
	Comment      string `json:"comment"`
}

// dialogAction handles take, transfer, invite, leave, close and client linking.
func (s *Server) dialogAction(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var b actionBody
	if c.Request().ContentLength != 0 {
		if err := bind(c, &b); err != nil {
			return err
		}
	}
	ctx, a := c.Request().Context(), actor(c)
	switch c.Param("action") {
	case "take":
		err = s.Dialogs.Take(ctx, a, id)
	case "transfer":
		err = s.Dialogs.Transfer(ctx, a, id, b.UserID, b.DepartmentID, b.Comment)
	case "invite":
		err = s.Dialogs.Invite(ctx, a, id, b.UserID)
	case "leave":
		err = s.Dialogs.Leave(ctx, a, id, b.UserID)
	case "close":
		err = s.Dialogs.Close(ctx, a, id)
	case "client":
		err = s.Dialogs.LinkDialogClient(ctx, a, id, b.ClientID)
	default:
		return apperr.New(apperr.NotFound, "no such dialog action")
	}
	if err != nil {
		return err
	}
	d, err := s.Dialogs.Dialog(ctx, a, id)
	if err != nil {
		// After a transfer out of the operator's departments the dialog is no longer visible.
		return c.NoContent(http.StatusNoContent)
	}
	return c.JSON(http.StatusOK, d)
}

// file serves a stored file to a signed-in operator who may see a dialog it belongs to.
// Never inline HTML: active content is served as a download.
func (s *Server) file(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	f, err := store.FileByID(ctx, s.Store.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "file not found")
	}
	if err != nil {
		return err
	}
	a := actor(c)
	if !a.Admin {
		dialogs, err := store.FileDialogs(ctx, s.Store.Pool, id)
		if err != nil {
			return err
		}
		ok := false
		for _, did := range dialogs {
			if _, err := s.Dialogs.Dialog(ctx, a, did); err == nil {
				ok = true
				break
			}
		}
		if !ok {
			return apperr.New(apperr.NotFound, "file not found")
		}
	}
	return s.serveFile(c, f)
}

func (s *Server) serveFile(c echo.Context, f store.File) error {
	r, err := s.Blob.Open(c.Request().Context(), f.Key)
	if errors.Is(err, blob.ErrNotFound) {
		// The row is there but not the bytes (removed, or kept where this instance
		// cannot reach): the file is gone for this request, not a server fault.
		return apperr.New(apperr.NotFound, "file not found")
	}
	if err != nil {
		return err
	}
	defer r.Close()
	h := c.Response().Header()
	ct := f.MIME
	inline := strings.HasPrefix(ct, "image/") && ct != "image/svg+xml" || strings.HasPrefix(ct, "audio/") || strings.HasPrefix(ct, "video/") || ct == "application/pdf"
	disp := "attachment"
	if inline && c.QueryParam("download") == "" {
		disp = "inline"
	} else if !inline {
		ct = "application/octet-stream"
	}
	h.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": f.Name}))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=86400")
	h.Set(echo.HeaderContentLength, strconv.FormatInt(f.Size, 10))
	return c.Stream(http.StatusOK, ct, r)
}
