package dialog

import (
	"context"
	"fmt"
	"time"

	"github.com/omnichat/omnichat/internal/store"
)

// UploadMaxAge is how long a widget upload may wait to be sent with a message.
const UploadMaxAge = 24 * time.Hour

// PruneUploads removes widget uploads older than older that no message needs (a visitor
// attached a file and never sent it, or the download gave up): the blob first, then its
// row, so a failure leaves the row to be tried again at the next run. It returns how many
// were removed.
func (s *Service) PruneUploads(ctx context.Context, older time.Duration) (int, error) {
	n := 0
	for {
		refs, err := store.StaleWidgetUploads(ctx, s.Store.Pool, older, 500)
		if err != nil {
			return n, err
		}
		for _, ref := range refs {
			if err := s.Blob.Delete(ctx, ref); err != nil {
				return n, fmt.Errorf("prune upload %s: %w", ref, err)
			}
			if err := store.DeleteWidgetUpload(ctx, s.Store.Pool, ref); err != nil {
				return n, err
			}
			n++
		}
		if len(refs) < 500 {
			return n, nil
		}
	}
}
