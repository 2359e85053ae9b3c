package app

import (
	"context"
	"errors"

	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/widget"
)

// visitorPublisher delivers the widget provider's notices to the visitor's streams on
// every instance (NOTIFY, like every other realtime event).
type visitorPublisher struct{ st *store.Store }

func (p visitorPublisher) Publish(ctx context.Context, ch providers.Channel, visitor string, n widget.Notice) error {
	v, err := store.VisitorByExternal(ctx, p.st.Pool, ch.ID, visitor)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return providers.Permanent("the visitor is unknown", err)
		}
		return err
	}
	kind := "message.created"
	if n.Kind == "deleted" {
		kind = "message.updated"
	}
	return push.Notify(ctx, p.st.Pool, push.Event{Kind: kind, VisitorID: v.ID, MessageID: n.MessageID})
}
