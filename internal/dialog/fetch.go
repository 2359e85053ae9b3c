package dialog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/blob"
	"github.com/omnichat/omnichat/internal/fetch"
	"github.com/omnichat/omnichat/internal/pgtext"
	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
)

// MaxDownload caps an incoming attachment.
const MaxDownload = 50 << 20

// FetchAttachments downloads a message's incoming files into blob storage.
func (s *Service) FetchAttachments(ctx context.Context, a FetchAttachmentsArgs, lastAttempt bool) error {
	m, err := store.MessageByID(ctx, s.Store.Pool, a.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	p, ch, chErr := s.providerFor(ctx, a.ChannelID)
	var ae *apperr.Error
	gone := errors.As(chErr, &ae) && ae.Code == apperr.NotFound
	if chErr != nil && !gone && !lastAttempt {
		return fmt.Errorf("fetch attachments of message %d: open channel: %w", m.ID, chErr)
	}
	atts := m.Attachments
	var retry error
	for i := range atts {
		if i >= len(a.Sources) || !atts[i].Pending {
			continue
		}
		if chErr != nil {
			// Without the channel nothing can be downloaded: settle rather than spin forever.
			atts[i].Pending, atts[i].Error = false, "the file could not be downloaded: the channel is gone"
			continue
		}
		f, err := s.download(ctx, p, ch, a.Sources[i], atts[i])
		switch {
		case err == nil:
			atts[i].FileID, atts[i].Size, atts[i].MIME, atts[i].Pending = f.ID, f.Size, f.MIME, false
			if atts[i].Name == "" {
				atts[i].Name = f.Name
			}
		case permanentDownload(err) || lastAttempt:
			atts[i].Pending, atts[i].Error = false, downloadReason(err)
			s.Log.Info("attachment download failed", "message", m.ID, "err", err)
		default:
			retry = err
		}
	}
	err = s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.SetAttachments(ctx, tx, m.ID, atts); err != nil {
			return err
		}
		ev, err := messageEvent(ctx, tx, "message.updated", m.DialogID, m.ID)
		if err != nil {
			return err
		}
		return push.Notify(ctx, tx, ev)
	})
	if err != nil {
		return err
	}
	return retry
}

func permanentDownload(err error) bool {
	var se *fetch.StatusError
	return errors.Is(err, blob.ErrTooLarge) || errors.Is(err, fetch.ErrBlocked) || providers.IsPermanent(err) ||
		(errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != http.StatusTooManyRequests)
}

func downloadReason(err error) string {
	switch {
	case errors.Is(err, blob.ErrTooLarge):
		return "the file is larger than omnichat accepts"
	case errors.Is(err, fetch.ErrBlocked):
		return "the file's address is not allowed"
	}
	return "the file could not be downloaded"
}

func (s *Service) download(ctx context.Context, p providers.Provider, ch providers.Channel, src FileSource, a store.Attachment) (store.File, error) {
	dl := providers.Download{URL: src.URL}
	if src.Ref != "" {
		r, ok := p.(providers.FileResolver)
		if !ok {
			return store.File{}, providers.Permanent("the provider cannot resolve file references", nil)
		}
		var err error
		if dl, err = r.ResolveFile(ctx, ch, src.Ref); err != nil {
			return store.File{}, err
		}
	}
	return s.saveURL(ctx, ch, dl.URL, dl.Header, a.Name, a.MIME)
}

