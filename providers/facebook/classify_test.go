package facebook

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	fb "github.com/huandu/facebook/v2"

	"github.com/omnichat/omnichat/providers"
)

func TestClassify(t *testing.T) {
	c := config{PageToken: "EAAVsecretPageToken123", AppID: "1517776481860111", AppSecret: "app-secret-xyz"}
	usage := func(minutes int) fb.Result {
		return fb.Result{"__usage__": &fb.UsageInfo{BusinessUseCase: fb.BusinessUseCaseUsage{
			"104620298745123": {{Type: "messenger", EstimatedTimeToRegainAccess: minutes}},
		}}}
	}
	type class int
	const (
		retry class = iota
		permanent
		rateLimited
	)
	cases := []struct {
		name     string
		err      error
		res      fb.Result
		want     class
		delay    time.Duration
		inReason string
	}{
		{name: "transient flag", err: &fb.Error{Code: 100, IsTransient: true}, want: retry},
		{name: "unknown error code 1", err: &fb.Error{Code: 1}, want: retry},
		{name: "service code 2", err: &fb.Error{Code: 2}, want: retry},
		{name: "temporary send failure", err: &fb.Error{Code: 1200}, want: retry},
		{name: "code we do not know", err: &fb.Error{Code: 99999}, want: retry},
		{name: "rate limit with usage header", err: &fb.Error{Code: 613}, res: usage(3), want: rateLimited, delay: 3 * time.Minute},
		{name: "app rate limit without header", err: &fb.Error{Code: 4}, want: rateLimited, delay: time.Minute},
		{name: "user rate limit", err: &fb.Error{Code: 17}, want: rateLimited, delay: time.Minute},
		{name: "page rate limit", err: &fb.Error{Code: 32}, res: usage(0), want: rateLimited, delay: time.Minute},
		{name: "outside the 24-hour window", err: &fb.Error{Code: 10, ErrorSubcode: 2018278}, want: permanent, inReason: "24-hour"},
		{name: "person unavailable", err: &fb.Error{Code: 551, ErrorSubcode: 1545041}, want: permanent, inReason: "isn't available"},
		{name: "no matching user", err: &fb.Error{Code: 100, ErrorSubcode: 2018001}, want: permanent, inReason: "no such Messenger user"},
		{name: "invalid parameter", err: &fb.Error{Code: 100, Message: "(#100) Param message[text] must be at most 2000 characters"}, want: permanent, inReason: "Param message[text]"},
		{name: "token revoked", err: &fb.Error{Code: 190, ErrorSubcode: 460}, want: permanent, inReason: "page access token"},
		{name: "permission", err: &fb.Error{Code: 200, ErrorSubcode: 2018028}, want: permanent, inReason: "permission"},
		{name: "permission code 10", err: &fb.Error{Code: 10}, want: permanent, inReason: "permission"},
		{name: "policy block", err: &fb.Error{Code: 368}, want: permanent, inReason: "policy"},
		{name: "HTTP 429 with Retry-After", err: fmt.Errorf("facebook: cannot reach facebook server; %w", &httpStatusError{Status: 429, RetryAfter: 7 * time.Second}), want: rateLimited, delay: 7 * time.Second},
		{name: "HTTP 429 without Retry-After", err: &httpStatusError{Status: 429}, want: rateLimited, delay: time.Minute},
		{name: "HTTP 502 page", err: &httpStatusError{Status: 502}, want: retry},
		{name: "not JSON", err: &fb.UnmarshalError{Message: "facebook: fail to parse facebook response"}, want: retry},
		{name: "network", err: &url.Error{Op: "Post", URL: "http://127.0.0.1:1/v23.0/me/messages", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, want: retry},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(c, tc.res, tc.err)
			if err == nil {
				t.Fatal("classify returned nil for a failure")
			}
			d, limited := providers.RetryDelay(err)
			switch tc.want {
			case retry:
				if providers.IsPermanent(err) || limited {
					t.Errorf("want a plain retryable error, got %T %v", err, err)
				}
			case rateLimited:
				if !limited || d != tc.delay {
					t.Errorf("want RetryAfter(%s), got limited=%v delay=%s (%v)", tc.delay, limited, d, err)
				}
			case permanent:
				if !providers.IsPermanent(err) {
					t.Fatalf("want Permanent, got %v", err)
				}
				if r := providers.PermanentReason(err); !strings.Contains(r, tc.inReason) {
					t.Errorf("reason %q should mention %q", r, tc.inReason)
				}
			}
			// The original error stays reachable for callers that look deeper.
			var fe *fb.Error
			if errors.As(tc.err, &fe) && !errors.As(err, &fe) {
				t.Error("classify lost the *facebook.Error")
			}
		})
	}

	t.Run("human agent window reason", func(t *testing.T) {
		ha := c
		ha.HumanAgent = true
		err := classify(ha, nil, &fb.Error{Code: 10, ErrorSubcode: 2018278})
		if r := providers.PermanentReason(err); !strings.Contains(r, "7 days") {
			t.Errorf("reason %q", r)
		}
	})
}

func TestClassifyScrubsSecrets(t *testing.T) {
	c := config{PageToken: "EAAVsecretPageToken123", AppID: "1517776481860111", AppSecret: "app-secret-xyz"}
	for _, err := range []error{
		// Session.Validate's message carries the token; server text might too.
		fmt.Errorf("facebook: invalid access token %s", c.PageToken),
		&fb.Error{Code: 100, Message: "(#100) bad token " + c.PageToken + " for app " + c.AppID + "|" + c.AppSecret},
		&fb.Error{Code: 2, Message: "echo " + c.AppSecret},
	} {
		got := classify(c, nil, err)
		for _, secret := range c.secrets() {
			if strings.Contains(got.Error(), secret) {
				t.Errorf("%q leaks %q", got.Error(), secret)
			}
			if r := providers.PermanentReason(got); strings.Contains(r, secret) {
				t.Errorf("reason %q leaks %q", r, secret)
			}
		}
		if !errors.Is(got, err) {
			t.Error("scrubbing broke the error chain")
		}
	}
	if s := fmt.Sprint(c); strings.Contains(s, c.PageToken) || strings.Contains(s, c.AppSecret) {
		t.Errorf("config prints secrets: %s", s)
	}
}

func TestMsTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		`1718022841521`:     time.UnixMilli(1718022841521).UTC(),
		`"1718022841521"`:   time.UnixMilli(1718022841521).UTC(),
		`"1718022841"`:      time.Unix(1718022841, 0).UTC(),
		`1.718022841521e12`: time.UnixMilli(1718022841521).UTC(),
		`0`:                 {},
		`null`:              {},
	} {
		var v msTime
		if err := v.UnmarshalJSON([]byte(in)); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !v.Time().Equal(want) {
			t.Errorf("%s: got %s, want %s", in, v.Time(), want)
		}
	}
	for _, in := range []string{`"soon"`, `true`, `{}`, `-5e20`} {
		var v msTime
		if err := v.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%s: want an error", in)
		}
	}
}
