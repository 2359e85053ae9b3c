package security

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/providers/telegram/telegramtest"
)

const (
	key1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	key2 = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f"
)

// tokenSecret is the secret half of the fake bot token (the half before ':' is the public bot id).
var tokenSecret = telegramtest.DefaultToken[strings.Index(telegramtest.DefaultToken, ":")+1:]

type channelView struct {
	ID           int64             `json:"id"`
	Settings     map[string]string `json:"settings"`
	SecretsSet   []string          `json:"secrets_set"`
	WebhookURL   string            `json:"webhook_url"`
	WebhookState string            `json:"webhook_state"`
	WebhookError string            `json:"webhook_error"`
}

func telegramFake(t *testing.T) *telegramtest.Server {
	fake := telegramtest.NewServer()
	fake.AllowHTTPWebhook = true
	t.Cleanup(fake.Close)
	return fake
}

// dumpDatabase returns every row of every table in the public schema as text (bytea as hex).
func dumpDatabase(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, `"`+schema+`"."`+name+`"`)
	}
	rows.Close()
	var b strings.Builder
	for _, tb := range tables {
		var s string
		if err := pool.QueryRow(ctx, `SELECT coalesce(string_agg(x::text, E'\n'), '') FROM `+tb+` x`).Scan(&s); err != nil {
			t.Fatalf("dump %s: %v", tb, err)
		}
		b.WriteString(s)
	}
	if len(tables) < 10 {
		t.Fatalf("only %d tables dumped", len(tables))
	}
	return b.String()
}

func assertNoSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(text, s) || strings.Contains(strings.ToLower(text), hex.EncodeToString([]byte(s))) {
			t.Errorf("%s contains the secret %.6s…", where, s)
		}
	}
}

// TestChannelSecretsNeverLeaveTheServer: after a channel is checked, created, its webhook
// set, a failing check and a failing webhook, the bot token and the channel's webhook
// secret appear in no table of the database, in no API answer and in no log line.
func TestChannelSecretsNeverLeaveTheServer(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake := telegramFake(t)
	var answers strings.Builder
	call := func(method, path string, body any, want int) []byte {
		t.Helper()
		code, out := admin.Call(t, method, path, body, nil)
		answers.Write(out)
		if code != want {
			t.Fatalf("%s %s: HTTP %d %s, want %d", method, path, code, out, want)
		}
		return out
	}

	// Check, then create.
	out := call("POST", "/api/v1/channels/check", map[string]any{"kind": "telegram", "settings": fake.Settings()}, 200)
	if !strings.Contains(string(out), telegramtest.BotUsername) {
		t.Fatalf("check did not fill the bot: %s", out)
	}
	var ch channelView
	if err := json.Unmarshal(call("POST", "/api/v1/channels", map[string]any{"kind": "telegram", "name": "Bot", "settings": fake.Settings()}, 201), &ch); err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, 10*time.Second, "the webhook", func() bool { return fake.Webhook().URL != "" })
	hookSecret := fake.Webhook().Secret
	if len(hookSecret) < 20 {
		t.Fatalf("webhook secret_token %q", hookSecret)
	}
	call("GET", apptest.Path("/api/v1/channels/%d", ch.ID), nil, 200)
	out = call("GET", "/api/v1/channels", nil, 200)
	var list struct {
		Channels []channelView `json:"channels"`
	}
	_ = json.Unmarshal(out, &list)
	if len(list.Channels) != 1 || len(list.Channels[0].SecretsSet) == 0 || list.Channels[0].SecretsSet[0] != "token" {
		t.Fatalf("the list names no secret as set: %s", out)
	}

	// A wrong token: a readable error, still no secret.
	wrong := fake.Settings()
	wrong["token"] = "123456789:AAwrong-token-secret-part-xyz0123456"
	out = call("POST", "/api/v1/channels/check", map[string]any{"kind": "telegram", "settings": wrong}, 422)
	if !strings.Contains(strings.ToLower(string(out)), "token") {
		t.Errorf("wrong token error does not say so: %s", out)
	}
	// An unreachable API server: the transport error must not echo the URL with the token.
	down := fake.Settings()
	down["api_url"] = "http://127.0.0.1:1"
	call("POST", "/api/v1/channels/check", map[string]any{"kind": "telegram", "settings": down}, 422)
	call("POST", "/api/v1/channels", map[string]any{"kind": "telegram", "name": "Down", "settings": down}, 422)

	// A failing setWebhook on update: the state says error, in plain words.
	call("PUT", apptest.Path("/api/v1/channels/%d", ch.ID), map[string]any{"enabled": false}, 200)
	fake.FailNextCall("setWebhook", telegramtest.Failure{Code: 400, Description: "Bad Request: bad webhook: testing"})
	call("PUT", apptest.Path("/api/v1/channels/%d", ch.ID), map[string]any{"name": "Bot 2", "enabled": true, "settings": map[string]string{"token": telegramtest.DefaultToken}}, 200)
	var got channelView
	apptest.Eventually(t, 10*time.Second, "the webhook error state", func() bool {
		_, o := admin.Call(t, "GET", apptest.Path("/api/v1/channels/%d", ch.ID), nil, &got)
		answers.Write(o)
		return got.WebhookState == "error"
	})
	if !strings.Contains(got.WebhookError, "bad webhook") {
		t.Errorf("webhook error %q", got.WebhookError)
	}
	// Delete (unregisters the webhook).
	call("DELETE", apptest.Path("/api/v1/channels/%d", ch.ID), nil, 204)
	call("GET", "/api/v1/audit", nil, 200)

	secrets := []string{tokenSecret, hookSecret, "AAwrong-token-secret-part-xyz0123456"}
	assertNoSecret(t, "the API answers", answers.String(), secrets...)
	assertNoSecret(t, "the server log", inst.Log.String(), secrets...)
	dump := dumpDatabase(t, inst.Pool)
	assertNoSecret(t, "the database", dump, secrets...)
	if !strings.Contains(dump, telegramtest.BotUsername) {
		t.Fatalf("the dump misses even the public bot name: the dump is broken")
	}
	var sealed []byte
	if err := inst.Pool.QueryRow(context.Background(), `SELECT secrets FROM channels WHERE id = $1`, ch.ID).Scan(&sealed); err != nil || len(sealed) < 40 {
		t.Fatalf("sealed secrets: %d bytes, %v", len(sealed), err)
	}
	t.Logf("database dump %d bytes, log %d bytes, API answers %d bytes: no secret", len(dump), len(inst.Log.String()), answers.Len())
}

