package push

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnichat/omnichat/internal/store"
)

// Publisher sends realtime hints through a transport other than our own SSE stream
// (docs: ../shared/comet.md). Events are hints: browsers refetch from our API.
type Publisher interface {
	// Pipe broadcasts to everyone subscribed to a pipe.
	Pipe(ctx context.Context, pipe, event string, v any) error
	// User sends to every socket of one user.
	User(ctx context.Context, uid int64, event string, v any) error
	// Auth returns the key a browser signs in to the transport with.
	Auth(uid int64) (string, error)
}

// CometConfig is a comet-server.ru (CppComet) account.
type CometConfig struct {
	DevID  int64  `json:"dev_id"`
	DevKey string `json:"-"`
	// Addr is the CometQL (MySQL protocol) address; default app.comet-server.ru:3306.
	Addr string `json:"addr"`
	// Node is the browser's WebSocket host[:port]; default app.comet-server.ru.
	Node string `json:"node"`
	// TokenTTL is how long a browser's JWT is valid; default 12 h.
	TokenTTL time.Duration `json:"-"`
}

func (c CometConfig) withDefaults() CometConfig {
	if c.Addr == "" {
		c.Addr = "app.comet-server.ru:3306"
	}
	if c.Node == "" {
		c.Node = "app.comet-server.ru"
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = 12 * time.Hour
	}
	return c
}

// Comet publishes with CometQL. comet takes no prepared statements and never unescapes
// string literals, so every query is built here from checked identifiers and a JSON literal
// whose single quotes are written as \u0027 (the recipe in comet.md): nothing the server
// could misparse, and nothing its browser library would drop.
type Comet struct {
	cfg  CometConfig
	mu   sync.Mutex
	conn *cometConn
	// Now is the clock (tests).
	Now func() time.Time
}

// NewComet returns a publisher for cfg. It connects lazily.
func NewComet(cfg CometConfig) *Comet { return &Comet{cfg: cfg.withDefaults(), Now: time.Now} }

var _ Publisher = (*Comet)(nil)

// Config returns the configuration with defaults applied.
func (c *Comet) Config() CometConfig { return c.cfg }

var (
	pipeName  = regexp.MustCompile(`^[A-Za-z0-9_-]{3,64}$`)
	eventName = regexp.MustCompile(`^[A-Za-z0-9_-]{0,64}$`)
)

// maxQuery is comet's limit on a whole query (error 11 beyond it), with a margin.
const maxQuery = 8900

// literal is the JSON of v as a single-quoted CometQL string.
func literal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("comet: marshal: %w", err)
	}
	return "'" + strings.ReplaceAll(string(b), "'", `\u0027`) + "'", nil
}

// UserQuery builds the INSERT for one user's private messages.
func UserQuery(uid int64, event string, v any) (string, error) {
	if uid < 1 || uid > 999999999 {
		return "", fmt.Errorf("comet: user id %d out of range", uid)
	}
	if !eventName.MatchString(event) {
		return "", fmt.Errorf("comet: bad event name %q", event)
	}
	lit, err := literal(v)
	if err != nil {
		return "", err
	}
	q := "INSERT INTO users_messages (id, event, message) VALUES (" + strconv.FormatInt(uid, 10) + ", '" + event + "', " + lit + ")"
	if len(q) > maxQuery {
		return "", fmt.Errorf("comet: message too long (%d bytes)", len(q))
	}
	return q, nil
}

// PipeQuery builds the INSERT for a pipe.
func PipeQuery(pipe, event string, v any) (string, error) {
	if !pipeName.MatchString(pipe) {
		return "", fmt.Errorf("comet: bad pipe name %q", pipe)
	}
	if !eventName.MatchString(event) {
		return "", fmt.Errorf("comet: bad event name %q", event)
	}
	lit, err := literal(v)
	if err != nil {
		return "", err
	}
	q := "INSERT INTO pipes_messages (name, event, message) VALUES ('" + pipe + "', '" + event + "', " + lit + ")"
	if len(q) > maxQuery {
		return "", fmt.Errorf("comet: message too long (%d bytes)", len(q))
	}
	return q, nil
}

