package cometql_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/omnichat/omnichat/internal/cometql"
	"github.com/omnichat/omnichat/internal/cometql/cometqltest"
)

const key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestPing(t *testing.T) {
	s := cometqltest.NewServer(15, key)
	defer s.Close()
	if err := cometql.Ping(context.Background(), s.Addr(), 15, key); err != nil {
		t.Fatalf("right credentials: %v", err)
	}
	err := cometql.Ping(context.Background(), s.Addr(), 15, "wrong-key")
	var ae *cometql.AuthError
	if !errors.As(err, &ae) || ae.Code != 16 || !strings.Contains(err.Error(), "Access denied") {
		t.Fatalf("wrong key: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-key") {
		t.Fatalf("the error carries the key: %v", err)
	}
	if err := cometql.Ping(context.Background(), s.Addr(), 16, key); err == nil {
		t.Fatal("wrong dev id accepted")
	}
	if got := s.Logins(); strings.Join(got, ",") != "ok 15,denied 15,denied 16" {
		t.Fatalf("logins %v", got)
	}
	if err := cometql.Ping(context.Background(), "127.0.0.1:1", 15, key); err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("closed port: %v", err)
	}
}
