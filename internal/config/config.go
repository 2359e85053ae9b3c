// Package config reads omnichat's environment variables into one validated struct.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Config is every setting omnichat takes from its environment.
type Config struct {
	HTTPAddr       string        // OMNICHAT_HTTP_ADDR
	DatabaseURL    string        // OMNICHAT_DATABASE_URL; empty = embedded cluster
	DataDir        string        // OMNICHAT_DATA_DIR
	PublicURL      string        // OMNICHAT_PUBLIC_URL (no trailing slash)
	AdminEmail     string        // OMNICHAT_ADMIN_EMAIL
	AdminPassword  string        // OMNICHAT_ADMIN_PASSWORD
	SecretKey      []byte        // OMNICHAT_SECRET_KEY (32 bytes); empty = generated into DataDir
	OldSecretKeys  [][]byte      // OMNICHAT_SECRET_KEY_OLD: keys still accepted for decryption (rotation)
	LogLevel       slog.Level    // OMNICHAT_LOG_LEVEL
	LogFormat      string        // OMNICHAT_LOG_FORMAT: text|json
	WebhookMaxBody int64         // OMNICHAT_WEBHOOK_MAX_BYTES
	UploadMaxBody  int64         // OMNICHAT_UPLOAD_MAX_BYTES
	SessionTTL     time.Duration // OMNICHAT_SESSION_TTL
	DBMaxConns     int32         // OMNICHAT_DB_MAX_CONNS
	Workers        int           // OMNICHAT_WORKERS: River workers per instance
	CookieSecure   bool          // OMNICHAT_COOKIE_SECURE (default: true when PublicURL is https)
	PhoneRegion    string        // OMNICHAT_PHONE_REGION: default region for numbers without +
	// TrustedProxies are reverse proxies whose X-Forwarded-For is believed
	// (OMNICHAT_TRUSTED_PROXIES); empty = the caller is the connection's peer.
	TrustedProxies []*net.IPNet
	// AllowPrivateDownloads lets attachment downloads reach private networks
	// (OMNICHAT_ALLOW_PRIVATE_DOWNLOADS); for tests and local fake platforms.
	AllowPrivateDownloads bool
	// DevProviders registers the demo example provider (OMNICHAT_DEV_PROVIDERS): for
	// development and `omnichat-dev loadtest --url`, never in production.
	DevProviders bool
}

// Var describes one environment variable (the README's table is generated from the same facts).
type Var struct {
	Name, Default, Help string
}