// saveURL downloads url into blob storage and records the file. The URL may carry a
// credential: it is neither stored nor logged.
func (s *Service) saveURL(ctx context.Context, ch providers.Channel, url string, header http.Header, name, mimeType string) (store.File, error) {
	res, err := s.Fetch.Get(ctx, url, header, ch.Settings["api_url"])
	if err != nil {
		return store.File{}, err
	}
	defer res.Body.Close()
	br := bufio.NewReaderSize(res.Body, 512)
	head, _ := br.Peek(512)
	sniffed := http.DetectContentType(head)
	mt := mimeType
	if mt == "" || mt == "application/octet-stream" {
		mt = res.ContentType
	}
	if base, _, err := mime.ParseMediaType(mt); err != nil || base == "" || base == "application/octet-stream" {
		mt = sniffed
	}
	if name == "" {
		name = pgtext.Clean(res.Name) // a platform's Content-Disposition header
	}
	if name == "" {
		name = "file" + extFor(mt)
	}
	key, size, err := s.Blob.Put(ctx, io.Reader(br), MaxDownload)
	if err != nil {
		return store.File{}, err
	}
	f := store.File{Key: key, Name: path.Base(name), MIME: pgtext.Clean(mt), Size: size}
	if err := store.CreateFile(ctx, s.Store.Pool, &f); err != nil {
		return f, err
	}
	return f, nil
}

func extFor(mt string) string {
	base, _, _ := mime.ParseMediaType(mt)
	switch base {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/webp":
		return ".webp"
	case "audio/ogg":
		return ".ogg"
	case "video/mp4":
		return ".mp4"
	case "application/pdf":
		return ".pdf"
	}
	if exts, _ := mime.ExtensionsByType(base); len(exts) > 0 {
		return exts[0]
	}
	return ""
}

// FetchUserInfo loads a visitor's names and avatar from the platform. It fills what is empty
// and refreshes what came from the platform before; it never replaces a name the visitor
// typed (the widget's pre-chat form) or one corrected since.
func (s *Service) FetchUserInfo(ctx context.Context, visitorID int64) error {
	v, err := store.VisitorByID(ctx, s.Store.Pool, visitorID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	p, ch, err := s.providerFor(ctx, v.ChannelID)
	if err != nil {
		return err
	}
	info, err := p.GetUserInfo(ctx, ch, v.ExternalID)
	if errors.Is(err, providers.ErrUnsupported) || providers.IsPermanent(err) {
		return store.SetVisitorPlatformInfo(ctx, s.Store.Pool, v.ID, "", "", "", "", nil)
	}
	if err != nil {
		return fmt.Errorf("get user info: %w", err)
	}
	cleanUserInfo(&info)
	var avatar *int64
	if info.AvatarURL != "" && v.AvatarFileID == nil {
		f, err := s.saveURL(ctx, ch, info.AvatarURL, info.AvatarHeader, "avatar", "")
		if err == nil && strings.HasPrefix(f.MIME, "image/") {
			avatar = &f.ID
		} else if err != nil {
			s.Log.Info("avatar download failed", "visitor", v.ID, "err", err)
		}
	}
	phone := NormalizePhone(info.Phone, s.PhoneRegion)
	return s.Store.Tx(ctx, func(tx pgx.Tx) error {
		// Names the platform gave before are refreshed; a name typed into a pre-chat form or
		// corrected by hand is kept, and an empty answer blanks nothing.
		if err := store.SetVisitorPlatformInfo(ctx, tx, v.ID, info.FirstName, info.LastName, info.Username, phone, avatar); err != nil {
			return err
		}
		// Addressed through the visitor's open dialogs: an event without a dialog reaches
		// only admins.
		ds, err := store.VisitorOpenDialogs(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		evs := []push.Event{{Kind: "visitor.updated", VisitorID: v.ID}}
		if len(ds) > 0 {
			evs = evs[:0]
			for _, d := range ds {
				evs = append(evs, push.ForDialog("visitor.updated", d, 0))
			}
		}
		return push.Notify(ctx, tx, evs...)
	})
}

// AnswerButton acknowledges a button press on platforms that want it.
func (s *Service) AnswerButton(ctx context.Context, a AnswerButtonArgs) error {
	p, ch, err := s.providerFor(ctx, a.ChannelID)
	if err != nil {
		return err
	}
	ba, ok := p.(providers.ButtonAnswerer)
	if !ok {
		return nil
	}
	err = ba.AnswerButton(ctx, ch, providers.Event{Kind: providers.EventButton, ExternalID: a.EventID, UserID: a.UserID, ChatID: a.ChatID, Payload: a.Payload})
	if providers.IsPermanent(err) {
		return nil // too late to answer: the platform has given up on it
	}
	return err
}
