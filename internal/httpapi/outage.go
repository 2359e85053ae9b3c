package httpapi

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// retryAfter is what a 503 "unavailable" asks a browser, an integration or a platform to
// wait before trying again (Retry-After, in seconds).
const retryAfter = "5"

// outage turns a database outage into one WARN line instead of an ERROR per request: the
// first request that finds the database unavailable logs it and starts a watcher that pings
// the database every second; requests failing meanwhile log nothing; the first good ping
// logs one INFO line and ends the outage, so the next failure is news again.
type outage struct {
	log  *slog.Logger
	ping func(context.Context) error

	down      atomic.Bool
	stopOnce  sync.Once
	stop      chan struct{}
	interval  time.Duration
	pingLimit time.Duration
}

func newOutage(log *slog.Logger, ping func(context.Context) error) *outage {
	return &outage{log: log, ping: ping, stop: make(chan struct{}), interval: time.Second, pingLimit: 2 * time.Second}
}

// failed records a request that found the database unavailable.
func (o *outage) failed(err error) {
	if !o.down.CompareAndSwap(false, true) {
		return
	}
	o.log.Warn("database unavailable: answering 503 with Retry-After until it answers again", "err", err)
	go o.watch()
}

// watch pings until the database answers (or the server closes).
func (o *outage) watch() {
	began := time.Now()
	t := time.NewTicker(o.interval)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), o.pingLimit)
		err := o.ping(ctx)
		cancel()
		if err == nil {
			o.down.Store(false)
			o.log.Info("database available again", "outage_s", int(time.Since(began).Seconds()))
			return
		}
	}
}

// close stops a running watcher.
func (o *outage) close() { o.stopOnce.Do(func() { close(o.stop) }) }