// Vars lists every variable with its default.
var Vars = []Var{
	{"OMNICHAT_HTTP_ADDR", "127.0.0.1:8080", "address to listen on"},
	{"OMNICHAT_DATABASE_URL", "", "PostgreSQL URL; unset = a private cluster under OMNICHAT_DATA_DIR/pg"},
	{"OMNICHAT_DATA_DIR", "./var", "data directory: embedded cluster, files, generated secret key"},
	{"OMNICHAT_PUBLIC_URL", "http://<OMNICHAT_HTTP_ADDR>", "base URL platforms and browsers reach omnichat at (webhooks are registered under it)"},
	{"OMNICHAT_ADMIN_EMAIL", "", "with OMNICHAT_ADMIN_PASSWORD: create this admin at start if missing"},
	{"OMNICHAT_ADMIN_PASSWORD", "", "the bootstrap admin's password"},
	{"OMNICHAT_SECRET_KEY", "", "32-byte key (hex or base64) encrypting channel secrets; unset = generated into OMNICHAT_DATA_DIR/secret.key"},
	{"OMNICHAT_SECRET_KEY_OLD", "", "comma-separated previous keys, still accepted for decryption during key rotation"},
	{"OMNICHAT_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"OMNICHAT_LOG_FORMAT", "text", "text or json"},
	{"OMNICHAT_WEBHOOK_MAX_BYTES", "1048576", "largest webhook body accepted"},
	{"OMNICHAT_UPLOAD_MAX_BYTES", "52428800", "largest operator upload (a provider may set a lower cap)"},
	{"OMNICHAT_SESSION_TTL", "720h", "how long a sign-in lasts"},
	{"OMNICHAT_DB_MAX_CONNS", "8", "database pool size (throughput peaks near 2 x cores)"},
	{"OMNICHAT_WORKERS", "20", "concurrent background jobs per instance"},
	{"OMNICHAT_COOKIE_SECURE", "auto", "mark cookies Secure: true, false, or auto (true when the public URL is https)"},
	{"OMNICHAT_PHONE_REGION", "RU", "region for phone numbers written without a country code"},
	{"OMNICHAT_TRUSTED_PROXIES", "", "comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For names the client (sign-in limits, logs); unset = the direct peer"},
	{"OMNICHAT_ALLOW_PRIVATE_DOWNLOADS", "false", "let attachment downloads reach loopback/private addresses (tests, local fakes)"},
	{"OMNICHAT_DEV_PROVIDERS", "false", "offer the demo example channel kind (development, omnichat-dev loadtest --url); never in production"},
}

// FromEnv reads the process environment.
func FromEnv() (Config, error) { return Load(os.LookupEnv) }

// Load reads variables through lookup and validates them. The error is one line naming
// the variable.
func Load(lookup func(string) (string, bool)) (Config, error) {
	get := func(name string) string {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		for _, v := range Vars {
			if v.Name == name {
				return v.Default
			}
		}
		return ""
	}
	var c Config
	var err error
	c.HTTPAddr = get("OMNICHAT_HTTP_ADDR")
	if _, port, e := net.SplitHostPort(c.HTTPAddr); e != nil || !validPort(port) {
		return c, fmt.Errorf("OMNICHAT_HTTP_ADDR=%q: want host:port, like 127.0.0.1:8080", c.HTTPAddr)
	}
	c.DatabaseURL = get("OMNICHAT_DATABASE_URL")
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") && !strings.Contains(c.DatabaseURL, "=") {
		return c, fmt.Errorf("OMNICHAT_DATABASE_URL: want a postgres:// URL or a key=value connection string")
	}
	c.DataDir = get("OMNICHAT_DATA_DIR")
	c.PublicURL = get("OMNICHAT_PUBLIC_URL")
	if c.PublicURL == "http://<OMNICHAT_HTTP_ADDR>" {
		c.PublicURL = "http://" + c.HTTPAddr
	}
	u, e := url.Parse(c.PublicURL)
	if e != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("OMNICHAT_PUBLIC_URL=%q: want an absolute http(s) URL", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	c.AdminEmail = get("OMNICHAT_ADMIN_EMAIL")
	c.AdminPassword = get("OMNICHAT_ADMIN_PASSWORD")
	switch {
	case c.AdminEmail != "" && c.AdminPassword == "":
		return c, fmt.Errorf("OMNICHAT_ADMIN_PASSWORD is not set: OMNICHAT_ADMIN_EMAIL needs it (set both or neither)")
	case c.AdminEmail == "" && c.AdminPassword != "":
		return c, fmt.Errorf("OMNICHAT_ADMIN_EMAIL is not set: OMNICHAT_ADMIN_PASSWORD needs it (set both or neither)")
	}
	if c.AdminEmail != "" && !strings.Contains(c.AdminEmail, "@") {
		return c, fmt.Errorf("OMNICHAT_ADMIN_EMAIL=%q: not an email address", c.AdminEmail)
	}
	// The same rule as auth.ValidatePassword, checked here so a short bootstrap password
	// is reported against its variable instead of failing later at start.
	if n := utf8.RuneCountInString(c.AdminPassword); c.AdminPassword != "" && (n < minAdminPassword || len(c.AdminPassword) > maxAdminPassword) {
		return c, fmt.Errorf("OMNICHAT_ADMIN_PASSWORD: want %d to %d characters", minAdminPassword, maxAdminPassword)
	}
	if k := get("OMNICHAT_SECRET_KEY"); k != "" {
		if c.SecretKey, err = ParseKey(k); err != nil {
			return c, fmt.Errorf("OMNICHAT_SECRET_KEY: %v", err)
		}
	}
	if ks := get("OMNICHAT_SECRET_KEY_OLD"); ks != "" {
		for _, k := range strings.Split(ks, ",") {
			key, err := ParseKey(strings.TrimSpace(k))
			if err != nil {
				return c, fmt.Errorf("OMNICHAT_SECRET_KEY_OLD: %v", err)
			}
			c.OldSecretKeys = append(c.OldSecretKeys, key)
		}
	}
	if e := c.LogLevel.UnmarshalText([]byte(get("OMNICHAT_LOG_LEVEL"))); e != nil {
		return c, fmt.Errorf("OMNICHAT_LOG_LEVEL=%q: want debug, info, warn or error", get("OMNICHAT_LOG_LEVEL"))
	}
	c.LogFormat = get("OMNICHAT_LOG_FORMAT")
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("OMNICHAT_LOG_FORMAT=%q: want text or json", c.LogFormat)
	}
	if c.WebhookMaxBody, err = positiveInt("OMNICHAT_WEBHOOK_MAX_BYTES", get); err != nil {
		return c, err
	}
	if c.UploadMaxBody, err = positiveInt("OMNICHAT_UPLOAD_MAX_BYTES", get); err != nil {
		return c, err
	}
	if c.SessionTTL, e = time.ParseDuration(get("OMNICHAT_SESSION_TTL")); e != nil || c.SessionTTL < time.Minute {
		return c, fmt.Errorf("OMNICHAT_SESSION_TTL=%q: want a duration of at least 1m, like 720h", get("OMNICHAT_SESSION_TTL"))
	}
	n, err := positiveInt("OMNICHAT_DB_MAX_CONNS", get)
	if err != nil {
		return c, err
	}
	c.DBMaxConns = int32(min(n, 1000))
	n, err = positiveInt("OMNICHAT_WORKERS", get)
	if err != nil {
		return c, err
	}
	c.Workers = int(min(n, 10000))
	switch v := get("OMNICHAT_COOKIE_SECURE"); v {
	case "auto":
		c.CookieSecure = u.Scheme == "https"
	default:
		if c.CookieSecure, e = strconv.ParseBool(v); e != nil {
			return c, fmt.Errorf("OMNICHAT_COOKIE_SECURE=%q: want true, false or auto", v)
		}
	}
	c.PhoneRegion = strings.ToUpper(get("OMNICHAT_PHONE_REGION"))
	if len(c.PhoneRegion) != 2 {
		return c, fmt.Errorf("OMNICHAT_PHONE_REGION=%q: want a two-letter region code like RU", c.PhoneRegion)
	}
	if v := get("OMNICHAT_TRUSTED_PROXIES"); v != "" {
		for _, item := range strings.Split(v, ",") {
			n, err := parseNet(strings.TrimSpace(item))
			if err != nil {
				return c, fmt.Errorf("OMNICHAT_TRUSTED_PROXIES: %q is not an IP address or CIDR", strings.TrimSpace(item))
			}
			c.TrustedProxies = append(c.TrustedProxies, n)
		}
	}
	if c.AllowPrivateDownloads, e = strconv.ParseBool(get("OMNICHAT_ALLOW_PRIVATE_DOWNLOADS")); e != nil {
		return c, fmt.Errorf("OMNICHAT_ALLOW_PRIVATE_DOWNLOADS: want true or false")
	}
	if c.DevProviders, e = strconv.ParseBool(get("OMNICHAT_DEV_PROVIDERS")); e != nil {
		return c, fmt.Errorf("OMNICHAT_DEV_PROVIDERS: want true or false")
	}
	return c, nil
}

