package config

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func load(env map[string]string) (Config, error) {
	return Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

func TestDefaults(t *testing.T) {
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.PublicURL != "http://127.0.0.1:8080" || c.DataDir != "./var" {
		t.Errorf("addresses: %+v", c)
	}
	if c.DatabaseURL != "" || c.AdminEmail != "" || c.SecretKey != nil {
		t.Errorf("unset values should stay empty: %+v", c)
	}
	if c.LogLevel != slog.LevelInfo || c.LogFormat != "text" || c.SessionTTL != 720*time.Hour {
		t.Errorf("log/session defaults: %+v", c)
	}
	if c.WebhookMaxBody != 1<<20 || c.UploadMaxBody != 50<<20 || c.DBMaxConns != 8 || c.Workers != 20 {
		t.Errorf("limits: %+v", c)
	}
	if c.CookieSecure || c.PhoneRegion != "RU" || c.AllowPrivateAddresses || c.AllowedAddresses != nil {
		t.Errorf("flags: %+v", c)
	}
}

// Every variable has at least one good and one bad value; a bad value gives exactly one
// line that names the variable.
func TestEveryVariable(t *testing.T) {
	const key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	cases := []struct {
		name  string
		env   map[string]string
		check func(Config) bool // for good values
		bad   string            // the variable the error must name (empty = good)
	}{
		{"addr ok", map[string]string{"OMNICHAT_HTTP_ADDR": ":9000"}, func(c Config) bool { return c.HTTPAddr == ":9000" && c.PublicURL == "http://:9000" }, ""},
		{"addr port 0", map[string]string{"OMNICHAT_HTTP_ADDR": "127.0.0.1:0"}, func(c Config) bool { return c.HTTPAddr == "127.0.0.1:0" }, ""},
		{"addr no port", map[string]string{"OMNICHAT_HTTP_ADDR": "localhost"}, nil, "OMNICHAT_HTTP_ADDR"},
		{"addr bad port", map[string]string{"OMNICHAT_HTTP_ADDR": "localhost:99999"}, nil, "OMNICHAT_HTTP_ADDR"},
		{"addr word port", map[string]string{"OMNICHAT_HTTP_ADDR": "localhost:nope-not-a-port"}, nil, "OMNICHAT_HTTP_ADDR"},
		{"db url", map[string]string{"OMNICHAT_DATABASE_URL": "postgres://u:p@h/db"}, func(c Config) bool { return c.DatabaseURL == "postgres://u:p@h/db" }, ""},
		{"db kv", map[string]string{"OMNICHAT_DATABASE_URL": "host=/tmp dbname=x"}, func(c Config) bool { return c.DatabaseURL == "host=/tmp dbname=x" }, ""},
		{"db bad", map[string]string{"OMNICHAT_DATABASE_URL": "mysql://u:secretpw@h/db"}, nil, "OMNICHAT_DATABASE_URL"},
		{"data dir", map[string]string{"OMNICHAT_DATA_DIR": "/srv/omnichat"}, func(c Config) bool { return c.DataDir == "/srv/omnichat" }, ""},
		{"public url", map[string]string{"OMNICHAT_PUBLIC_URL": "https://chat.example.com/"}, func(c Config) bool {
			return c.PublicURL == "https://chat.example.com" && c.CookieSecure
		}, ""},
		{"public url relative", map[string]string{"OMNICHAT_PUBLIC_URL": "chat.example.com"}, nil, "OMNICHAT_PUBLIC_URL"},
		{"public url ftp", map[string]string{"OMNICHAT_PUBLIC_URL": "ftp://chat.example.com"}, nil, "OMNICHAT_PUBLIC_URL"},
		{"admin", map[string]string{"OMNICHAT_ADMIN_EMAIL": "a@b.c", "OMNICHAT_ADMIN_PASSWORD": "long-enough"}, func(c Config) bool {
			return c.AdminEmail == "a@b.c" && c.AdminPassword == "long-enough"
		}, ""},
		{"admin email alone", map[string]string{"OMNICHAT_ADMIN_EMAIL": "a@b.c"}, nil, "OMNICHAT_ADMIN_PASSWORD"},
		{"admin password alone", map[string]string{"OMNICHAT_ADMIN_PASSWORD": "long-enough"}, nil, "OMNICHAT_ADMIN_EMAIL"},
		{"admin email bad", map[string]string{"OMNICHAT_ADMIN_EMAIL": "admin", "OMNICHAT_ADMIN_PASSWORD": "long-enough"}, nil, "OMNICHAT_ADMIN_EMAIL"},
		{"admin password short", map[string]string{"OMNICHAT_ADMIN_EMAIL": "a@b.c", "OMNICHAT_ADMIN_PASSWORD": "short"}, nil, "OMNICHAT_ADMIN_PASSWORD"},
		{"secret key hex", map[string]string{"OMNICHAT_SECRET_KEY": key}, func(c Config) bool { return len(c.SecretKey) == 32 && c.SecretKey[31] == 0x1f }, ""},
		{"secret key base64", map[string]string{"OMNICHAT_SECRET_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}, func(c Config) bool { return len(c.SecretKey) == 32 && c.SecretKey[31] == 0x1f }, ""},
		{"secret key short", map[string]string{"OMNICHAT_SECRET_KEY": "abcdef"}, nil, "OMNICHAT_SECRET_KEY"},
		{"old keys", map[string]string{"OMNICHAT_SECRET_KEY_OLD": key + ", " + key}, func(c Config) bool { return len(c.OldSecretKeys) == 2 }, ""},
		{"old keys bad", map[string]string{"OMNICHAT_SECRET_KEY_OLD": key + ",xyz"}, nil, "OMNICHAT_SECRET_KEY_OLD"},
		{"log level", map[string]string{"OMNICHAT_LOG_LEVEL": "debug"}, func(c Config) bool { return c.LogLevel == slog.LevelDebug }, ""},
		{"log level bad", map[string]string{"OMNICHAT_LOG_LEVEL": "loud"}, nil, "OMNICHAT_LOG_LEVEL"},
		{"log format", map[string]string{"OMNICHAT_LOG_FORMAT": "json"}, func(c Config) bool { return c.LogFormat == "json" }, ""},
		{"log format bad", map[string]string{"OMNICHAT_LOG_FORMAT": "xml"}, nil, "OMNICHAT_LOG_FORMAT"},
		{"webhook max", map[string]string{"OMNICHAT_WEBHOOK_MAX_BYTES": "2048"}, func(c Config) bool { return c.WebhookMaxBody == 2048 }, ""},
		{"webhook max zero", map[string]string{"OMNICHAT_WEBHOOK_MAX_BYTES": "0"}, nil, "OMNICHAT_WEBHOOK_MAX_BYTES"},
		{"webhook max word", map[string]string{"OMNICHAT_WEBHOOK_MAX_BYTES": "1MB"}, nil, "OMNICHAT_WEBHOOK_MAX_BYTES"},
		{"upload max", map[string]string{"OMNICHAT_UPLOAD_MAX_BYTES": "4096"}, func(c Config) bool { return c.UploadMaxBody == 4096 }, ""},
		{"upload max negative", map[string]string{"OMNICHAT_UPLOAD_MAX_BYTES": "-1"}, nil, "OMNICHAT_UPLOAD_MAX_BYTES"},
		{"session ttl", map[string]string{"OMNICHAT_SESSION_TTL": "2h30m"}, func(c Config) bool { return c.SessionTTL == 150*time.Minute }, ""},
		{"session ttl tiny", map[string]string{"OMNICHAT_SESSION_TTL": "5s"}, nil, "OMNICHAT_SESSION_TTL"},
		{"session ttl word", map[string]string{"OMNICHAT_SESSION_TTL": "a month"}, nil, "OMNICHAT_SESSION_TTL"},
		{"db conns", map[string]string{"OMNICHAT_DB_MAX_CONNS": "4"}, func(c Config) bool { return c.DBMaxConns == 4 }, ""},
		{"db conns capped", map[string]string{"OMNICHAT_DB_MAX_CONNS": "99999999999"}, func(c Config) bool { return c.DBMaxConns == 1000 }, ""},
		{"db conns bad", map[string]string{"OMNICHAT_DB_MAX_CONNS": "many"}, nil, "OMNICHAT_DB_MAX_CONNS"},
		{"workers", map[string]string{"OMNICHAT_WORKERS": "3"}, func(c Config) bool { return c.Workers == 3 }, ""},
		{"workers zero", map[string]string{"OMNICHAT_WORKERS": "0"}, nil, "OMNICHAT_WORKERS"},
		{"cookie secure", map[string]string{"OMNICHAT_COOKIE_SECURE": "true"}, func(c Config) bool { return c.CookieSecure }, ""},
		{"cookie insecure on https", map[string]string{"OMNICHAT_COOKIE_SECURE": "false", "OMNICHAT_PUBLIC_URL": "https://x.example"}, func(c Config) bool { return !c.CookieSecure }, ""},
		{"cookie bad", map[string]string{"OMNICHAT_COOKIE_SECURE": "sometimes"}, nil, "OMNICHAT_COOKIE_SECURE"},
		{"phone region", map[string]string{"OMNICHAT_PHONE_REGION": "de"}, func(c Config) bool { return c.PhoneRegion == "DE" }, ""},
		{"phone region bad", map[string]string{"OMNICHAT_PHONE_REGION": "RUS"}, nil, "OMNICHAT_PHONE_REGION"},
		{"private addresses", map[string]string{"OMNICHAT_ALLOW_PRIVATE_ADDRESSES": "true"}, func(c Config) bool { return c.AllowPrivateAddresses }, ""},
		{"private addresses listed", map[string]string{"OMNICHAT_ALLOW_PRIVATE_ADDRESSES": "10.0.0.0/8, 127.0.0.1,::1"}, func(c Config) bool {
			return !c.AllowPrivateAddresses && len(c.AllowedAddresses) == 3 && c.AllowedAddresses[1].String() == "127.0.0.1/32" && c.AllowedAddresses[2].String() == "::1/128"
		}, ""},
		{"private addresses bad", map[string]string{"OMNICHAT_ALLOW_PRIVATE_ADDRESSES": "yes please"}, nil, "OMNICHAT_ALLOW_PRIVATE_ADDRESSES"},
		{"private downloads, the old name", map[string]string{"OMNICHAT_ALLOW_PRIVATE_DOWNLOADS": "true"}, func(c Config) bool { return c.AllowPrivateAddresses }, ""},
		{"the new name wins", map[string]string{"OMNICHAT_ALLOW_PRIVATE_DOWNLOADS": "true", "OMNICHAT_ALLOW_PRIVATE_ADDRESSES": "false"}, func(c Config) bool { return !c.AllowPrivateAddresses }, ""},
		{"private downloads bad", map[string]string{"OMNICHAT_ALLOW_PRIVATE_DOWNLOADS": "yes please"}, nil, "OMNICHAT_ALLOW_PRIVATE_DOWNLOADS"},
		{"dev providers", map[string]string{"OMNICHAT_DEV_PROVIDERS": "true"}, func(c Config) bool { return c.DevProviders }, ""},
		{"dev providers bad", map[string]string{"OMNICHAT_DEV_PROVIDERS": "on"}, nil, "OMNICHAT_DEV_PROVIDERS"},
		{"proxies", map[string]string{"OMNICHAT_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1,::1"}, func(c Config) bool {
			return len(c.TrustedProxies) == 3 && c.TrustedProxies[1].String() == "127.0.0.1/32" && c.TrustedProxies[2].String() == "::1/128"
		}, ""},
		{"proxies bad", map[string]string{"OMNICHAT_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, nil, "OMNICHAT_TRUSTED_PROXIES"},
		{"body timeouts", map[string]string{"OMNICHAT_BODY_TIMEOUT": "5s", "OMNICHAT_UPLOAD_TIMEOUT": "2m"}, func(c Config) bool {
			return c.BodyTimeout == 5*time.Second && c.UploadTimeout == 2*time.Minute
		}, ""},
		{"body timeout default", map[string]string{}, func(c Config) bool {
			return c.BodyTimeout == 30*time.Second && c.UploadTimeout == 10*time.Minute && c.MaxRequestsPerAddress == 100
		}, ""},
		{"body timeout bad", map[string]string{"OMNICHAT_BODY_TIMEOUT": "30"}, nil, "OMNICHAT_BODY_TIMEOUT"},
		{"upload timeout bad", map[string]string{"OMNICHAT_UPLOAD_TIMEOUT": "-1m"}, nil, "OMNICHAT_UPLOAD_TIMEOUT"},
		{"requests per address off", map[string]string{"OMNICHAT_MAX_REQUESTS_PER_ADDRESS": "0"}, func(c Config) bool { return c.MaxRequestsPerAddress == 0 }, ""},
		{"requests per address bad", map[string]string{"OMNICHAT_MAX_REQUESTS_PER_ADDRESS": "-3"}, nil, "OMNICHAT_MAX_REQUESTS_PER_ADDRESS"},
		{"upload budgets", map[string]string{"OMNICHAT_WIDGET_UPLOAD_BUDGET_ADDRESS": "1000", "OMNICHAT_WIDGET_UPLOAD_BUDGET_CHANNEL": "5000", "OMNICHAT_WIDGET_UPLOAD_BUDGET_WINDOW": "10m", "OMNICHAT_WIDGET_UPLOAD_MAX_AGE": "5m"}, func(c Config) bool {
			return c.WidgetUploadBudgetAddress == 1000 && c.WidgetUploadBudgetChannel == 5000 && c.WidgetUploadBudgetWindow == 10*time.Minute && c.WidgetUploadMaxAge == 5*time.Minute
		}, ""},
		{"upload budget defaults", nil, func(c Config) bool {
			return c.WidgetUploadBudgetAddress == 100<<20 && c.WidgetUploadBudgetChannel == 2<<30 && c.WidgetUploadBudgetWindow == time.Hour && c.WidgetUploadMaxAge == 15*time.Minute
		}, ""},
		{"upload budget bad", map[string]string{"OMNICHAT_WIDGET_UPLOAD_BUDGET_ADDRESS": "-1"}, nil, "OMNICHAT_WIDGET_UPLOAD_BUDGET_ADDRESS"},
		{"upload window bad", map[string]string{"OMNICHAT_WIDGET_UPLOAD_BUDGET_WINDOW": "1ms"}, nil, "OMNICHAT_WIDGET_UPLOAD_BUDGET_WINDOW"},
		{"upload max age bad", map[string]string{"OMNICHAT_WIDGET_UPLOAD_MAX_AGE": "soon"}, nil, "OMNICHAT_WIDGET_UPLOAD_MAX_AGE"},
		{"blank means default", map[string]string{"OMNICHAT_WORKERS": "  "}, func(c Config) bool { return c.Workers == 20 }, ""},
		{"files postgres", map[string]string{"OMNICHAT_FILES": "postgres"}, func(c Config) bool { return c.Files == FilesPostgres }, ""},
		{"files bad", map[string]string{"OMNICHAT_FILES": "nfs"}, nil, "OMNICHAT_FILES"},
		{"s3", s3Env(nil), func(c Config) bool {
			return c.Files == FilesS3 && c.S3 == S3{Endpoint: "minio.local:9000", Bucket: "files", Region: "eu-1",
				AccessKey: "AKID", SecretKey: "s3secretpw", TLS: false, PathStyle: true}
		}, ""},
		{"s3 tls default", s3Env(map[string]string{"OMNICHAT_S3_TLS": "", "OMNICHAT_S3_PATH_STYLE": "", "OMNICHAT_S3_REGION": ""}), func(c Config) bool {
			return c.S3.TLS && !c.S3.PathStyle && c.S3.Region == ""
		}, ""},
		{"s3 settings ignored for dir", map[string]string{"OMNICHAT_S3_ENDPOINT": "https://x/"}, func(c Config) bool { return c.Files == FilesDir }, ""},
		{"s3 no endpoint", s3Env(map[string]string{"OMNICHAT_S3_ENDPOINT": ""}), nil, "OMNICHAT_S3_ENDPOINT"},
		{"s3 endpoint url", s3Env(map[string]string{"OMNICHAT_S3_ENDPOINT": "https://minio.local"}), nil, "OMNICHAT_S3_ENDPOINT"},
		{"s3 no bucket", s3Env(map[string]string{"OMNICHAT_S3_BUCKET": ""}), nil, "OMNICHAT_S3_BUCKET"},
		{"s3 no access key", s3Env(map[string]string{"OMNICHAT_S3_ACCESS_KEY": ""}), nil, "OMNICHAT_S3_ACCESS_KEY"},
		{"s3 no secret key", s3Env(map[string]string{"OMNICHAT_S3_SECRET_KEY": ""}), nil, "OMNICHAT_S3_SECRET_KEY"},
		{"s3 region", s3Env(map[string]string{"OMNICHAT_S3_REGION": "us-west-2"}), func(c Config) bool { return c.S3.Region == "us-west-2" }, ""},
		{"s3 tls bad", s3Env(map[string]string{"OMNICHAT_S3_TLS": "maybe"}), nil, "OMNICHAT_S3_TLS"},
		{"s3 path style bad", s3Env(map[string]string{"OMNICHAT_S3_PATH_STYLE": "maybe"}), nil, "OMNICHAT_S3_PATH_STYLE"},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		for k := range tc.env {
			covered[k] = true
		}
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(tc.env)
			if tc.bad == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if !tc.check(c) {
					t.Fatalf("wrong value: %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %v", tc.env)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.bad) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line starting with %s", msg, tc.bad)
			}
			if strings.Contains(msg, "secretpw") {
				t.Fatalf("error %q leaks a password", msg)
			}
		})
	}
	for _, v := range Vars {
		if !covered[v.Name] {
			t.Errorf("%s has no case in this table", v.Name)
		}
	}
}

// s3Env is a complete OMNICHAT_FILES=s3 setting with some values replaced.
func s3Env(change map[string]string) map[string]string {
	env := map[string]string{"OMNICHAT_FILES": "s3", "OMNICHAT_S3_ENDPOINT": "minio.local:9000", "OMNICHAT_S3_BUCKET": "files",
		"OMNICHAT_S3_REGION": "eu-1", "OMNICHAT_S3_ACCESS_KEY": "AKID", "OMNICHAT_S3_SECRET_KEY": "s3secretpw",
		"OMNICHAT_S3_TLS": "false", "OMNICHAT_S3_PATH_STYLE": "true"}
	for k, v := range change {
		env[k] = v
	}
	return env
}

func TestStringMasksSecrets(t *testing.T) {
	c, err := load(map[string]string{
		"OMNICHAT_DATABASE_URL":   "postgres://omni:dbsecret@db/omni",
		"OMNICHAT_ADMIN_EMAIL":    "a@b.c",
		"OMNICHAT_ADMIN_PASSWORD": "adminsecret",
		"OMNICHAT_SECRET_KEY":     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	for _, secret := range []string{"dbsecret", "adminsecret", "\x1f"} {
		if strings.Contains(s, secret) {
			t.Errorf("String() leaks %q: %s", secret, s)
		}
	}
	if !strings.Contains(s, "omni:xxxxx@db") {
		t.Errorf("String() = %s, want the redacted database URL", s)
	}
}

// The README's configuration table names every variable.
func TestReadmeListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Vars {
		if !strings.Contains(string(b), "`"+v.Name+"`") {
			t.Errorf("README.md does not list %s", v.Name)
		}
	}
}