// Pipe implements Publisher.
func (c *Comet) Pipe(ctx context.Context, pipe, event string, v any) error {
	q, err := PipeQuery(pipe, event, v)
	if err != nil {
		return err
	}
	return c.exec(ctx, q)
}

// User implements Publisher.
func (c *Comet) User(ctx context.Context, uid int64, event string, v any) error {
	q, err := UserQuery(uid, event, v)
	if err != nil {
		return err
	}
	return c.exec(ctx, q)
}

// Auth implements Publisher: an HS256 JWT keyed with the Dev KEY followed by the Dev ID in
// decimal, {"user_id":<uid>,"exp":<unix>}; comet checks it without a round trip.
func (c *Comet) Auth(uid int64) (string, error) {
	if uid < 1 || uid > 999999999 {
		return "", fmt.Errorf("comet: user id %d out of range", uid)
	}
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body := enc.EncodeToString([]byte(fmt.Sprintf(`{"user_id":%d,"exp":%d}`, uid, c.Now().Add(c.cfg.TokenTTL).Unix())))
	m := hmac.New(sha256.New, []byte(c.cfg.DevKey+strconv.FormatInt(c.cfg.DevID, 10)))
	m.Write([]byte(head + "." + body))
	return head + "." + body + "." + enc.EncodeToString(m.Sum(nil)), nil
}

// exec runs one query, reconnecting once when the pooled connection turned out dead.
func (c *Comet) exec(ctx context.Context, q string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if c.conn == nil {
			conn, err := dialComet(ctx, c.cfg)
			if err != nil {
				return err
			}
			c.conn = conn
		}
		err := c.conn.query(ctx, q)
		if err == nil {
			return nil
		}
		var se *CometError
		if errors.As(err, &se) {
			return err // the server answered: the connection is fine
		}
		c.conn.close()
		c.conn = nil
		if attempt > 0 {
			return err
		}
	}
}

// Close drops the connection.
func (c *Comet) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.close()
		c.conn = nil
	}
}

// PingComet signs in to cfg's CometQL server and disconnects: the admin's "test
// connection". A refused Dev ID or Dev KEY is a *CometError.
func PingComet(ctx context.Context, cfg CometConfig) error {
	c, err := dialComet(ctx, cfg.withDefaults())
	if err != nil {
		return err
	}
	c.close()
	return nil
}

// CometError is an error packet from the server.
type CometError struct {
	Code    uint16
	Message string
}

func (e *CometError) Error() string { return fmt.Sprintf("comet: error %d: %s", e.Code, e.Message) }

// cometConn is the smallest MySQL client comet needs: protocol 41 handshake with
// mysql_native_password (the key never crosses the wire), then COM_QUERY with OK/ERR
// answers. comet offers no TLS, so none is attempted.
type cometConn struct {
	nc  net.Conn
	r   *bufio.Reader
	seq byte
}

const (
	capLongPassword     = 1
	capConnectWithDB    = 8
	capProtocol41       = 512
	capTransactions     = 8192
	capSecureConnection = 32768
	capPluginAuth       = 1 << 19
)

func dialComet(ctx context.Context, cfg CometConfig) (*cometConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("comet: connect %s: %w", cfg.Addr, err)
	}
	c := &cometConn{nc: nc, r: bufio.NewReader(nc)}
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.handshake(cfg); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *cometConn) close() { _ = c.nc.Close() }

func (c *cometConn) readPacket() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return nil, fmt.Errorf("comet: read: %w", err)
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	c.seq = h[3] + 1
	p := make([]byte, n)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return nil, fmt.Errorf("comet: read: %w", err)
	}
	return p, nil
}

