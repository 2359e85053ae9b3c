// Package config reads omnichat's environment variables into one validated struct.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
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
	// AllowPrivateAddresses lets outbound connections (platform API calls, proxies,
	// attachment downloads) reach loopback, private and link-local addresses
	// (OMNICHAT_ALLOW_PRIVATE_ADDRESSES, formerly OMNICHAT_ALLOW_PRIVATE_DOWNLOADS); for tests
	// and local fake platforms.
	AllowPrivateAddresses bool
	// AllowedAddresses are the only non-public networks outbound connections may reach when
	// OMNICHAT_ALLOW_PRIVATE_ADDRESSES lists them instead of saying true.
	AllowedAddresses []netip.Prefix
	// BodyTimeout bounds receiving one request body (OMNICHAT_BODY_TIMEOUT); multipart
	// uploads get UploadTimeout (OMNICHAT_UPLOAD_TIMEOUT).
	BodyTimeout   time.Duration
	UploadTimeout time.Duration
	// MaxRequestsPerAddress caps one client address's requests in progress on an instance
	// (OMNICHAT_MAX_REQUESTS_PER_ADDRESS); 0 = no cap.
	MaxRequestsPerAddress int
	// Widget upload budgets: bytes anonymous visitors may upload per client address and per
	// channel within one window, shared by all instances; and how long an upload not sent
	// with a message is kept.
	WidgetUploadBudgetAddress int64         // OMNICHAT_WIDGET_UPLOAD_BUDGET_ADDRESS
	WidgetUploadBudgetChannel int64         // OMNICHAT_WIDGET_UPLOAD_BUDGET_CHANNEL
	WidgetUploadBudgetWindow  time.Duration // OMNICHAT_WIDGET_UPLOAD_BUDGET_WINDOW
	WidgetUploadMaxAge        time.Duration // OMNICHAT_WIDGET_UPLOAD_MAX_AGE
	// Files is where attachments are kept (OMNICHAT_FILES): dir, postgres or s3.
	Files string
	S3    S3 // OMNICHAT_S3_*: the bucket when Files is s3
	// DevProviders registers the demo example provider (OMNICHAT_DEV_PROVIDERS): for
	// development and `omnichat-dev loadtest --url`, never in production.
	DevProviders bool
}

// Attachment stores (OMNICHAT_FILES).
const (
	FilesDir      = "dir"      // OMNICHAT_DATA_DIR/files: one instance
	FilesPostgres = "postgres" // in the database: every instance reaches it
	FilesS3       = "s3"       // an S3-compatible bucket
)

// S3 says where the S3-compatible bucket is (OMNICHAT_S3_*).
type S3 struct {
	Endpoint, Bucket, Region, AccessKey, SecretKey string
	TLS, PathStyle                                 bool
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
	{"OMNICHAT_ALLOW_PRIVATE_ADDRESSES", "false", "let platform API calls, proxies and attachment downloads reach loopback/private/link-local addresses: true, false, or comma-separated IPs/CIDRs allowed (old name OMNICHAT_ALLOW_PRIVATE_DOWNLOADS still read)"},
	{"OMNICHAT_BODY_TIMEOUT", "30s", "time allowed to receive a request body (JSON, forms, webhooks); a slower one is cut off"},
	{"OMNICHAT_UPLOAD_TIMEOUT", "10m", "time allowed to receive a multipart upload"},
	{"OMNICHAT_MAX_REQUESTS_PER_ADDRESS", "100", "requests one client address may have in progress on an instance (event streams not counted); over it: 429; 0 = no cap"},
	{"OMNICHAT_WIDGET_UPLOAD_BUDGET_ADDRESS", "104857600", "bytes the widget's visitors may upload from one client address per budget window (all instances together)"},
	{"OMNICHAT_WIDGET_UPLOAD_BUDGET_CHANNEL", "2147483648", "bytes the widget's visitors may upload to one channel per budget window (all instances together)"},
	{"OMNICHAT_WIDGET_UPLOAD_BUDGET_WINDOW", "1h", "the window of the widget upload budgets"},
	{"OMNICHAT_WIDGET_UPLOAD_MAX_AGE", "15m", "how long a widget upload not sent with a message is kept"},
	{"OMNICHAT_FILES", "dir", "where attachments are kept: dir (OMNICHAT_DATA_DIR/files, one instance), postgres (in the database, every instance) or s3 (OMNICHAT_S3_*)"},
	{"OMNICHAT_S3_ENDPOINT", "", "with OMNICHAT_FILES=s3: the S3-compatible server as host[:port], like s3.eu-central-1.amazonaws.com"},
	{"OMNICHAT_S3_BUCKET", "", "with OMNICHAT_FILES=s3: the bucket (it must exist)"},
	{"OMNICHAT_S3_REGION", "", "the bucket's region; unset = the server's default"},
	{"OMNICHAT_S3_ACCESS_KEY", "", "with OMNICHAT_FILES=s3: the access key id"},
	{"OMNICHAT_S3_SECRET_KEY", "", "with OMNICHAT_FILES=s3: the secret access key (never logged)"},
	{"OMNICHAT_S3_TLS", "true", "reach the S3 server over https"},
	{"OMNICHAT_S3_PATH_STYLE", "false", "address the bucket as endpoint/bucket (most self-hosted servers); false = chosen by the endpoint"},
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
	// The old name still works: deployments and scripts set it before it covered more.
	name := "OMNICHAT_ALLOW_PRIVATE_ADDRESSES"
	if v, ok := lookup(name); !ok || strings.TrimSpace(v) == "" {
		if v, ok := lookup("OMNICHAT_ALLOW_PRIVATE_DOWNLOADS"); ok && strings.TrimSpace(v) != "" {
			name = "OMNICHAT_ALLOW_PRIVATE_DOWNLOADS"
		}
	}
	if c.AllowPrivateAddresses, c.AllowedAddresses, e = parseAllowPrivate(get(name)); e != nil {
		return c, fmt.Errorf("%s: want true, false or comma-separated IPs/CIDRs", name)
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"OMNICHAT_BODY_TIMEOUT", &c.BodyTimeout}, {"OMNICHAT_UPLOAD_TIMEOUT", &c.UploadTimeout}} {
		if *d.to, e = time.ParseDuration(get(d.name)); e != nil || *d.to < 100*time.Millisecond {
			return c, fmt.Errorf("%s=%q: want a duration like 30s", d.name, get(d.name))
		}
	}
	if c.MaxRequestsPerAddress, e = strconv.Atoi(get("OMNICHAT_MAX_REQUESTS_PER_ADDRESS")); e != nil || c.MaxRequestsPerAddress < 0 {
		return c, fmt.Errorf("OMNICHAT_MAX_REQUESTS_PER_ADDRESS=%q: want a whole number (0 = no cap)", get("OMNICHAT_MAX_REQUESTS_PER_ADDRESS"))
	}
	if c.WidgetUploadBudgetAddress, err = positiveInt("OMNICHAT_WIDGET_UPLOAD_BUDGET_ADDRESS", get); err != nil {
		return c, err
	}
	if c.WidgetUploadBudgetChannel, err = positiveInt("OMNICHAT_WIDGET_UPLOAD_BUDGET_CHANNEL", get); err != nil {
		return c, err
	}
	if c.WidgetUploadBudgetWindow, e = time.ParseDuration(get("OMNICHAT_WIDGET_UPLOAD_BUDGET_WINDOW")); e != nil || c.WidgetUploadBudgetWindow < time.Second {
		return c, fmt.Errorf("OMNICHAT_WIDGET_UPLOAD_BUDGET_WINDOW=%q: want a duration of at least 1s, like 1h", get("OMNICHAT_WIDGET_UPLOAD_BUDGET_WINDOW"))
	}
	if c.WidgetUploadMaxAge, e = time.ParseDuration(get("OMNICHAT_WIDGET_UPLOAD_MAX_AGE")); e != nil || c.WidgetUploadMaxAge < time.Second {
		return c, fmt.Errorf("OMNICHAT_WIDGET_UPLOAD_MAX_AGE=%q: want a duration of at least 1s, like 15m", get("OMNICHAT_WIDGET_UPLOAD_MAX_AGE"))
	}
	if err := loadFiles(&c, get); err != nil {
		return c, err
	}
	if c.DevProviders, e = strconv.ParseBool(get("OMNICHAT_DEV_PROVIDERS")); e != nil {
		return c, fmt.Errorf("OMNICHAT_DEV_PROVIDERS: want true or false")
	}
	return c, nil
}

