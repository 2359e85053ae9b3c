// Package comettest is a fake comet-server.ru (CppComet) for tests: a CometQL listener
// speaking enough of the MySQL protocol (handshake with mysql_native_password, COM_QUERY,
// COM_PING, COM_QUIT) and the browser WebSocket endpoint (/ws/sesion=…&myid=…&devid=…),
// which checks the JWT like comet does and delivers users_messages to that user's sockets.
package comettest

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Server is the fake.
type Server struct {
	DevID  int64
	DevKey string

	ln  net.Listener
	web *httptest.Server

	mu      sync.Mutex
	queries []string
	sockets map[int64][]net.Conn
	auths   int
	// Rejects makes the next n queries fail with this error code.
	rejectN    int
	rejectCode uint16
	dropNext   bool
}

// Start runs the fake on loopback.
func Start(devID int64, devKey string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{DevID: devID, DevKey: devKey, ln: ln, sockets: map[int64][]net.Conn{}}
	go s.accept()
	s.web = httptest.NewServer(http.HandlerFunc(s.serveWS))
	return s, nil
}

// Addr is the CometQL address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Node is the WebSocket host:port.
func (s *Server) Node() string { return strings.TrimPrefix(s.web.URL, "http://") }

// Close stops both listeners.
func (s *Server) Close() {
	s.ln.Close()
	s.web.CloseClientConnections()
	s.web.Close()
}

// Queries are the queries received, in order.
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

// Logins counts successful CometQL logins.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auths
}

// Reject makes the next n queries fail with code.
func (s *Server) Reject(n int, code uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectN, s.rejectCode = n, code
}

// DropNext closes the connection instead of answering the next query.
func (s *Server) DropNext() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext = true
}

// Sockets counts the authorized browser sockets of uid.
func (s *Server) Sockets(uid int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sockets[uid])
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.serveSQL(c)
	}
}

type pconn struct {
	c   net.Conn
	r   *bufio.Reader
	seq byte
}

func (p *pconn) read() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(p.r, h[:]); err != nil {
		return nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	p.seq = h[3] + 1
	b := make([]byte, n)
	_, err := io.ReadFull(p.r, b)
	return b, err
}

func (p *pconn) write(b []byte) {
	h := []byte{byte(len(b)), byte(len(b) >> 8), byte(len(b) >> 16), p.seq}
	p.seq++
	_, _ = p.c.Write(append(h, b...))
}

func ok() []byte { return []byte{0x00, 0, 0, 2, 0, 0, 0} }

func errPacket(code uint16, msg string) []byte {
	b := []byte{0xff}
	b = binary.LittleEndian.AppendUint16(b, code)
	b = append(b, "#HY000"...)
	return append(b, msg...)
}

func (s *Server) serveSQL(c net.Conn) {
	defer c.Close()
	p := &pconn{c: c, r: bufio.NewReader(c)}
	salt := make([]byte, 20)
	_, _ = rand.Read(salt)
	for i := range salt { // printable, no NUL, like MySQL
		salt[i] = salt[i]%90 + 33
	}
	hs := []byte{10}
	hs = append(hs, "5.5.0-comet-fake"...)
	hs = append(hs, 0, 1, 0, 0, 0)
	hs = append(hs, salt[:8]...)
	hs = append(hs, 0)
	hs = binary.LittleEndian.AppendUint16(hs, 0xf7ff)
	hs = append(hs, 33, 2, 0)
	hs = binary.LittleEndian.AppendUint16(hs, 0x0008)
	hs = append(hs, 21)
	hs = append(hs, make([]byte, 10)...)
	hs = append(hs, salt[8:]...)
	hs = append(hs, 0)
	hs = append(hs, "mysql_native_password"...)
	hs = append(hs, 0)
	p.write(hs)
	resp, err := p.read()
	if err != nil || len(resp) < 33 {
		return
	}
	rest := resp[32:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return
	}
	user := string(rest[:i])
	rest = rest[i+1:]
	if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
		return
	}
	auth := rest[1 : 1+int(rest[0])]
	if user != strconv.FormatInt(s.DevID, 10) || !bytes.Equal(auth, scramble(salt, s.DevKey)) {
		p.write(errPacket(16, "Access denied"))
		return
	}
	s.mu.Lock()
	s.auths++
	s.mu.Unlock()
	p.write(ok())
	for {
		pkt, err := p.read()
		if err != nil || len(pkt) == 0 {
			return
		}
		switch pkt[0] {
		case 0x01: // COM_QUIT
			return
		case 0x0e, 0x02: // COM_PING, COM_INIT_DB
			p.write(ok())
		case 0x03:
			s.mu.Lock()
			drop := s.dropNext
			s.dropNext = false
			reject := s.rejectN > 0
			code := s.rejectCode
			if reject {
				s.rejectN--
			}
			s.mu.Unlock()
			if drop {
				return
			}
			if reject {
				p.write(errPacket(code, "rejected"))
				continue
			}
			q := string(pkt[1:])
			if code, msg := s.exec(q); code != 0 {
				p.write(errPacket(code, msg))
				continue
			}
			p.write(ok())
		default:
			p.write(errPacket(3, "malformed packet"))
		}
	}
}

