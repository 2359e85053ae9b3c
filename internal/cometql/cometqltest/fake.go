// Package cometqltest is a fake CometQL server for tests: it speaks the MySQL handshake the
// way CppComet does and accepts one Dev ID and Dev KEY.
package cometqltest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
)

// Server accepts DevID/DevKey.
type Server struct {
	DevID  int64
	DevKey string

	ln     net.Listener
	mu     sync.Mutex
	logins []string // "ok <id>" or "denied <id>"
}

// NewServer listens on 127.0.0.1 with a random port.
func NewServer(devID int64, devKey string) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := &Server{DevID: devID, DevKey: devKey, ln: ln}
	go s.serve()
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() { s.ln.Close() }

// Logins lists the sign-in attempts ("ok 15", "denied 16").
func (s *Server) Logins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.logins...)
}

func (s *Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.handle(c)
	}
}

func (s *Server) handle(c net.Conn) {
	defer c.Close()
	nonce := make([]byte, 20)
	_, _ = rand.Read(nonce)
	for i := range nonce {
		nonce[i] = nonce[i]%94 + 33 // printable, no zero bytes, as MySQL servers send
	}
	var g bytes.Buffer
	g.WriteByte(10)
	g.WriteString("5.5.0-CppComet\x00")
	g.Write([]byte{1, 0, 0, 0})
	g.Write(nonce[:8])
	g.WriteByte(0)
	caps := uint32(0x00000200 | 0x00008000 | 0x00080000 | 0x00000008 | 0x00000001)
	_ = binary.Write(&g, binary.LittleEndian, uint16(caps))
	g.WriteByte(33)
	g.Write([]byte{2, 0})
	_ = binary.Write(&g, binary.LittleEndian, uint16(caps>>16))
	g.WriteByte(21)
	g.Write(make([]byte, 10))
	g.Write(nonce[8:])
	g.WriteByte(0)
	g.WriteString("mysql_native_password\x00")
	if write(c, 0, g.Bytes()) != nil {
		return
	}
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	p := make([]byte, n)
	if _, err := io.ReadFull(c, p); err != nil || len(p) < 34 {
		return
	}
	rest := p[32:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 || i+1 >= len(rest) {
		return
	}
	user := string(rest[:i])
	alen := int(rest[i+1])
	if i+2+alen > len(rest) {
		return
	}
	auth := rest[i+2 : i+2+alen]
	ok := user == strconv.FormatInt(s.DevID, 10) && bytes.Equal(auth, scramble(nonce, s.DevKey))
	s.mu.Lock()
	if ok {
		s.logins = append(s.logins, "ok "+user)
	} else {
		s.logins = append(s.logins, "denied "+user)
	}
	s.mu.Unlock()
	if ok {
		_ = write(c, h[3]+1, []byte{0, 0, 0, 2, 0, 0, 0})
		return
	}
	var e bytes.Buffer
	e.WriteByte(0xff)
	_ = binary.Write(&e, binary.LittleEndian, uint16(16))
	e.WriteString("#28000Access denied for user '" + user + "'")
	_ = write(c, h[3]+1, e.Bytes())
}

func write(w io.Writer, seq byte, p []byte) error {
	_, err := w.Write(append([]byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), seq}, p...))
	return err
}

func scramble(nonce []byte, key string) []byte {
	h1 := sha1.Sum([]byte(key))
	h2 := sha1.Sum(h1[:])
	h := sha1.New()
	h.Write(nonce)
	h.Write(h2[:])
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= h1[i]
	}
	return out
}
