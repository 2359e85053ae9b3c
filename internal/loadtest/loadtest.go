// Package loadtest fires realistic, signed example-provider webhooks at an omnichat server at
// a fixed rate, keeps an operator's SSE stream open, and reports what the platform and the
// operator would see: accepted webhooks per second, webhook latency, webhook→SSE latency, and
// whether every message was stored exactly once. `omnichat loadtest` and the Go benchmarks
// use it.
package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/example"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// Config is one load run.
type Config struct {
	URL      string // the server's base URL, e.g. http://127.0.0.1:8080
	Email    string // an admin: signs in, creates the channel, opens the stream
	Password string

	// ChannelID and Secret name an existing example channel. Without them Run starts a
	// built-in fake platform and creates a channel against it.
	ChannelID int64
	Secret    string

	Rate        int           // webhooks per second
	Duration    time.Duration // how long to send
	Concurrency int           // webhooks in flight at most
	Users       int           // distinct visitors the messages come from

	// DatabaseURL (the server's database) lets Run map stored messages back to the webhooks
	// that carried them: exactly-once verification and webhook→SSE latency need it.
	DatabaseURL string
	// SSEWait is how long to wait for the last events after sending ends.
	SSEWait time.Duration
}

// Result is what a run measured.
type Result struct {
	Sent, Accepted, Failed int
	Elapsed                time.Duration
	AcceptedPerSec         float64
	WebhookP50, WebhookP99 time.Duration
	WebhookMax             time.Duration
	// SSE latency covers the messages whose event arrived; SSEMissing counts the rest.
	SSEP50, SSEP99 time.Duration
	SSESeen        int
	SSEMissing     int
	// Verified is false when no database was given; then the fields below are zero.
	Verified         bool
	Stored           int // messages of this run found in the database
	Lost             int // accepted webhooks without a stored message
	Duplicated       int // external ids stored more than once
	ExactlyOnce      bool
	FirstErrors      []string
	sendStart        map[string]time.Time // external id → when its webhook was sent
	mu               sync.Mutex
	webhookLatencies []time.Duration
	bySecond         [][]time.Duration // webhook latencies by the second of the run they were sent in
	// WebhookP99BySecond is the webhook p99 of each second of the run (where a tail comes from).
	WebhookP99BySecond    []time.Duration
	sseByMessageID        map[int64]time.Time
	sseEvents, sseDropped atomic.Int64
}

