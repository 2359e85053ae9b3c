package dialog

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
)

// LinkClient applies auto-add to a visitor: an existing record with the visitor's phone is
// linked, otherwise a new record is created. Locks on the visitor and on the phone make
// concurrent runs converge on one record.
func (s *Service) LinkClient(ctx context.Context, visitorID int64) error {
	st, err := s.Settings(ctx)
	if err != nil || !st.AutoAdd {
		return err
	}
	return s.Store.Tx(ctx, func(tx pgx.Tx) error {
		v, err := store.LockVisitor(ctx, tx, visitorID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if v.ClientID != nil {
			return s.addSharedPhone(ctx, tx, *v.ClientID, v.Phone)
		}
		if v.Phone != "" {
			if err := store.LockPhone(ctx, tx, v.Phone); err != nil {
				return err
			}
			c, err := store.ClientByPhone(ctx, tx, v.Phone)
			if err == nil {
				return s.linkTx(ctx, tx, v.ID, &c.ID)
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		name := strings.TrimSpace(v.FirstName + " " + v.LastName)
		if name == "" {
			name = v.Username
		}
		c := store.Client{Type: st.RecordType, Name: name}
		if v.Phone != "" {
			c.Phones = []string{v.Phone}
		}
		if v.Email != "" {
			c.Emails = []string{strings.ToLower(v.Email)}
		}
		if err := store.CreateClient(ctx, tx, &c); err != nil {
			return err
		}
		return s.linkTx(ctx, tx, v.ID, &c.ID)
	})
}

// addSharedPhone gives the visitor's client a phone the visitor shared later, unless some
// client has that number already (then an operator decides whether to merge).
func (s *Service) addSharedPhone(ctx context.Context, tx pgx.Tx, clientID int64, phone string) error {
	if phone == "" {
		return nil
	}
	if err := store.LockPhone(ctx, tx, phone); err != nil {
		return err
	}
	if _, err := store.ClientByPhone(ctx, tx, phone); !errors.Is(err, store.ErrNotFound) {
		return err // nil when found: leave it to an operator
	}
	return store.AddClientPhone(ctx, tx, clientID, phone)
}

func (s *Service) linkTx(ctx context.Context, tx pgx.Tx, visitorID int64, clientID *int64) error {
	if err := store.LinkVisitor(ctx, tx, visitorID, clientID); err != nil {
		return err
	}
	// Addressed through the visitor's open dialogs: an event without a dialog reaches only
	// admins, and the operator answering should see the new link.
	ds, err := store.VisitorOpenDialogs(ctx, tx, visitorID)
	if err != nil {
		return err
	}
	evs := []push.Event{{Kind: "visitor.updated", VisitorID: visitorID}}
	if len(ds) > 0 {
		evs = evs[:0]
		for _, d := range ds {
			evs = append(evs, push.ForDialog("visitor.updated", d, 0))
		}
	}
	return push.Notify(ctx, tx, evs...)
}

// ClientInput is a client record as the API takes it.
type ClientInput struct {
	Type   string          `json:"type"`
	Name   string          `json:"name"`
	Phones []string        `json:"phones"`
	Emails []string        `json:"emails"`
	Note   string          `json:"note"`
	Custom json.RawMessage `json:"custom"`
}

func (s *Service) clientFrom(in ClientInput, c *store.Client) error {
	if in.Type == "" {
		in.Type = "client"
	}
	if in.Type != "client" && in.Type != "contact" {
		return Errorf("invalid", "type must be client or contact")
	}
	c.Type, c.Name, c.Note = in.Type, strings.TrimSpace(in.Name), in.Note
	c.Phones, c.Emails = []string{}, []string{}
	for _, p := range in.Phones {
		n := NormalizePhone(p, s.PhoneRegion)
		if n == "" {
			return Errorf("invalid", "%q is not a phone number", p)
		}
		c.Phones = appendUnique(c.Phones, n)
	}
	for _, e := range in.Emails {
		e = strings.ToLower(strings.TrimSpace(e))
		if !strings.Contains(e, "@") {
			return Errorf("invalid", "%q is not an email address", e)
		}
		c.Emails = appendUnique(c.Emails, e)
	}
	if len(in.Custom) > 0 {
		var m map[string]any
		if err := json.Unmarshal(in.Custom, &m); err != nil {
			return Errorf("invalid", "custom must be a JSON object")
		}
		c.Custom = in.Custom
	}
	if len(c.Name) > 300 || len(c.Note) > 10000 {
		return Errorf("invalid", "name or note is too long")
	}
	return nil
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// CreateClient adds a record.
func (s *Service) CreateClient(ctx context.Context, in ClientInput) (store.Client, error) {
	var c store.Client
	if err := s.clientFrom(in, &c); err != nil {
		return c, err
	}
	err := s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := lockPhones(ctx, tx, c.Phones); err != nil {
			return err
		}
		return store.CreateClient(ctx, tx, &c)
	})
	return c, err
}

// lockPhones takes the auto-add lock of every number (sorted: two writers never wait on
// each other crosswise), so a record written by hand and one auto-added for a visitor with
// the same number are not created side by side.
func lockPhones(ctx context.Context, tx pgx.Tx, phones []string) error {
	sorted := slices.Clone(phones)
	slices.Sort(sorted)
	for _, p := range sorted {
		if err := store.LockPhone(ctx, tx, p); err != nil {
			return err
		}
	}
	return nil
}

// ClientView is a client record with what the viewer may see of it: the visitors and
// dialogs of other departments are left out.
type ClientView struct {
	Client   store.Client    `json:"client"`
	Visitors []store.Visitor `json:"visitors"`
	Dialogs  []store.Dialog  `json:"dialogs"`
}

// viewerOf is the user whose visibility applies, or nil for an admin (who sees all).
func viewerOf(a Actor) *int64 {
	if a.Admin {
		return nil
	}
	return &a.ID
}

// visibleClient returns a client the actor may see (store.ClientVisibleTo); a hidden one is
// "not found", like a hidden dialog, so its existence does not leak.
func visibleClient(ctx context.Context, db store.DB, a Actor, id int64) (store.Client, error) {
	c, err := store.VisibleClient(ctx, db, id, viewerOf(a))
	if errors.Is(err, store.ErrNotFound) {
		return c, Errorf("not_found", "client %d not found", id)
	}
	return c, err
}

// Client returns a record with the visitors and dialogs the actor may see.
func (s *Service) Client(ctx context.Context, a Actor, id int64) (ClientView, error) {
	var v ClientView
	var err error
	if v.Client, err = visibleClient(ctx, s.Store.Pool, a, id); err != nil {
		return v, err
	}
	if v.Visitors, err = store.ClientVisitors(ctx, s.Store.Pool, id, viewerOf(a)); err != nil {
		return v, err
	}
	v.Dialogs, err = store.ListDialogs(ctx, s.Store.Pool, store.DialogFilter{ClientID: id, Viewer: viewerOf(a), Limit: 200})
	return v, err
}

// SearchClients finds the records the actor may see by name, phone or email.
func (s *Service) SearchClients(ctx context.Context, a Actor, q string) ([]store.Client, error) {
	return store.SearchClients(ctx, s.Store.Pool, q, NormalizePhone(q, s.PhoneRegion), viewerOf(a), 50)
}

// UpdateClient replaces the fields of a record the actor may see.
func (s *Service) UpdateClient(ctx context.Context, a Actor, id int64, in ClientInput) (store.Client, error) {
	c := store.Client{ID: id}
	if err := s.clientFrom(in, &c); err != nil {
		return c, err
	}
	err := s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if _, err := visibleClient(ctx, tx, a, id); err != nil {
			return err
		}
		if err := lockPhones(ctx, tx, c.Phones); err != nil {
			return err
		}
		return store.UpdateClient(ctx, tx, &c)
	})
	if errors.Is(err, store.ErrNotFound) {
		return c, Errorf("not_found", "client %d not found", id)
	} else if err != nil {
		return c, err
	}
	return store.ClientByID(ctx, s.Store.Pool, id)
}

