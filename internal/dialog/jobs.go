package dialog

import (
	"time"

	"github.com/riverqueue/river"

	"github.com/omnichat/omnichat/internal/store"
)

// Job arguments. The workers live in internal/jobs; the arguments live here because the
// service inserts the jobs in the same transaction as the data that needs them.

// SendArgs sends one outbound message through its channel's provider.
type SendArgs struct {
	MessageID int64 `json:"message_id"`
}

func (SendArgs) Kind() string { return "send_message" }

// InsertOpts: sends are retried for about a day; a RetryAfter snoozes.
func (SendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSend, MaxAttempts: 12}
}

// FetchAttachmentsArgs downloads a message's incoming files. The platform's URLs and
// references travel only here, never in the messages table or to a browser.
type FetchAttachmentsArgs struct {
	MessageID   int64              `json:"message_id"`
	ChannelID   int64              `json:"channel_id"`
	Attachments []store.Attachment `json:"attachments"`
	Sources     []FileSource       `json:"sources"`
}

// FileSource is where attachment i comes from.
type FileSource struct {
	URL string `json:"url,omitempty"`
	Ref string `json:"ref,omitempty"`
}

func (FetchAttachmentsArgs) Kind() string { return "fetch_attachments" }
func (FetchAttachmentsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueFetch, MaxAttempts: 6}
}

// FetchUserInfoArgs loads a visitor's names and avatar.
type FetchUserInfoArgs struct {
	VisitorID int64 `json:"visitor_id"`
}

func (FetchUserInfoArgs) Kind() string { return "fetch_user_info" }
func (FetchUserInfoArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueFetch, MaxAttempts: 5,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Hour}}
}

// AnswerButtonArgs acknowledges a button press on platforms that want it.
type AnswerButtonArgs struct {
	ChannelID int64  `json:"channel_id"`
	EventID   string `json:"event_id"`
	UserID    string `json:"user_id"`
	ChatID    string `json:"chat_id"`
	Payload   string `json:"payload"`
}

func (AnswerButtonArgs) Kind() string { return "answer_button" }
func (AnswerButtonArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSend, MaxAttempts: 3}
}

// AssignArgs applies the assignment rules to a new dialog (and sends the offline text).
type AssignArgs struct {
	DialogID int64 `json:"dialog_id"`
}

func (AssignArgs) Kind() string { return "assign_dialog" }
func (AssignArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10}
}

// LinkClientArgs applies auto-add: link the visitor to a client record (by phone) or create one.
type LinkClientArgs struct {
	VisitorID int64 `json:"visitor_id"`
}

func (LinkClientArgs) Kind() string { return "link_client" }
func (LinkClientArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10}
}

// Queues.
const (
	QueueSend  = "send"
	QueueFetch = "fetch"
)

func job(args river.JobArgs) river.InsertManyParams { return river.InsertManyParams{Args: args} }