// parseAllowPrivate reads true, false or a list of IPs and CIDRs.
func parseAllowPrivate(v string) (bool, []netip.Prefix, error) {
	if b, err := strconv.ParseBool(v); err == nil {
		return b, nil, nil
	}
	var out []netip.Prefix
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		p, err := netip.ParsePrefix(item)
		if err != nil {
			a, aerr := netip.ParseAddr(item)
			if aerr != nil {
				return false, nil, aerr
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return false, out, nil
}

// loadFiles reads OMNICHAT_FILES and, for s3, the bucket's settings.
func loadFiles(c *Config, get func(string) string) error {
	c.Files = strings.ToLower(get("OMNICHAT_FILES"))
	switch c.Files {
	case FilesDir, FilesPostgres:
		return nil
	case FilesS3:
	default:
		return fmt.Errorf("OMNICHAT_FILES=%q: want dir, postgres or s3", c.Files)
	}
	var err error
	s := &c.S3
	s.Endpoint, s.Bucket, s.Region = get("OMNICHAT_S3_ENDPOINT"), get("OMNICHAT_S3_BUCKET"), get("OMNICHAT_S3_REGION")
	s.AccessKey, s.SecretKey = get("OMNICHAT_S3_ACCESS_KEY"), get("OMNICHAT_S3_SECRET_KEY")
	switch {
	case s.Endpoint == "":
		return fmt.Errorf("OMNICHAT_S3_ENDPOINT is not set: OMNICHAT_FILES=s3 needs it")
	case strings.Contains(s.Endpoint, "/"):
		return fmt.Errorf("OMNICHAT_S3_ENDPOINT=%q: want host[:port] without a scheme or path (https is OMNICHAT_S3_TLS)", s.Endpoint)
	case s.Bucket == "":
		return fmt.Errorf("OMNICHAT_S3_BUCKET is not set: OMNICHAT_FILES=s3 needs it")
	case s.AccessKey == "":
		return fmt.Errorf("OMNICHAT_S3_ACCESS_KEY is not set: OMNICHAT_FILES=s3 needs it")
	case s.SecretKey == "":
		return fmt.Errorf("OMNICHAT_S3_SECRET_KEY is not set: OMNICHAT_FILES=s3 needs it")
	}
	if s.TLS, err = strconv.ParseBool(get("OMNICHAT_S3_TLS")); err != nil {
		return fmt.Errorf("OMNICHAT_S3_TLS: want true or false")
	}
	if s.PathStyle, err = strconv.ParseBool(get("OMNICHAT_S3_PATH_STYLE")); err != nil {
		return fmt.Errorf("OMNICHAT_S3_PATH_STYLE: want true or false")
	}
	return nil
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
