package dialog_test

import (
	"context"
	"testing"
	"time"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// TestFetchUserInfoKeepsNamesNotFromThePlatform: the user lookup fills empty names and
// refreshes names the platform gave before, but never replaces a name the visitor typed
// (the names that came with the message) or one corrected since, and an empty answer
// blanks nothing.
func TestFetchUserInfoKeepsNamesNotFromThePlatform(t *testing.T) {
	inst := apptest.Start(t, apptest.Options{NoWorkers: true}) // FetchUserInfo is called by hand
	admin := inst.Admin(t)
	fake := exampletest.NewServer()
	t.Cleanup(fake.Close)
	var chv struct {
		ID int64 `json:"id"`
	}
	admin.Must(t, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Names", "settings": fake.Settings()}, &chv)
	ch := dialog.Chan{ID: chv.ID, Kind: "example"}
	ctx := context.Background()
	svc := inst.App.Dialogs

	type names struct{ first, last, username string }
	visitor := func(user string) (int64, names) {
		t.Helper()
		var id int64
		var n names
		if err := inst.Pool.QueryRow(ctx, `SELECT id, first_name, last_name, username FROM visitors WHERE channel_id = $1 AND external_id = $2`,
			ch.ID, user).Scan(&id, &n.first, &n.last, &n.username); err != nil {
			t.Fatalf("visitor %s: %v", user, err)
		}
		return id, n
	}
	write := func(user, first string) int64 {
		t.Helper()
		_, err := svc.Ingest(ctx, ch, []providers.Event{{Kind: providers.EventMessage, ExternalID: "m-" + user + first, UserID: user, ChatID: user,
			User: providers.UserInfo{FirstName: first}, Text: "hello", Time: time.Now()}})
		if err != nil {
			t.Fatalf("ingest from %s: %v", user, err)
		}
		id, _ := visitor(user)
		return id
	}
	fetch := func(user string) names {
		t.Helper()
		id, _ := visitor(user)
		if err := svc.FetchUserInfo(ctx, id); err != nil {
			t.Fatalf("fetch user info of %s: %v", user, err)
		}
		_, n := visitor(user)
		return n
	}
	check := func(what string, got, want names) {
		t.Helper()
		if got != want {
			t.Errorf("%s: names %+v, want %+v", what, got, want)
		}
	}

	// A name typed into a form (it came with the message) stays; what is empty is filled.
	write(exampletest.UserID, "Maria") // the platform knows Ivan Petrov, ivan_petrov
	check("typed name", fetch(exampletest.UserID), names{"Maria", "Petrov", "ivan_petrov"})

	// An empty answer blanks nothing.
	fake.AddUser(exampletest.User{ID: "u-2001"})
	write("u-2001", "Anna")
	check("empty answer", fetch("u-2001"), names{"Anna", "", ""})

	// Names the platform gave are refreshed from it, never blanked by it.
	fake.AddUser(exampletest.User{ID: "u-3001", FirstName: "Oleg", Username: "oleg"})
	write("u-3001", "")
	check("first lookup", fetch("u-3001"), names{"Oleg", "", "oleg"})
	fake.AddUser(exampletest.User{ID: "u-3001", FirstName: "Oleg", LastName: "Sidorov", Username: "oleg_s"})
	check("renamed on the platform", fetch("u-3001"), names{"Oleg", "Sidorov", "oleg_s"})
	fake.AddUser(exampletest.User{ID: "u-3001", FirstName: "", Username: ""})
	check("platform forgot the names", fetch("u-3001"), names{"Oleg", "Sidorov", "oleg_s"})
	fake.AddUser(exampletest.User{ID: "u-3001", FirstName: "Olegek", LastName: "Sidorov", Username: "oleg_s"})
	check("platform rename after an empty answer", fetch("u-3001"), names{"Olegek", "Sidorov", "oleg_s"})

	// A name corrected since (no longer the platform's) stays.
	id, _ := visitor("u-3001")
	if _, err := inst.Pool.Exec(ctx, `UPDATE visitors SET first_name = 'Oleg Ivanovich' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	fake.AddUser(exampletest.User{ID: "u-3001", FirstName: "O.", LastName: "Sidorov", Username: "oleg_s"})
	check("corrected name", fetch("u-3001"), names{"Oleg Ivanovich", "Sidorov", "oleg_s"})
}