func (c *cometConn) writePacket(p []byte) error {
	h := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), c.seq}
	c.seq++
	if _, err := c.nc.Write(append(h, p...)); err != nil {
		return fmt.Errorf("comet: write: %w", err)
	}
	return nil
}

func (c *cometConn) handshake(cfg CometConfig) error {
	p, err := c.readPacket()
	if err != nil {
		return err
	}
	if len(p) > 0 && p[0] == 0xff {
		return parseErr(p)
	}
	// Protocol 10: version, NUL, thread id (4), salt part 1 (8), filler, caps, charset,
	// status, caps high, auth data length, reserved (10), salt part 2.
	if len(p) < 1 || p[0] != 10 {
		return errors.New("comet: unexpected handshake")
	}
	i := 1
	for i < len(p) && p[i] != 0 {
		i++
	}
	i++ // NUL
	i += 4
	if i+8 > len(p) {
		return errors.New("comet: short handshake")
	}
	salt := append([]byte(nil), p[i:i+8]...)
	i += 8 + 1 + 2 + 1 + 2 + 2
	authLen := 0
	if i < len(p) {
		authLen = int(p[i])
	}
	i += 1 + 10
	if i < len(p) {
		n := max(13, authLen-8)
		end := min(i+n, len(p))
		part := p[i:end]
		if k := len(part); k > 0 && part[k-1] == 0 {
			part = part[:k-1]
		}
		salt = append(salt, part...)
	}
	caps := uint32(capLongPassword | capConnectWithDB | capProtocol41 | capTransactions | capSecureConnection | capPluginAuth)
	var out []byte
	out = binary.LittleEndian.AppendUint32(out, caps)
	out = binary.LittleEndian.AppendUint32(out, 1<<24)
	out = append(out, 33) // utf8_general_ci
	out = append(out, make([]byte, 23)...)
	out = append(out, strconv.FormatInt(cfg.DevID, 10)...)
	out = append(out, 0)
	auth := nativePassword(salt, cfg.DevKey)
	out = append(out, byte(len(auth)))
	out = append(out, auth...)
	out = append(out, "CometQL_v1"...)
	out = append(out, 0)
	out = append(out, "mysql_native_password"...)
	out = append(out, 0)
	if err := c.writePacket(out); err != nil {
		return err
	}
	r, err := c.readPacket()
	if err != nil {
		return err
	}
	switch {
	case len(r) > 0 && r[0] == 0x00:
		return nil
	case len(r) > 0 && r[0] == 0xff:
		return parseErr(r)
	default:
		return fmt.Errorf("comet: unexpected answer to the handshake (0x%x)", r[0])
	}
}

// nativePassword is mysql_native_password: SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))).
func nativePassword(salt []byte, pw string) []byte {
	if pw == "" {
		return nil
	}
	h1 := sha1.Sum([]byte(pw))
	h2 := sha1.Sum(h1[:])
	s := sha1.New()
	s.Write(salt)
	s.Write(h2[:])
	h3 := s.Sum(nil)
	for i := range h3 {
		h3[i] ^= h1[i]
	}
	return h3
}

