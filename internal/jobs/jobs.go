// Package jobs holds the River workers: thin adapters from a job to the dialog service,
// and the periodic jobs (auto-close sweep, queue dispatch safety net, housekeeping).
package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/store"
)

// Workers registers every worker for svc.
func Workers(svc *dialog.Service) *river.Workers {
	w := river.NewWorkers()
	river.AddWorker(w, &sendWorker{svc: svc})
	river.AddWorker(w, &fetchAttachmentsWorker{svc: svc})
	river.AddWorker(w, &fetchUserInfoWorker{svc: svc})
	river.AddWorker(w, &answerButtonWorker{svc: svc})
	river.AddWorker(w, &assignWorker{svc: svc})
	river.AddWorker(w, &dispatchWorker{svc: svc})
	river.AddWorker(w, &autoCloseWorker{svc: svc})
	river.AddWorker(w, &linkClientWorker{svc: svc})
	river.AddWorker(w, &housekeepingWorker{svc: svc})
	river.AddWorker(w, &pruneUploadsWorker{svc: svc})
	return w
}

// Periodic lists the periodic jobs; River's leader election runs each once across instances.
// uploadMaxAge is how long an unsent widget upload is kept: it is pruned every minute, more
// often when that age is shorter.
func Periodic(uploadMaxAge time.Duration) []*river.PeriodicJob {
	pruneEvery := min(time.Minute, max(time.Second, uploadMaxAge/4))
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(pruneEvery), func() (river.JobArgs, *river.InsertOpts) {
			return PruneUploadsArgs{}, nil
		}, &river.PeriodicJobOpts{RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(time.Minute), func() (river.JobArgs, *river.InsertOpts) {
			return dialog.AutoCloseArgs{}, nil
		}, &river.PeriodicJobOpts{RunOnStart: true}),
		// Safety net: presence can change without an event reaching us (an instance died).
		river.NewPeriodicJob(river.PeriodicInterval(30*time.Second), func() (river.JobArgs, *river.InsertOpts) {
			return dialog.DispatchArgs{}, nil
		}, nil),
		river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
			return HousekeepingArgs{}, nil
		}, &river.PeriodicJobOpts{RunOnStart: true}),
	}
}

// Queues returns the queue configuration for workers concurrent jobs.
func Queues(workers int) map[string]river.QueueConfig {
	return map[string]river.QueueConfig{
		river.QueueDefault: {MaxWorkers: max(2, workers/4)},
		dialog.QueueSend:   {MaxWorkers: max(2, workers/2)},
		dialog.QueueFetch:  {MaxWorkers: max(2, workers/4)},
	}
}

func last[T river.JobArgs](j *river.Job[T]) bool { return j.Attempt >= j.MaxAttempts }

type sendWorker struct {
	river.WorkerDefaults[dialog.SendArgs]
	svc *dialog.Service
}

// sendGiveUp bounds how long a message keeps trying. A snooze (the platform's
// retry-after) does not use up an attempt in River, so a channel that answers 429 forever
// would otherwise keep its messages pending forever.
const sendGiveUp = 24 * time.Hour

func (w *sendWorker) Work(ctx context.Context, j *river.Job[dialog.SendArgs]) error {
	err := w.svc.Deliver(ctx, j.Args.MessageID, last(j) || time.Since(j.CreatedAt) > sendGiveUp)
	var sn *dialog.SnoozeError
	if errors.As(err, &sn) {
		return river.JobSnooze(sn.After)
	}
	return err
}

// NextRetry backs off 1s, 4s, 9s… capped at 10 minutes: a platform outage of a few hours
// is ridden out within MaxAttempts.
func (w *sendWorker) NextRetry(j *river.Job[dialog.SendArgs]) time.Time {
	d := time.Duration(j.Attempt*j.Attempt) * time.Second
	return time.Now().Add(min(d, 10*time.Minute))
}

type fetchAttachmentsWorker struct {
	river.WorkerDefaults[dialog.FetchAttachmentsArgs]
	svc *dialog.Service
}

