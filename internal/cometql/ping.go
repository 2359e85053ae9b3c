// Package cometql checks a comet-server.ru (CppComet) connection for the admin's "test
// connection" button. CometQL speaks the MySQL wire protocol; this package implements just
// its handshake (protocol 10, mysql_native_password) so that no SQL driver is needed: the
// server either accepts the Dev ID and Dev KEY or says why not.
package cometql

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// DefaultAddr is the comet-server.ru SaaS CometQL endpoint.
const DefaultAddr = "app.comet-server.ru:3306"

// Database is the CometQL database name.
const Database = "CometQL_v1"

const (
	clientLongPassword     = 0x00000001
	clientConnectWithDB    = 0x00000008
	clientProtocol41       = 0x00000200
	clientSecureConnection = 0x00008000
	clientPluginAuth       = 0x00080000
	maxPacket              = 1 << 16
)

// AuthError is the server's refusal (wrong Dev ID or Dev KEY).
type AuthError struct {
	Code    int
	Message string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("comet refused the credentials (error %d): %s", e.Code, e.Message)
}

// Ping connects to addr (host:port), signs in as devID with devKey, and hangs up. The key
// is never sent in clear (mysql_native_password scrambles it with the server's nonce) and
// never appears in an error.
func Ping(ctx context.Context, addr string, devID int64, devKey string) error {
	if addr == "" {
		addr = DefaultAddr
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot reach comet at %s: %w", addr, unwrapNet(err))
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	seq, greeting, err := readPacket(conn)
	if err != nil {
		return fmt.Errorf("comet at %s did not greet: %w", addr, err)
	}
	if len(greeting) > 0 && greeting[0] == 0xff {
		return serverError(greeting)
	}
	nonce, plugin, err := parseGreeting(greeting)
	if err != nil {
		return fmt.Errorf("comet at %s: %w", addr, err)
	}
	if plugin != "" && plugin != "mysql_native_password" {
		return fmt.Errorf("comet at %s asks for the %q sign-in method, which is not supported", addr, plugin)
	}
	resp := handshakeResponse(strconv.FormatInt(devID, 10), scramble(nonce, devKey))
	if err := writePacket(conn, seq+1, resp); err != nil {
		return fmt.Errorf("comet at %s: send credentials: %w", addr, err)
	}
	_, answer, err := readPacket(conn)
	if err != nil {
		return fmt.Errorf("comet at %s: no answer to the sign-in: %w", addr, err)
	}
	switch {
	case len(answer) > 0 && answer[0] == 0x00:
		_ = writePacket(conn, 0, []byte{0x01}) // COM_QUIT
		return nil
	case len(answer) > 0 && answer[0] == 0xff:
		return serverError(answer)
	default:
		return fmt.Errorf("comet at %s answered the sign-in with something unexpected (0x%02x)", addr, firstByte(answer))
	}
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func unwrapNet(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func readPacket(r io.Reader) (byte, []byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if n > maxPacket {
		return 0, nil, fmt.Errorf("packet of %d bytes is too large", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return h[3], b, nil
}

func writePacket(w io.Writer, seq byte, payload []byte) error {
	h := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
	_, err := w.Write(append(h, payload...))
	return err
}

// parseGreeting reads the 20-byte nonce and the auth plugin name from a protocol-10 greeting.
func parseGreeting(g []byte) ([]byte, string, error) {
	if len(g) < 1 || g[0] != 10 {
		return nil, "", errors.New("not a MySQL/CometQL server (unknown greeting)")
	}
	i := bytes.IndexByte(g[1:], 0)
	if i < 0 {
		return nil, "", errors.New("malformed greeting")
	}
	p := 1 + i + 1 + 4 // server version, connection id
	if len(p8(g, p)) < 8 {
		return nil, "", errors.New("malformed greeting")
	}
	nonce := append([]byte(nil), g[p:p+8]...)
	p += 8 + 1 // part 1, filler
	if len(g) < p+2+1+2+2+1+10 {
		return nonce, "", nil // an old server: 8-byte nonce only
	}
	caps := uint32(binary.LittleEndian.Uint16(g[p:]))
	p += 2 + 1 + 2 // capabilities (low), charset, status
	caps |= uint32(binary.LittleEndian.Uint16(g[p:])) << 16
	p += 2
	authLen := int(g[p])
	p += 1 + 10
	n := max(13, authLen-8)
	if len(g) < p+n {
		return nil, "", errors.New("malformed greeting")
	}
	nonce = append(nonce, bytes.TrimRight(g[p:p+n], "\x00")...)
	p += n
	plugin := ""
	if caps&clientPluginAuth != 0 && p < len(g) {
		plugin = string(bytes.TrimRight(g[p:], "\x00"))
	}
	return nonce, plugin, nil
}

func p8(b []byte, from int) []byte {
	if from+8 > len(b) {
		return nil
	}
	return b[from : from+8]
}

// scramble is mysql_native_password: SHA1(key) XOR SHA1(nonce + SHA1(SHA1(key))).
func scramble(nonce []byte, key string) []byte {
	if key == "" {
		return nil
	}
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

func handshakeResponse(user string, auth []byte) []byte {
	var b bytes.Buffer
	caps := uint32(clientLongPassword | clientConnectWithDB | clientProtocol41 | clientSecureConnection | clientPluginAuth)
	_ = binary.Write(&b, binary.LittleEndian, caps)
	_ = binary.Write(&b, binary.LittleEndian, uint32(maxPacket))
	b.WriteByte(33) // utf8_general_ci
	b.Write(make([]byte, 23))
	b.WriteString(user)
	b.WriteByte(0)
	b.WriteByte(byte(len(auth)))
	b.Write(auth)
	b.WriteString(Database)
	b.WriteByte(0)
	b.WriteString("mysql_native_password")
	b.WriteByte(0)
	return b.Bytes()
}

func serverError(p []byte) error {
	if len(p) < 3 {
		return &AuthError{Message: "unknown error"}
	}
	code := int(binary.LittleEndian.Uint16(p[1:3]))
	msg := p[3:]
	if len(msg) > 0 && msg[0] == '#' && len(msg) >= 6 {
		msg = msg[6:]
	}
	return &AuthError{Code: code, Message: string(msg)}
}