// Print writes the result the way `omnichat loadtest` shows it.
func (r *Result) Print(w io.Writer, cfg Config) {
	fmt.Fprintf(w, "rate %d/s for %s, concurrency %d, %d visitors\n", cfg.Rate, cfg.Duration, cfg.Concurrency, cfg.Users)
	fmt.Fprintf(w, "sent %d, accepted %d, failed %d in %s: %.0f accepted/s\n", r.Sent, r.Accepted, r.Failed, r.Elapsed.Round(time.Millisecond), r.AcceptedPerSec)
	fmt.Fprintf(w, "webhook latency   p50 %s  p99 %s  max %s\n", ms(r.WebhookP50), ms(r.WebhookP99), ms(r.WebhookMax))
	if len(r.WebhookP99BySecond) > 1 {
		fmt.Fprint(w, "webhook p99 by second sent:")
		for _, d := range r.WebhookP99BySecond {
			fmt.Fprintf(w, " %s", ms(d))
		}
		fmt.Fprintln(w)
	}
	if r.Verified {
		fmt.Fprintf(w, "webhook→SSE       p50 %s  p99 %s  (%d events seen, %d missing)\n", ms(r.SSEP50), ms(r.SSEP99), r.SSESeen, r.SSEMissing)
		verdict := "yes"
		if !r.ExactlyOnce {
			verdict = "NO"
		}
		fmt.Fprintf(w, "stored exactly once: %s (stored %d, lost %d, duplicated %d)\n", verdict, r.Stored, r.Lost, r.Duplicated)
	} else {
		fmt.Fprintf(w, "webhook→SSE and exactly-once: not measured (no database URL; %d SSE events seen)\n", r.sseEvents.Load())
	}
	for _, e := range r.FirstErrors {
		fmt.Fprintln(w, "error:", e)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// Run signs in, prepares the channel, opens the stream, sends for cfg.Duration, and verifies.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Rate <= 0 || cfg.Duration <= 0 {
		return nil, errors.New("loadtest: rate and duration must be positive")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Users <= 0 {
		cfg.Users = 200
	}
	if cfg.SSEWait <= 0 {
		cfg.SSEWait = 5 * time.Second
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: cfg.Concurrency * 2, MaxIdleConnsPerHost: cfg.Concurrency * 2, IdleConnTimeout: time.Minute,
	}}
	token, err := signIn(ctx, client, cfg)
	if err != nil {
		return nil, err
	}
	webhookURL := fmt.Sprintf("%s/webhooks/%d", cfg.URL, cfg.ChannelID)
	if cfg.ChannelID == 0 {
		fake := exampletest.NewServer()
		defer fake.Close()
		id, err := createChannel(ctx, client, cfg.URL, token, fake)
		if err != nil {
			return nil, err
		}
		cfg.ChannelID = id
		deadline := time.Now().Add(15 * time.Second)
		for fake.Webhook().URL == "" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		wh := fake.Webhook()
		if wh.URL == "" {
			return nil, errors.New("loadtest: the server never registered the channel's webhook at the fake platform")
		}
		webhookURL, cfg.Secret = wh.URL, wh.Secret
	}
	if cfg.Secret == "" {
		return nil, errors.New("loadtest: an existing channel needs its webhook secret (--secret)")
	}

	res := &Result{sendStart: map[string]time.Time{}, sseByMessageID: map[int64]time.Time{}}
	streamCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	streamReady := make(chan error, 1)
	go res.readStream(streamCtx, cfg.URL, token, streamReady)
	select {
	case err := <-streamReady:
		if err != nil {
			return nil, err
		}
	case <-time.After(10 * time.Second):
		return nil, errors.New("loadtest: the SSE stream did not say hello in 10s")
	}

	runID := time.Now().UnixMicro() // message ids unique across runs on one channel
	res.send(ctx, client, cfg, webhookURL, runID)

	if cfg.DatabaseURL != "" {
		// Give the stream a moment for the last events, then verify.
		deadline := time.Now().Add(cfg.SSEWait)
		for time.Now().Before(deadline) && res.sseEvents.Load() < int64(res.Accepted) {
			time.Sleep(20 * time.Millisecond)
		}
		stopStream()
		if err := res.verify(ctx, cfg); err != nil {
			return res, err
		}
	}
	stopStream()
	return res, nil
}

// send fires cfg.Rate webhooks a second for cfg.Duration from cfg.Concurrency workers. The
// schedule is open-loop: when every worker is busy the schedule slips, and accepted/s shows it.
func (r *Result) send(ctx context.Context, client *http.Client, cfg Config, webhookURL string, runID int64) {
	type job struct {
		seq  int
		body []byte
		ext  string
	}
	jobs := make(chan job, cfg.Concurrency)
	var wg sync.WaitGroup
	begin := time.Now()
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				start := time.Now()
				r.mu.Lock()
				r.sendStart[j.ext] = start
				r.mu.Unlock()
				err := post(ctx, client, webhookURL, cfg.Secret, j.body)
				lat := time.Since(start)
				r.mu.Lock()
				if err != nil {
					r.Failed++
					if len(r.FirstErrors) < 5 {
						r.FirstErrors = append(r.FirstErrors, err.Error())
					}
				} else {
					r.Accepted++
					r.webhookLatencies = append(r.webhookLatencies, lat)
					sec := int(start.Sub(begin) / time.Second)
					for len(r.bySecond) <= sec {
						r.bySecond = append(r.bySecond, nil)
					}
					r.bySecond[sec] = append(r.bySecond[sec], lat)
				}
				r.mu.Unlock()
			}
		}()
	}
	total := int(int64(cfg.Rate) * int64(cfg.Duration) / int64(time.Second))
	interval := time.Second / time.Duration(cfg.Rate)
	begin = time.Now()
	for seq := 0; seq < total && ctx.Err() == nil; seq++ {
		if wait := time.Until(begin.Add(time.Duration(seq) * interval)); wait > time.Millisecond {
			time.Sleep(wait)
		}
		msgID := runID + int64(seq)
		user := fmt.Sprintf("lt-%d-%d", runID, seq%cfg.Users)
		body := example.NewMessageUpdate(msgID, msgID, user, "", "Load", strconv.Itoa(seq%cfg.Users),
			"load test message "+strconv.Itoa(seq), time.Now())
		jobs <- job{seq: seq, body: body, ext: strconv.FormatInt(msgID, 10)}
		r.Sent++
	}
	close(jobs)
	wg.Wait()
	r.Elapsed = time.Since(begin)
	r.AcceptedPerSec = float64(r.Accepted) / r.Elapsed.Seconds()
	slices.Sort(r.webhookLatencies)
	r.WebhookP50, r.WebhookP99 = pct(r.webhookLatencies, 50), pct(r.webhookLatencies, 99)
	if n := len(r.webhookLatencies); n > 0 {
		r.WebhookMax = r.webhookLatencies[n-1]
	}
	for _, l := range r.bySecond {
		slices.Sort(l)
		r.WebhookP99BySecond = append(r.WebhookP99BySecond, pct(l, 99))
	}
}