// parseNet reads "10.0.0.0/8" or a single address ("10.0.0.1", "::1").
func parseNet(s string) (*net.IPNet, error) {
	if strings.Contains(s, "/") {
		_, n, err := net.ParseCIDR(s)
		return n, err
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, fmt.Errorf("bad address %q", s)
	}
	bits := 128
	if ip.To4() != nil {
		ip, bits = ip.To4(), 32
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
}

const minAdminPassword, maxAdminPassword = 8, 200

// validPort accepts a port number (0 = any free port) or a service name like "http".
func validPort(p string) bool {
	if p == "" {
		return false
	}
	if n, err := strconv.Atoi(p); err == nil {
		return n >= 0 && n <= 65535
	}
	_, err := net.LookupPort("tcp", p)
	return err == nil
}

func positiveInt(name string, get func(string) string) (int64, error) {
	n, err := strconv.ParseInt(get(name), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive whole number", name, get(name))
	}
	return n, nil
}

// ParseKey decodes a 32-byte key written as hex or base64.
func ParseKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, fmt.Errorf("want 32 bytes as 64 hex digits or base64")
}

// String prints the config with secrets masked.
func (c Config) String() string {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "***"
	}
	db := "embedded"
	if c.DatabaseURL != "" {
		db = redactURL(c.DatabaseURL)
	}
	return fmt.Sprintf("addr=%s public=%s db=%s data=%s admin=%s password=%s secret_key=%s",
		c.HTTPAddr, c.PublicURL, db, c.DataDir, c.AdminEmail, mask(c.AdminPassword), mask(string(c.SecretKey)))
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if strings.Contains(s, "password=") {
			return "(connection string with password)"
		}
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
