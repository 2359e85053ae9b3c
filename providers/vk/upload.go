package vk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/omnichat/omnichat/providers"
)

// maxPhotoBytes is VK's limit for photos; bigger images go as documents.
const maxPhotoBytes = 50 << 20

// SendFile implements providers.Provider with VK's upload flow: ask for an upload server,
// POST the file there, save it, then messages.send with the attachment. JPEG and PNG images
// go as photos (shown inline); everything else, GIFs included (a photo would lose the
// animation), as documents. A long caption is split like a text; the file goes with its
// last part. A retried job uploads again but sends once: random_id is derived from our id.
func (p *Provider) SendFile(ctx context.Context, ch providers.Channel, to providers.Recipient, f providers.OutFile) (providers.Sent, error) {
	c, err := channelConfig(ch)
	if err != nil {
		return providers.Sent{}, err
	}
	peer, err := parsePeer(to.Chat())
	if err != nil {
		return providers.Sent{}, err
	}
	if f.Open == nil {
		return providers.Sent{}, providers.Permanent("the file has no content", errors.New("vk: send file: no Open"))
	}
	if f.Size > MaxUploadBytes {
		return providers.Sent{}, providers.Permanent(fmt.Sprintf("the file is bigger than VK's %d MB", MaxUploadBytes>>20), nil)
	}
	parts := splitText(f.Caption, maxTextUnits)
	if len(parts) > maxParts {
		return providers.Sent{}, providers.Permanent("the caption is too long for VK", nil)
	}
	if len(parts) == 0 {
		parts = []string{""}
	}

	var attachment string
	if isPhoto(f) {
		attachment, err = p.uploadPhoto(ctx, c, peer, f)
	} else {
		attachment, err = p.uploadDoc(ctx, c, peer, f)
	}
	if err != nil {
		return providers.Sent{}, err
	}

	var ids []string
	for i, part := range parts {
		params := url.Values{"random_id": {strconv.FormatInt(randomID(f.ID, i), 10)}}
		if part != "" {
			params.Set("message", part)
		}
		if i == len(parts)-1 {
			params.Set("attachment", attachment)
		}
		id, err := p.send(ctx, c, peer, params)
		if err != nil {
			return providers.Sent{}, err
		}
		ids = append(ids, id)
	}
	return sentOf(ids), nil
}

func isPhoto(f providers.OutFile) bool {
	if f.Size > maxPhotoBytes {
		return false
	}
	mt := strings.ToLower(f.MIME)
	if mt == "" {
		mt = mime.TypeByExtension(strings.ToLower(path.Ext(f.Name)))
	}
	if t, _, err := mime.ParseMediaType(mt); err == nil {
		mt = t
	}
	return mt == "image/jpeg" || mt == "image/png"
}

type uploadServer struct {
	UploadURL string `json:"upload_url"`
}

// photoUpload is the upload server's answer for photos; an empty photo list ("[]") means
// VK could not read the image.
type photoUpload struct {
	Server int64  `json:"server"`
	Photo  string `json:"photo"`
	Hash   string `json:"hash"`
	Error  string `json:"error"`
}

type savedObject struct {
	ID        int64  `json:"id"`
	OwnerID   int64  `json:"owner_id"`
	AccessKey string `json:"access_key"`
}

func (o savedObject) attachment(kind string) string {
	s := fmt.Sprintf("%s%d_%d", kind, o.OwnerID, o.ID)
	if o.AccessKey != "" {
		s += "_" + o.AccessKey
	}
	return s
}

func (p *Provider) uploadPhoto(ctx context.Context, c config, peer int64, f providers.OutFile) (string, error) {
	var srv uploadServer
	params := url.Values{"peer_id": {strconv.FormatInt(peer, 10)}}
	if err := p.call(ctx, c, c.groupToken, "photos.getMessagesUploadServer", params, &srv); err != nil {
		return "", fmt.Errorf("vk: send file: %w", classify(err))
	}
	var up photoUpload
	if err := p.upload(ctx, srv.UploadURL, "photo", f, &up); err != nil {
		return "", err
	}
	if up.Error != "" || up.Photo == "" || up.Photo == "[]" {
		return "", providers.Permanent("VK could not read the image", fmt.Errorf("vk: photo upload: %q", up.Error))
	}
	var saved []savedObject
	params = url.Values{"server": {strconv.FormatInt(up.Server, 10)}, "photo": {up.Photo}, "hash": {up.Hash}}
	if err := p.call(ctx, c, c.groupToken, "photos.saveMessagesPhoto", params, &saved); err != nil {
		return "", fmt.Errorf("vk: send file: %w", classify(err))
	}
	if len(saved) == 0 || saved[0].ID == 0 {
		return "", errors.New("vk: send file: photos.saveMessagesPhoto returned no photo")
	}
	return saved[0].attachment("photo"), nil
}

