package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers/example"
)

// TestListsPageByKeyset: dialogs page by last activity with a cursor, messages by id;
// every item appears once, in order; a search finds a visitor's words.
func TestListsPageByKeyset(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{})
	admin := inst.Admin(t)
	fake, ch := exampleChannel(t, inst, admin)
	// Platform times have second precision and a new dialog starts at its creation time, so
	// the later messages carry times safely after it (within the minute of clock skew ingest
	// accepts).
	base := time.Now()
	for i := range 5 {
		user := fmt.Sprintf("u-%d", i)
		deliver(t, fake, example.NewMessageUpdate(int64(100+i), int64(100+i), user, "", "Visitor", fmt.Sprint(i), fmt.Sprintf("question number %d", i), base.Add(time.Duration(i)*time.Second)))
	}
	// Visitor 0 writes again, last: their dialog moves to the top.
	for j := range 4 {
		deliver(t, fake, example.NewMessageUpdate(int64(200+j), int64(200+j), "u-0", "", "Visitor", "0", fmt.Sprintf("more %d", j), base.Add(time.Duration(20+j)*time.Second)))
	}

	type page struct {
		Dialogs []store.Dialog `json:"dialogs"`
		Next    string         `json:"next"`
	}
	var order []string
	seen := map[int64]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		var p page
		admin.Must(t, "GET", apptest.Path("/api/v1/dialogs?limit=2&channel=%d&cursor=%s", ch.ID, cursor), nil, &p)
		for _, d := range p.Dialogs {
			if seen[d.ID] {
				t.Fatalf("dialog %d on two pages", d.ID)
			}
			seen[d.ID] = true
			order = append(order, d.Visitor.ExternalID)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	want := []string{"u-0", "u-4", "u-3", "u-2", "u-1"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("dialog order %v, want %v", order, want)
	}

	var found page
	admin.Must(t, "GET", "/api/v1/dialogs?q=number", nil, &found)
	if len(found.Dialogs) != 5 {
		t.Errorf("search for a word of every first message found %d dialogs", len(found.Dialogs))
	}
	admin.Must(t, "GET", "/api/v1/dialogs?q=more", nil, &found)
	if len(found.Dialogs) != 1 || found.Dialogs[0].Visitor.ExternalID != "u-0" {
		t.Errorf("search for visitor 0's words: %+v", found.Dialogs)
	}

	// Messages of visitor 0's dialog: 5, newest first; older pages with before=, newer with after=.
	var d page
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs?limit=1&channel=%d", ch.ID), nil, &d)
	dialogID := d.Dialogs[0].ID
	var msgs struct {
		Messages []store.Message `json:"messages"`
	}
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages?limit=2", dialogID), nil, &msgs)
	if len(msgs.Messages) != 2 || msgs.Messages[0].Text != "more 3" || msgs.Messages[1].Text != "more 2" {
		t.Fatalf("newest page %+v", msgs.Messages)
	}
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages?limit=10&before=%d", dialogID, msgs.Messages[1].ID), nil, &msgs)
	if len(msgs.Messages) != 3 || msgs.Messages[0].Text != "more 1" || msgs.Messages[2].Text != "question number 0" {
		t.Fatalf("older page %+v", msgs.Messages)
	}
	first := msgs.Messages[2].ID
	admin.Must(t, "GET", apptest.Path("/api/v1/dialogs/%d/messages?limit=2&after=%d", dialogID, first), nil, &msgs)
	if len(msgs.Messages) != 2 || msgs.Messages[0].Text != "more 0" || msgs.Messages[1].Text != "more 1" {
		t.Fatalf("newer page %+v", msgs.Messages)
	}
}
