package dialog

import "testing"

// An IPv6 client holds a whole /64, so its budget is the prefix's; IPv4 (also mapped into
// IPv6) is the address itself.
func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":                 "203.0.113.7",
		"::ffff:203.0.113.7":          "203.0.113.7",
		"2001:db8:1:2:aaaa::1":        "2001:db8:1:2::/64",
		"2001:db8:1:2:bbbb:cccc::999": "2001:db8:1:2::/64",
		"not an address":              "not an address",
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}