// MergeClients merges from into into; the actor must see both.
func (s *Service) MergeClients(ctx context.Context, a Actor, into, from int64) (store.Client, error) {
	if into == from {
		return store.Client{}, Errorf("invalid", "cannot merge a record into itself")
	}
	err := s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if _, err := visibleClient(ctx, tx, a, into); err != nil {
			return err
		}
		// An auto-add linking a visitor by one of from's numbers waits for the merge and then
		// finds into, rather than linking to a record that is merged away.
		f, err := visibleClient(ctx, tx, a, from)
		if err != nil {
			return err
		}
		if err := lockPhones(ctx, tx, f.Phones); err != nil {
			return err
		}
		if err := store.MergeClients(ctx, tx, into, from); err != nil {
			return err
		}
		return store.Audit(ctx, tx, a.ID, "client.merge", "client", into, map[string]any{"from": from})
	})
	var ae *apperr.Error
	if errors.Is(err, store.ErrNotFound) || (errors.As(err, &ae) && ae.Code == "not_found") {
		return store.Client{}, Errorf("not_found", "both records must exist and not be merged already")
	}
	if err != nil {
		return store.Client{}, err
	}
	return store.ClientByID(ctx, s.Store.Pool, into)
}

// LinkDialogClient links (clientID > 0) or unlinks (0) the visitor of a dialog. A record
// the actor may not see is refused like one that does not exist.
func (s *Service) LinkDialogClient(ctx context.Context, a Actor, dialogID, clientID int64) error {
	d, err := s.Dialog(ctx, a, dialogID)
	if err != nil {
		return err
	}
	var cid *int64
	if clientID != 0 {
		if _, err := store.VisibleClient(ctx, s.Store.Pool, clientID, viewerOf(a)); errors.Is(err, store.ErrNotFound) {
			return Errorf("invalid", "client %d not found", clientID)
		} else if err != nil {
			return err
		}
		cid = &clientID
	}
	return s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := s.linkTx(ctx, tx, d.VisitorID, cid); err != nil {
			return err
		}
		return s.systemEntry(ctx, tx, d, "client_linked", &a.ID, map[string]any{"client": cid})
	})
}
