package viber

import "testing"

func TestOwnContact(t *testing.T) {
	for _, c := range []struct {
		contact, sender string
		want            bool
	}{
		{"Ivan Petrov", "Ivan Petrov", true},
		{" ivan  petrov ", "Ivan Petrov", true},
		{"Mum", "Ivan Petrov", false},
		{"", "", false},
		{"", "Ivan Petrov", false},
	} {
		if got := ownContact(c.contact, c.sender); got != c.want {
			t.Errorf("ownContact(%q, %q) = %v, want %v", c.contact, c.sender, got, c.want)
		}
	}
}