func (w *fetchAttachmentsWorker) Work(ctx context.Context, j *river.Job[dialog.FetchAttachmentsArgs]) error {
	return w.svc.FetchAttachments(ctx, j.Args, last(j))
}

func (w *fetchAttachmentsWorker) Timeout(*river.Job[dialog.FetchAttachmentsArgs]) time.Duration {
	return 5 * time.Minute
}

type fetchUserInfoWorker struct {
	river.WorkerDefaults[dialog.FetchUserInfoArgs]
	svc *dialog.Service
}

func (w *fetchUserInfoWorker) Work(ctx context.Context, j *river.Job[dialog.FetchUserInfoArgs]) error {
	return w.svc.FetchUserInfo(ctx, j.Args.VisitorID)
}

type answerButtonWorker struct {
	river.WorkerDefaults[dialog.AnswerButtonArgs]
	svc *dialog.Service
}

func (w *answerButtonWorker) Work(ctx context.Context, j *river.Job[dialog.AnswerButtonArgs]) error {
	return w.svc.AnswerButton(ctx, j.Args)
}

type assignWorker struct {
	river.WorkerDefaults[dialog.AssignArgs]
	svc *dialog.Service
}

func (w *assignWorker) Work(ctx context.Context, j *river.Job[dialog.AssignArgs]) error {
	return w.svc.Assign(ctx, j.Args.DialogID)
}

type dispatchWorker struct {
	river.WorkerDefaults[dialog.DispatchArgs]
	svc *dialog.Service
}

func (w *dispatchWorker) Work(ctx context.Context, _ *river.Job[dialog.DispatchArgs]) error {
	return w.svc.Dispatch(ctx)
}

type autoCloseWorker struct {
	river.WorkerDefaults[dialog.AutoCloseArgs]
	svc *dialog.Service
}

func (w *autoCloseWorker) Work(ctx context.Context, _ *river.Job[dialog.AutoCloseArgs]) error {
	_, err := w.svc.AutoClose(ctx)
	return err
}

type linkClientWorker struct {
	river.WorkerDefaults[dialog.LinkClientArgs]
	svc *dialog.Service
}

func (w *linkClientWorker) Work(ctx context.Context, j *river.Job[dialog.LinkClientArgs]) error {
	return w.svc.LinkClient(ctx, j.Args.VisitorID)
}

// HousekeepingArgs prunes old sign-in failures.
type HousekeepingArgs struct{}

func (HousekeepingArgs) Kind() string { return "housekeeping" }

type housekeepingWorker struct {
	river.WorkerDefaults[HousekeepingArgs]
	svc *dialog.Service
}

func (w *housekeepingWorker) Work(ctx context.Context, _ *river.Job[HousekeepingArgs]) error {
	return store.PruneLoginFailures(ctx, w.svc.Store.Pool, 24*time.Hour)
}

// PruneUploadsArgs removes widget uploads never sent with a message (within minutes: they
// are anonymous visitors' files) and the upload budgets' past windows.
type PruneUploadsArgs struct{}

func (PruneUploadsArgs) Kind() string { return "prune_uploads" }

// InsertOpts: a failed run is not retried, the next periodic run does the same work.
func (PruneUploadsArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

type pruneUploadsWorker struct {
	river.WorkerDefaults[PruneUploadsArgs]
	svc *dialog.Service
}

func (w *pruneUploadsWorker) Work(ctx context.Context, _ *river.Job[PruneUploadsArgs]) error {
	n, err := w.svc.PruneUnsentUploads(ctx)
	if n > 0 {
		w.svc.Log.Info("removed unsent widget uploads", "count", n)
	}
	return err
}

// Inserter adapts a River client to dialog.Service.SetQueue.
func Inserter(c *river.Client[pgx.Tx], log *slog.Logger) func(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) error {
	return func(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) error {
		_, err := c.InsertManyTx(ctx, tx, params)
		return err
	}
}