// TestKeyRotation: channels sealed with key 1 are re-sealed at start by an instance whose
// OMNICHAT_SECRET_KEY is key 2 and OMNICHAT_SECRET_KEY_OLD is key 1; afterwards key 2
// alone opens them, and an instance with key 1 alone refuses to start.
func TestKeyRotation(t *testing.T) {
	inst1 := apptest.Start(t, apptest.Options{Env: map[string]string{"OMNICHAT_SECRET_KEY": key1}})
	admin := inst1.Admin(t)
	fake := telegramFake(t)
	var ch channelView
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "telegram", "name": "Bot", "settings": fake.Settings()}, &ch)
	readSealed := func() []byte {
		var b []byte
		if err := inst1.Pool.QueryRow(context.Background(), `SELECT secrets FROM channels WHERE id = $1`, ch.ID).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := readSealed()

	// The rotating instance re-seals at start.
	inst2 := apptest.Start(t, apptest.Options{DatabaseURL: inst1.DatabaseURL, NoWorkers: true,
		Env: map[string]string{"OMNICHAT_SECRET_KEY": key2, "OMNICHAT_SECRET_KEY_OLD": key1}})
	after := readSealed()
	if string(before[1:5]) == string(after[1:5]) {
		t.Fatalf("key id unchanged after rotation: %x", after[:5])
	}
	if !strings.Contains(inst2.Log.String(), "re-sealed") {
		t.Errorf("the rotation is not logged")
	}

	// Key 2 alone opens the channel: the stored token still passes Check with the platform.
	inst3 := apptest.Start(t, apptest.Options{DatabaseURL: inst1.DatabaseURL, NoWorkers: true,
		Env: map[string]string{"OMNICHAT_SECRET_KEY": key2}})
	a3 := inst3.SignIn(t, "admin@example.com", "test-password-1")
	var v channelView
	a3.Must(t, "GET", apptest.Path("/api/v1/channels/%d", ch.ID), nil, &v)
	if len(v.SecretsSet) == 0 {
		t.Fatalf("key 2 cannot open the re-sealed channel: %+v", v)
	}
	a3.Must(t, "POST", "/api/v1/channels/check", map[string]any{"channel_id": ch.ID, "settings": map[string]string{}}, nil)

	// Key 1 alone no longer opens it: an instance with it refuses to start (the key check
	// was re-sealed with key 2 by the rotating instance).
	_, err := apptest.TryStart(t, apptest.Options{DatabaseURL: inst1.DatabaseURL, NoWorkers: true,
		Env: map[string]string{"OMNICHAT_SECRET_KEY": key1}})
	if err == nil || !strings.Contains(err.Error(), "OMNICHAT_SECRET_KEY does not open this database's channel secrets") {
		t.Fatalf("an instance with the old key alone: %v, want a refusal naming OMNICHAT_SECRET_KEY", err)
	}
	assertNoSecret(t, "the server logs", inst1.Log.String()+inst2.Log.String()+inst3.Log.String(), tokenSecret)
}
