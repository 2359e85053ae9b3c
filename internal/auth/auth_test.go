package auth

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct-horse-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q: want argon2id with OWASP's minimum parameters", h)
	}
	h2, _ := HashPassword("correct-horse-1")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if !CheckPassword(h, "correct-horse-1") || !CheckPassword(h2, "correct-horse-1") {
		t.Fatal("the right password does not match")
	}
	parts := strings.Split(h, "$")
	for _, bad := range []struct{ hash, pw string }{
		{h, "correct-horse-2"},
		{h, ""},
		{"", "correct-horse-1"},
		{strings.Replace(h, "argon2id", "argon2i", 1), "correct-horse-1"},
		{strings.Join(append(parts[:5:5], "AAAA"), "$"), "correct-horse-1"},         // another key
		{strings.Join(append(parts[:4:4], "!!", parts[5]), "$"), "correct-horse-1"}, // bad salt
		{"$argon2id$v=19$m=x$salt$key", "correct-horse-1"},
	} {
		if CheckPassword(bad.hash, bad.pw) {
			t.Errorf("CheckPassword(%q, %q) = true", bad.hash, bad.pw)
		}
	}
}

func TestTokens(t *testing.T) {
	a, ha, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := NewToken()
	if a == b || len(a) != 43 || string(HashToken(a)) != string(ha) || len(ha) != 32 {
		t.Fatalf("tokens %q %q, hash %x", a, b, ha)
	}
}

// BenchmarkLogin shows that a wrong email costs what a wrong password costs (the answer
// takes as long either way, so timing does not tell which emails exist).
func BenchmarkLogin(b *testing.B) {
	pool := testdb.New(b)
	base := time.Now()
	var step time.Duration
	// Each attempt happens a window after the last, so the rate limits never interfere.
	s := &Service{Store: store.New(pool), SessionTTL: time.Hour, Now: func() time.Time { return base.Add(step) }}
	if _, _, err := s.CreateUser(context.Background(), 0, "op@example.com", "", RoleOperator, "correct-horse-1", 0); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, email, pw string }{
		{"wrong-password", "op@example.com", "wrong-horse-1"},
		{"unknown-email", "nobody@example.com", "wrong-horse-1"},
		{"success", "op@example.com", "correct-horse-1"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				step += Window + time.Second
				_, _, _, err := s.Login(context.Background(), c.email, c.pw, fmt.Sprint("10.0.0.", i%250), "bench")
				if (err == nil) != (c.name == "success") {
					b.Fatalf("%s: %v", c.name, err)
				}
			}
		})
	}
}
