package push_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/push/comettest"
)

func TestCometQueries(t *testing.T) {
	for _, c := range []struct {
		name  string
		uid   int64
		event string
		v     any
		want  string
		err   bool
	}{
		{"ids only", 15, "ev", map[string]any{"k": "message.created", "d": 7}, `INSERT INTO users_messages (id, event, message) VALUES (15, 'ev', '{"d":7,"k":"message.created"}')`, false},
		{"quotes become \\u0027, backslashes stay JSON", 1, "", map[string]string{"t": `it's a "test" \ ok`}, `INSERT INTO users_messages (id, event, message) VALUES (1, '', '{"t":"it\u0027s a \"test\" \\ ok"}')`, false},
		{"cyrillic and emoji as is", 2, "x", map[string]string{"t": "Привет 👋\n"}, `INSERT INTO users_messages (id, event, message) VALUES (2, 'x', '{"t":"Привет 👋\n"}')`, false},
		{"user id 0", 0, "ev", 1, "", true},
		{"user id too large", 1000000000, "ev", 1, "", true},
		{"event with a quote", 1, "e'v", 1, "", true},
		{"event too long", 1, strings.Repeat("e", 65), 1, "", true},
		{"too long for comet", 1, "ev", strings.Repeat("x", 9000), "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := push.UserQuery(c.uid, c.event, c.v)
			if (err != nil) != c.err {
				t.Fatalf("err = %v, want error %v", err, c.err)
			}
			if got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
			if !c.err && strings.Count(got, "'") != 4 {
				t.Fatalf("the literal has a stray quote: %s", got)
			}
		})
	}
	if _, err := push.PipeQuery("ab", "ev", 1); err == nil {
		t.Error("a 2-character pipe name was accepted")
	}
	if q, err := push.PipeQuery("web_room-1", "ev", map[string]int{"a": 1}); err != nil || q != `INSERT INTO pipes_messages (name, event, message) VALUES ('web_room-1', 'ev', '{"a":1}')` {
		t.Errorf("pipe query %q %v", q, err)
	}
}

func TestCometJWT(t *testing.T) {
	c := push.NewComet(push.CometConfig{DevID: 15, DevKey: "secret-key"})
	now := time.Unix(1_700_000_000, 0)
	c.Now = func() time.Time { return now }
	tok, err := c.Auth(42)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	m := hmac.New(sha256.New, []byte("secret-key15"))
	m.Write([]byte(parts[0] + "." + parts[1]))
	if base64.RawURLEncoding.EncodeToString(m.Sum(nil)) != parts[2] {
		t.Fatal("signature is not HS256 over header.payload with DevKEY+DevID")
	}
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if string(body) != `{"user_id":42,"exp":1700043200}` {
		t.Fatalf("payload %s", body)
	}
	head, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h map[string]string
	if json.Unmarshal(head, &h) != nil || h["alg"] != "HS256" {
		t.Fatalf("header %s", head)
	}
}

func TestCometPublisherAgainstFake(t *testing.T) {
	fake, err := comettest.Start(15, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := push.NewComet(push.CometConfig{DevID: 15, DevKey: fake.DevKey, Addr: fake.Addr()})
	defer c.Close()

	if err := c.User(ctx, 7, "ev", map[string]any{"k": "dialog.created", "d": 3, "n": "O'Brien"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Pipe(ctx, "room_1", "ev", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`INSERT INTO users_messages (id, event, message) VALUES (7, 'ev', '{"d":3,"k":"dialog.created","n":"O\u0027Brien"}')`,
		`INSERT INTO pipes_messages (name, event, message) VALUES ('room_1', 'ev', '{"a":1}')`,
	}
	if got := fake.Queries(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("queries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if fake.Logins() != 1 {
		t.Fatalf("%d logins for two queries, want one pooled connection", fake.Logins())
	}

	// A dead connection is replaced once, transparently.
	fake.DropNext()
	if err := c.User(ctx, 7, "ev", 1); err != nil {
		t.Fatalf("after a dropped connection: %v", err)
	}
	if fake.Logins() != 2 {
		t.Fatalf("logins = %d, want a reconnect", fake.Logins())
	}
	// An error from comet is returned as is, without reconnecting.
	fake.Reject(1, 11)
	var ce *push.CometError
	if err := c.User(ctx, 7, "ev", 1); !errors.As(err, &ce) || ce.Code != 11 {
		t.Fatalf("rejected query: %v", err)
	}
	if fake.Logins() != 2 {
		t.Fatalf("reconnected after a server error")
	}

	// A wrong key is refused at the handshake and never sent in clear.
	bad := push.NewComet(push.CometConfig{DevID: 15, DevKey: "wrong", Addr: fake.Addr()})
	defer bad.Close()
	if err := bad.User(ctx, 7, "ev", 1); !errors.As(err, &ce) || ce.Code != 16 {
		t.Fatalf("wrong key: %v", err)
	}
	for _, q := range fake.Queries() {
		if strings.Contains(q, fake.DevKey) {
			t.Fatal("the Dev KEY reached a query")
		}
	}
}
