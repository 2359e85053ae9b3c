// Package push delivers realtime notifications to operators: committed changes are
// announced with PostgreSQL NOTIFY, every instance LISTENs and fans them out to its
// subscribers (SSE streams, or comet-server.ru) by what each operator may see.
package push

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/omnichat/omnichat/internal/store"
)

// Channel is the PostgreSQL notification channel.
const Channel = "omnichat"

// Event is a small hint that something changed; clients refetch the data through the API.
// A notification is never the only copy of anything.
type Event struct {
	Kind         string  `json:"k"`           // message.created, message.updated, dialog.created, dialog.updated, operator.updated, resync
	DialogID     int64   `json:"d,omitempty"` //
	MessageID    int64   `json:"m,omitempty"`
	DepartmentID *int64  `json:"dep,omitempty"`
	AssigneeID   *int64  `json:"a,omitempty"`
	Participants []int64 `json:"p,omitempty"`
	UserID       int64   `json:"u,omitempty"` // for operator.* events, and events meant for one user
	// Visitor-facing events (the widget's stream) are addressed by visitor id.
	VisitorID int64 `json:"v,omitempty"`
}

// Notify sends events with pg_notify on db (inside the caller's transaction they are
// delivered at commit, and dropped on rollback).
func Notify(ctx context.Context, db store.DB, evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	payloads := make([]string, len(evs))
	for i, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("marshal push event: %w", err)
		}
		payloads[i] = string(b)
	}
	return store.Notify(ctx, db, Channel, payloads)
}

// ForDialog builds an event about dialog d.
func ForDialog(kind string, d store.Dialog, messageID int64) Event {
	return Event{Kind: kind, DialogID: d.ID, MessageID: messageID, DepartmentID: d.DepartmentID, AssigneeID: d.AssigneeID, Participants: d.Participants, VisitorID: d.VisitorID}
}