func (c *cometConn) query(ctx context.Context, q string) error {
	dl := time.Now().Add(5 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = c.nc.SetDeadline(dl)
	defer func() { _ = c.nc.SetDeadline(time.Time{}) }()
	c.seq = 0
	if err := c.writePacket(append([]byte{0x03}, q...)); err != nil {
		return err
	}
	p, err := c.readPacket()
	if err != nil {
		return err
	}
	switch {
	case len(p) > 0 && p[0] == 0x00:
		return nil
	case len(p) > 0 && p[0] == 0xff:
		return parseErr(p)
	default:
		// A result set (we never SELECT): drain it until the final EOF/OK.
		for eofs := 0; eofs < 2; {
			p, err = c.readPacket()
			if err != nil {
				return err
			}
			if len(p) > 0 && (p[0] == 0xfe && len(p) < 9) {
				eofs++
			}
			if len(p) > 0 && p[0] == 0xff {
				return parseErr(p)
			}
		}
		return nil
	}
}

func parseErr(p []byte) error {
	e := &CometError{}
	if len(p) >= 3 {
		e.Code = binary.LittleEndian.Uint16(p[1:3])
	}
	msg := p[min(3, len(p)):]
	if len(msg) > 6 && msg[0] == '#' {
		msg = msg[6:]
	}
	e.Message = string(msg)
	return e
}

// CometForwarder sends every event to the private comet channel of each operator who may
// see it, so browsers using comet instead of SSE stay live. Hook it to Hub.OnEvent.
type CometForwarder struct {
	Store *store.Store
	Log   *slog.Logger
	// Load returns the publisher to use, or nil while comet is not configured.
	Load func(ctx context.Context) (Publisher, error)

	seq      atomic.Uint64
	epoch    string
	once     sync.Once
	queue    chan Event
	done     chan struct{}
	stopOnce sync.Once
	stopped  sync.WaitGroup
}

func (f *CometForwarder) start() {
	f.once.Do(func() {
		f.epoch = strconv.FormatInt(time.Now().UnixNano(), 36)
		f.queue = make(chan Event, 1024)
		f.done = make(chan struct{})
		f.stopped.Add(1)
		go f.run()
	})
}

// Handle queues ev for publishing; it never blocks the hub. When the queue is full the
// event is dropped: it is a hint, and browsers refetch on the next one.
func (f *CometForwarder) Handle(ev Event) {
	f.start()
	select {
	case <-f.done:
	case f.queue <- ev:
	default:
		f.Log.Warn("comet: queue full; dropping an event")
	}
}

// Stop ends the forwarder and waits for the event in flight: it reads the database, so
// it must stop before the pool closes.
func (f *CometForwarder) Stop() {
	f.start()
	f.stopOnce.Do(func() { close(f.done) })
	f.stopped.Wait()
}

func (f *CometForwarder) run() {
	defer f.stopped.Done()
	for {
		select {
		case <-f.done:
			return
		case ev := <-f.queue:
			f.Forward(ev)
		}
	}
}

// Forward publishes ev now.
func (f *CometForwarder) Forward(ev Event) {
	if f.epoch == "" {
		f.epoch = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := f.Load(ctx)
	if err != nil || pub == nil {
		if err != nil {
			f.Log.Warn("comet: settings", "err", err)
		}
		return
	}
	if ev.VisitorID != 0 && ev.Kind != "message.created" && ev.Kind != "message.updated" && ev.DialogID == 0 {
		return
	}
	uids, err := Recipients(ctx, f.Store.Pool, ev)
	if err != nil {
		f.Log.Warn("comet: recipients", "err", err)
		return
	}
	// Only ids and kinds cross comet's unencrypted connection (comet.md): no text, no PII.
	payload := map[string]any{"k": ev.Kind, "d": ev.DialogID, "m": ev.MessageID, "u": ev.UserID}
	for _, uid := range uids {
		payload["_cometApi_uuid"] = f.epoch + "-" + strconv.FormatUint(f.seq.Add(1), 10)
		if err := pub.User(ctx, uid, "ev", payload); err != nil {
			f.Log.Warn("comet: publish", "err", err, "user", uid)
			return
		}
	}
}

// Recipients are the active users who may see ev (the same rule as the SSE hub's visible).
func Recipients(ctx context.Context, db store.DB, ev Event) ([]int64, error) {
	everyone := ev.Kind == "resync" || ev.Kind == "operator.updated" || ev.Kind == "operator.presence"
	return store.UsersWhoMaySee(ctx, db, everyone, ev.UserID, ev.AssigneeID, ev.Participants, ev.DialogID != 0, ev.DepartmentID)
}