func scramble(salt []byte, pw string) []byte {
	h1 := sha1.Sum([]byte(pw))
	h2 := sha1.Sum(h1[:])
	m := sha1.New()
	m.Write(salt)
	m.Write(h2[:])
	h3 := m.Sum(nil)
	for i := range h3 {
		h3[i] ^= h1[i]
	}
	return h3
}

var userInsert = regexp.MustCompile(`^INSERT INTO users_messages \(id, event, message\) VALUES \((\d+), '([A-Za-z0-9_-]*)', '([^']*)'\)$`)
var pipeInsert = regexp.MustCompile(`^INSERT INTO pipes_messages \(name, event, message\) VALUES \('([A-Za-z0-9_-]+)', '([A-Za-z0-9_-]*)', '([^']*)'\)$`)

// exec records a query and, for users_messages, delivers it like comet: the message text
// exactly as inserted (comet never unescapes literals), with pipe "msg".
func (s *Server) exec(q string) (uint16, string) {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
	if len(q) >= 9000 {
		return 11, "query too long"
	}
	if m := userInsert.FindStringSubmatch(q); m != nil {
		uid, _ := strconv.ParseInt(m[1], 10, 64)
		frame, _ := json.Marshal(map[string]any{"data": m[3], "event": m[2], "pipe": "msg", "message_send_time": time.Now().Unix()})
		s.mu.Lock()
		conns := append([]net.Conn(nil), s.sockets[uid]...)
		s.mu.Unlock()
		for _, c := range conns {
			_ = wsutil.WriteServerText(c, frame)
		}
		return 0, ""
	}
	if pipeInsert.MatchString(q) {
		return 0, ""
	}
	return 3, "syntax error"
}

// serveWS is the browser endpoint: /ws/sesion=<key>&myid=<uid>&devid=<id>&v=…&uuid=…&api=js
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	rest, found := strings.CutPrefix(r.URL.Path, "/ws/")
	if !found {
		http.NotFound(w, r)
		return
	}
	vals := map[string]string{}
	for _, part := range strings.Split(rest, "&") {
		k, v, _ := strings.Cut(part, "=")
		vals[k] = v
	}
	uid, _ := strconv.ParseInt(vals["myid"], 10, 64)
	authorized := vals["devid"] == strconv.FormatInt(s.DevID, 10) && s.checkJWT(vals["sesion"], uid)
	conn, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	hello, _ := json.Marshal(map[string]any{"pipe": "sys", "event": "serverInfo", "authorized": authorized, "data": "fake"})
	if err := wsutil.WriteServerText(conn, hello); err != nil || !authorized {
		conn.Close()
		return
	}
	s.mu.Lock()
	s.sockets[uid] = append(s.sockets[uid], conn)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		list := s.sockets[uid]
		for i, c := range list {
			if c == conn {
				s.sockets[uid] = append(list[:i], list[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
		conn.Close()
	}()
	for {
		if _, _, err := wsutil.ReadClientData(conn); err != nil {
			return
		}
	}
}

// checkJWT verifies an HS256 token keyed with DevKey+DevID, for user uid, not expired.
func (s *Server) checkJWT(tok string, uid int64) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	m := hmac.New(sha256.New, []byte(s.DevKey+strconv.FormatInt(s.DevID, 10)))
	m.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
		return false
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		UserID json.Number `json:"user_id"`
		Exp    int64       `json:"exp"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&claims); err != nil {
		return false
	}
	got, err := claims.UserID.Int64()
	return err == nil && got == uid && claims.Exp > time.Now().Unix()
}
