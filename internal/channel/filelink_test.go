package channel

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/seal"
)

func TestFileLinks(t *testing.T) {
	box, err := seal.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{Box: box, PublicURL: "https://omnichat.example"}
	u := s.FileURL(42, "отчёт 1.pdf")
	prefix := "https://omnichat.example/public/files/42/"
	if !strings.HasPrefix(u, prefix) || !strings.HasSuffix(u, "/%D0%BE%D1%82%D1%87%D1%91%D1%82%201.pdf") {
		t.Fatalf("link %q", u)
	}
	token, _, _ := strings.Cut(strings.TrimPrefix(u, prefix), "/")
	if !s.FileTokenValid(42, token) {
		t.Fatal("a fresh token is not valid")
	}
	if s.FileTokenValid(43, token) {
		t.Fatal("a token opens another file")
	}
	other, _ := seal.New(append(make([]byte, 31), 1))
	if (&Service{Box: other}).FileTokenValid(42, token) {
		t.Fatal("a token made with another key is valid")
	}
	expired, _ := box.Seal([]byte(fmt.Sprintf("42:%d", time.Now().Add(-time.Second).Unix())), fileLinkAD)
	if s.FileTokenValid(42, base64.RawURLEncoding.EncodeToString(expired)) {
		t.Fatal("an expired token is valid")
	}
	// A channel secret sealed for a channel is not a link token (different associated data).
	sealedSecret, _ := box.Seal([]byte("42:9999999999"), ad(42))
	if s.FileTokenValid(42, base64.RawURLEncoding.EncodeToString(sealedSecret)) {
		t.Fatal("a value sealed for another purpose is accepted")
	}
	for _, bad := range []string{"", "!!", "AAAA"} {
		if s.FileTokenValid(42, bad) {
			t.Fatalf("token %q accepted", bad)
		}
	}
}
