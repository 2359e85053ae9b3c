package channel

import (
	"encoding/json"
	"testing"
)

// An update that leaves department_id out must keep the channel's department; null clears it.
func TestInputDepartmentAbsentNullOrSet(t *testing.T) {
	for _, tc := range []struct {
		body    string
		set     bool
		wantNil bool
		want    int64
	}{
		{`{"name":"x"}`, false, true, 0},
		{`{"department_id":null}`, true, true, 0},
		{`{"department_id":7}`, true, false, 7},
	} {
		var in Input
		if err := json.Unmarshal([]byte(tc.body), &in); err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		d := in.DepartmentID
		if d.Set != tc.set || (d.ID == nil) != tc.wantNil || (d.ID != nil && *d.ID != tc.want) {
			t.Errorf("%s: got set=%v id=%v", tc.body, d.Set, d.ID)
		}
	}
	var in Input
	if err := json.Unmarshal([]byte(`{"department_id":"seven"}`), &in); err == nil {
		t.Error("a non-numeric department_id was accepted")
	}
}