func post(ctx context.Context, client *http.Client, url, secret string, body []byte) error {
	req, err := example.NewWebhookRequest(ctx, url, secret, body)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	return nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	if i > 0 {
		i--
	}
	return sorted[i]
}

// readStream keeps /api/v1/stream open and notes when each message's event arrived.
func (r *Result) readStream(ctx context.Context, base, token string, ready chan<- error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/stream", nil)
	if err != nil {
		ready <- err
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ready <- fmt.Errorf("loadtest: open stream: %w", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		ready <- fmt.Errorf("loadtest: open stream: HTTP %d", resp.StatusCode)
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var kind string
	said := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			kind = strings.TrimSpace(line[len("event:"):])
			if !said && kind == "hello" {
				said = true
				ready <- nil
			}
		case strings.HasPrefix(line, "data:") && (kind == "dialog.created" || kind == "message.created"):
			now := time.Now()
			var ev struct {
				MessageID int64 `json:"m"`
			}
			if json.Unmarshal([]byte(strings.TrimSpace(line[len("data:"):])), &ev) == nil && ev.MessageID != 0 {
				r.mu.Lock()
				if _, seen := r.sseByMessageID[ev.MessageID]; !seen {
					r.sseByMessageID[ev.MessageID] = now
				}
				r.mu.Unlock()
				r.sseEvents.Add(1)
			}
		case strings.HasPrefix(line, "data:") && kind == "resync":
			r.sseDropped.Add(1)
		}
	}
	if !said {
		ready <- errors.New("loadtest: the stream ended before its hello")
	}
}

// verify maps this run's stored messages back to their webhooks through the database.
func (r *Result) verify(ctx context.Context, cfg Config) error {
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("loadtest: verify: connect: %w", err)
	}
	defer conn.Close(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.sendStart))
	for ext := range r.sendStart {
		ids = append(ids, ext)
	}
	stored, err := store.InboundByExternalID(ctx, conn, cfg.ChannelID, ids)
	if err != nil {
		return fmt.Errorf("loadtest: verify: %w", err)
	}
	count := map[string]int{}
	var sse []time.Duration
	for id, ext := range stored {
		count[ext]++
		r.Stored++
		if at, ok := r.sseByMessageID[id]; ok {
			sse = append(sse, at.Sub(r.sendStart[ext]))
		} else {
			r.SSEMissing++
		}
	}
	// An accepted webhook must be stored; a failed one may or may not be (the platform
	// would retry it), so only accepted ones count as lost.
	accepted := r.Accepted
	for _, n := range count {
		if n > 1 {
			r.Duplicated++
		}
	}
	if missing := accepted - len(count); missing > 0 {
		r.Lost = missing
	}
	r.Verified = true
	r.ExactlyOnce = r.Lost == 0 && r.Duplicated == 0 && r.Failed == 0
	slices.Sort(sse)
	r.SSESeen = len(sse)
	r.SSEP50, r.SSEP99 = pct(sse, 50), pct(sse, 99)
	return nil
}

func signIn(ctx context.Context, client *http.Client, cfg Config) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	if err := callJSON(ctx, client, "POST", cfg.URL+"/api/v1/session", "", map[string]string{"email": cfg.Email, "password": cfg.Password}, &out); err != nil {
		return "", fmt.Errorf("loadtest: sign in as %s: %w", cfg.Email, err)
	}
	return out.Token, nil
}

func createChannel(ctx context.Context, client *http.Client, base, token string, fake *exampletest.Server) (int64, error) {
	var out struct {
		ID int64 `json:"id"`
	}
	body := map[string]any{"kind": example.Kind, "name": "Load test " + time.Now().Format(time.RFC3339), "settings": fake.Settings()}
	if err := callJSON(ctx, client, "POST", base+"/api/v1/channels", token, body, &out); err != nil {
		return 0, fmt.Errorf("loadtest: create the example channel: %w", err)
	}
	return out.ID, nil
}

func callJSON(ctx context.Context, client *http.Client, method, url, token string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	return json.Unmarshal(raw, out)
}