// docUpload is the upload server's answer for documents.
type docUpload struct {
	File       string `json:"file"`
	Error      string `json:"error"`
	ErrorDescr string `json:"error_descr"`
}

// docSaved is docs.save's answer: {"type":"doc","doc":{…}}.
type docSaved struct {
	Type string       `json:"type"`
	Doc  *savedObject `json:"doc"`
}

func (p *Provider) uploadDoc(ctx context.Context, c config, peer int64, f providers.OutFile) (string, error) {
	var srv uploadServer
	params := url.Values{"peer_id": {strconv.FormatInt(peer, 10)}, "type": {"doc"}}
	if err := p.call(ctx, c, c.groupToken, "docs.getMessagesUploadServer", params, &srv); err != nil {
		return "", fmt.Errorf("vk: send file: %w", classify(err))
	}
	var up docUpload
	if err := p.upload(ctx, srv.UploadURL, "file", f, &up); err != nil {
		return "", err
	}
	if up.Error != "" || up.File == "" {
		reason := "VK refused the file"
		if up.ErrorDescr != "" {
			reason += ": " + up.ErrorDescr
		}
		return "", providers.Permanent(reason, fmt.Errorf("vk: document upload: %q", up.Error))
	}
	var saved docSaved
	params = url.Values{"file": {up.File}, "title": {fileName(f)}}
	if err := p.call(ctx, c, c.groupToken, "docs.save", params, &saved); err != nil {
		return "", fmt.Errorf("vk: send file: %w", classify(err))
	}
	if saved.Doc == nil || saved.Doc.ID == 0 {
		return "", errors.New("vk: send file: docs.save returned no document")
	}
	return saved.Doc.attachment("doc"), nil
}

// fileName is the name VK sees. VK decides a document's type by its extension, so a name
// without one gets it from the MIME type.
func fileName(f providers.OutFile) string {
	name := strings.TrimSpace(path.Base(strings.ReplaceAll(f.Name, "\\", "/")))
	if name == "" || name == "." || name == "/" {
		name = "file"
	}
	if path.Ext(name) == "" {
		if exts, _ := mime.ExtensionsByType(f.MIME); len(exts) > 0 {
			name += exts[0]
		}
	}
	return name
}

// upload POSTs the file as multipart form field `field` to VK's upload server and decodes
// its JSON answer. The body is streamed (header, file, trailer) with a known length when the
// size is known, so a 200 MB document is not held in memory; without a size it is read
// (up to the limit) to learn it. The upload URL comes from VK and carries its own
// credentials; our token is never sent there.
func (p *Provider) upload(ctx context.Context, uploadURL, field string, f providers.OutFile, out any) error {
	u, err := url.Parse(uploadURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("vk: upload: VK returned no usable upload_url")
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("vk: upload: open file: %w", err)
	}
	defer rc.Close()

	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, fileName(f)))
	ct := f.MIME
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	if _, err := mw.CreatePart(h); err != nil {
		return fmt.Errorf("vk: upload: %w", err)
	}
	header := append([]byte(nil), head.Bytes()...)
	head.Reset()
	if err := mw.Close(); err != nil {
		return fmt.Errorf("vk: upload: %w", err)
	}
	trailer := head.Bytes()

	var content io.Reader = rc
	size := f.Size
	if size <= 0 {
		data, err := io.ReadAll(io.LimitReader(rc, MaxUploadBytes+1))
		if err != nil {
			return fmt.Errorf("vk: upload: read file: %w", err)
		}
		if len(data) > MaxUploadBytes {
			return providers.Permanent(fmt.Sprintf("the file is bigger than VK's %d MB", MaxUploadBytes>>20), nil)
		}
		content, size = bytes.NewReader(data), int64(len(data))
	}
	body := io.MultiReader(bytes.NewReader(header), io.LimitReader(content, size), bytes.NewReader(trailer))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uploadURL, body)
	if err != nil {
		return fmt.Errorf("vk: upload: build request: %w", err)
	}
	req.ContentLength = int64(len(header)) + size + int64(len(trailer))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := p.uploadClient.Do(req)
	if err != nil {
		// *url.Error carries the upload URL, whose query holds VK's one-off upload
		// credentials: keep only scheme, host and path in the error.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = u.Scheme + "://" + u.Host + u.Path
		}
		return fmt.Errorf("vk: upload: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("vk: upload: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return classify(&HTTPError{Op: "upload", Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header)})
	}
	// Upload servers have answered JSON as text/html before: read it whatever the type says.
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("vk: upload: answer is not JSON: %w", err)
	}
	return nil
}
