package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/auth"
	"github.com/omnichat/omnichat/internal/channel"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
)

type providerInfo struct {
	Kind string         `json:"kind"`
	Form providers.Form `json:"form"`
}

func (s *Server) listProviders(c echo.Context) error {
	out := []providerInfo{}
	for _, k := range s.Providers.Kinds() {
		p, _ := s.Providers.Get(k)
		out = append(out, providerInfo{Kind: k, Form: p.SettingsForm()})
	}
	return c.JSON(http.StatusOK, map[string]any{"providers": out})
}

func (s *Server) listChannels(c echo.Context) error {
	cs, err := s.Channels.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"channels": cs})
}

func (s *Server) getChannel(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	v, err := s.Channels.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) createChannel(c echo.Context) error {
	var in channel.Input
	if err := bind(c, &in); err != nil {
		return err
	}
	v, err := s.Channels.Create(c.Request().Context(), identity(c).User.ID, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

func (s *Server) updateChannel(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var in channel.Input
	if err := bind(c, &in); err != nil {
		return err
	}
	v, err := s.Channels.Update(c.Request().Context(), identity(c).User.ID, id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) deleteChannel(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.Channels.Delete(c.Request().Context(), identity(c).User.ID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type checkBody struct {
	Kind      string             `json:"kind"`
	ChannelID int64              `json:"channel_id"`
	Settings  providers.Settings `json:"settings"`
}

func (s *Server) checkChannel(c echo.Context) error {
	var b checkBody
	if err := bind(c, &b); err != nil {
		return err
	}
	if b.ChannelID != 0 && b.Kind == "" {
		v, err := s.Channels.Get(c.Request().Context(), b.ChannelID)
		if err != nil {
			return err
		}
		b.Kind = v.Kind
	}
	settings, err := s.Channels.Check(c.Request().Context(), b.Kind, b.ChannelID, b.Settings)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "settings": settings})
}

func (s *Server) channelAction(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	res, err := s.Channels.RunAction(c.Request().Context(), id, c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// Operators.

func (s *Server) listOperators(c echo.Context) error {
	us, err := store.ListUsers(c.Request().Context(), s.Store.Pool)
	if err != nil {
		return err
	}
	if us == nil {
		us = []store.User{}
	}
	return c.JSON(http.StatusOK, map[string]any{"operators": us})
}

type operatorBody struct {
	Email         string   `json:"email"`
	Name          *string  `json:"name"`
	Role          *string  `json:"role"`
	Password      string   `json:"password"`
	Capacity      *int     `json:"capacity"`
	Active        *bool    `json:"active"`
	Locale        *string  `json:"locale"`
	Status        *string  `json:"status"`
	DepartmentIDs *[]int64 `json:"department_ids"`
}

func (s *Server) createOperator(c echo.Context) error {
	var b operatorBody
	if err := bind(c, &b); err != nil {
		return err
	}
	role, name, capacity := auth.RoleOperator, "", 0
	if b.Role != nil {
		role = *b.Role
	}
	if b.Name != nil {
		name = *b.Name
	}
	if b.Capacity != nil {
		capacity = *b.Capacity
	} else if st, err := s.Dialogs.Settings(c.Request().Context()); err == nil {
		capacity = st.DefaultCapacity
	}
	ctx := c.Request().Context()
	u, generated, err := s.Auth.CreateUser(ctx, identity(c).User.ID, b.Email, name, role, b.Password, capacity)
	if err != nil {
		return err
	}
	if b.DepartmentIDs != nil {
		if err := s.setDepartments(c, u.ID, *b.DepartmentIDs); err != nil {
			return err
		}
	}
	out := map[string]any{"operator": u}
	if generated != "" {
		out["password"] = generated // shown once, to the admin who created the account
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) setDepartments(c echo.Context, userID int64, ids []int64) error {
	ctx := c.Request().Context()
	err := s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.SetUserDepartments(ctx, tx, userID, ids); err != nil {
			return err
		}
		return push.Notify(ctx, tx, push.Event{Kind: "operator.updated", UserID: userID})
	})
	if err != nil && store.IsForeignKey(err) {
		return invalid("a department does not exist")
	}
	if err == nil {
		s.Dialogs.RequestDispatch(ctx)
	}
	return err
}

// updateOperator: admins change anything; operators change their own name, locale and
// status (online/away/offline).
func (s *Server) updateOperator(c echo.Context) error {
	id := identity(c)
	var uid int64
	if c.Param("id") == "me" {
		uid = id.User.ID
	} else {
		var err error
		if uid, err = idParam(c, "id"); err != nil {
			return err
		}
	}
	var b operatorBody
	if err := bind(c, &b); err != nil {
		return err
	}
	if !id.Admin() && (uid != id.User.ID || b.Role != nil || b.Capacity != nil || b.Active != nil || b.DepartmentIDs != nil || b.Password != "") {
		return apperr.New(apperr.Forbidden, "only admins may change this")
	}
	if uid == id.User.ID && b.Active != nil && !*b.Active {
		return invalid("you cannot deactivate yourself")
	}
	up := store.UserUpdate{Name: b.Name, Role: b.Role, Active: b.Active, Locale: b.Locale, Status: b.Status, Capacity: b.Capacity}
	if b.Role != nil && *b.Role != auth.RoleAdmin && *b.Role != auth.RoleOperator {
		return invalid("role must be admin or operator")
	}
	if b.Status != nil && *b.Status != "online" && *b.Status != "away" && *b.Status != "offline" {
		return invalid("status must be online, away or offline")
	}
	if b.Locale != nil && *b.Locale != "" && *b.Locale != "en" && *b.Locale != "ru" {
		return invalid("locale must be en or ru")
	}
	if b.Capacity != nil && (*b.Capacity < 0 || *b.Capacity > 1000) {
		return invalid("capacity must be 0..1000")
	}
	if b.Password != "" {
		if err := auth.ValidatePassword(b.Password); err != nil {
			return err
		}
		h, err := auth.HashPassword(b.Password)
		if err != nil {
			return err
		}
		up.PasswordHash = &h
	}
	ctx := c.Request().Context()
	requeued := 0
	err := s.Store.Tx(ctx, func(tx pgx.Tx) error {
		// A change of what assignment reads waits for a running assignment decision, so no
		// decision mixes the old and the new state (say, a dialog handed to an operator
		// being deactivated).
		if b.Status != nil || b.Active != nil || b.Capacity != nil {
			if err := store.AssignLock(ctx, tx); err != nil {
				return err
			}
		}
		if err := store.UpdateUser(ctx, tx, uid, up); err != nil {
			return err
		}
		if b.Active != nil && !*b.Active {
			var err error
			if requeued, err = s.Dialogs.ReturnToQueue(ctx, tx, uid, id.User.ID, "deactivated"); err != nil {
				return err
			}
			if err := s.Auth.EndAllSessions(ctx, tx, uid); err != nil {
				return err
			}
		}
		if id.Admin() && uid != id.User.ID || b.Role != nil || b.Active != nil || b.Password != "" {
			if err := store.Audit(ctx, tx, id.User.ID, "user.update", "user", uid, map[string]any{"role": b.Role, "active": b.Active, "capacity": b.Capacity, "password_changed": b.Password != ""}); err != nil {
				return err
			}
		}
		return push.Notify(ctx, tx, push.Event{Kind: "operator.updated", UserID: uid})
	})
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "operator not found")
	}
	if err != nil {
		return err
	}
	if b.DepartmentIDs != nil {
		if err := s.setDepartments(c, uid, *b.DepartmentIDs); err != nil {
			return err
		}
	}
	if b.Status != nil || b.Capacity != nil || requeued > 0 {
		s.Dialogs.RequestDispatch(ctx)
	}
	u, err := store.UserByID(ctx, s.Store.Pool, uid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (s *Server) me(c echo.Context) error {
	id := identity(c)
	return c.JSON(http.StatusOK, map[string]any{"user": id.User, "csrf_token": id.Session.CSRFToken})
}

// Departments.

type departmentBody struct {
	Name    string   `json:"name"`
	Sort    int      `json:"sort"`
	Members *[]int64 `json:"members"`
}

func (s *Server) listDepartments(c echo.Context) error {
	ds, err := store.ListDepartments(c.Request().Context(), s.Store.Pool)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"departments": ds})
}

func (s *Server) saveDepartment(c echo.Context) error {
	var b departmentBody
	if err := bind(c, &b); err != nil {
		return err
	}
	b.Name = strings.TrimSpace(b.Name)
	if b.Name == "" || len(b.Name) > 200 {
		return &apperr.Error{Code: apperr.Invalid, Message: "name is required (at most 200 characters)", Fields: []string{"name"}}
	}
	ctx := c.Request().Context()
	d := store.Department{Name: b.Name, Sort: b.Sort}
	status := http.StatusCreated
	if c.Param("id") != "" {
		var err error
		if d.ID, err = idParam(c, "id"); err != nil {
			return err
		}
		status = http.StatusOK
	}
	err := s.Store.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		if d.ID == 0 {
			err = store.CreateDepartment(ctx, tx, &d)
		} else {
			err = store.UpdateDepartment(ctx, tx, &d)
		}
		if err != nil {
			return err
		}
		if b.Members != nil {
			former, err := store.SetDepartmentMembers(ctx, tx, d.ID, *b.Members)
			if err != nil {
				return err
			}
			evs := []push.Event{}
			for _, u := range append(former, *b.Members...) {
				evs = append(evs, push.Event{Kind: "operator.updated", UserID: u})
			}
			if err := push.Notify(ctx, tx, evs...); err != nil {
				return err
			}
		}
		return store.Audit(ctx, tx, identity(c).User.ID, "department.save", "department", d.ID, b)
	})
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "department not found")
	}
	if err != nil && store.IsForeignKey(err) {
		return invalid("a member is not an operator")
	}
	if err != nil {
		return err
	}
	if b.Members != nil {
		s.Dialogs.RequestDispatch(ctx)
	}
	return c.JSON(status, d)
}

func (s *Server) deleteDepartment(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.DeleteDepartment(ctx, tx, id); err != nil {
			return err
		}
		return store.Audit(ctx, tx, identity(c).User.ID, "department.delete", "department", id, nil)
	})
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "department not found")
	}
	if err != nil {
		return err
	}
	// Its queued dialogs lost the department: any operator may take them now.
	s.Dialogs.RequestDispatch(ctx)
	return c.NoContent(http.StatusNoContent)
}

// Settings.

func (s *Server) getSettings(c echo.Context) error {
	st, err := s.Dialogs.Settings(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (s *Server) putSettings(c echo.Context) error {
	var st dialog.Settings
	if err := bind(c, &st); err != nil {
		return err
	}
	out, err := s.Dialogs.PutSettings(c.Request().Context(), identity(c).User.ID, st)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// listAudit: the filters (actor, entity, time) live in admin_audit.go.
func (s *Server) listAudit(c echo.Context) error { return s.auditEntries(c) }

// Sessions and API tokens: the signed-in user's; admins: anyone's (?user_id=).

func (s *Server) listSessions(c echo.Context) error {
	kind := "session"
	if c.Path() == "/api/v1/tokens" {
		kind = "api"
	}
	uid := identity(c).User.ID
	if v := c.QueryParam("user_id"); v != "" {
		var err error
		if uid, err = strconv.ParseInt(v, 10, 64); err != nil || uid <= 0 {
			return invalid("user_id must be a user id")
		}
	}
	ss, err := s.Auth.ListSessions(c.Request().Context(), identity(c), uid, kind)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"sessions": ss, "current": identity(c).Session.ID})
}

func (s *Server) createToken(c echo.Context) error {
	var b struct {
		Name string `json:"name"`
	}
	if err := bind(c, &b); err != nil {
		return err
	}
	b.Name = strings.TrimSpace(b.Name)
	if b.Name == "" || len(b.Name) > 100 {
		return invalid("name the token (at most 100 characters)")
	}
	ctx := c.Request().Context()
	tok, sess, err := s.Auth.NewSession(ctx, identity(c).User.ID, "api", b.Name, c.RealIP(), "")
	if err != nil {
		return err
	}
	if err := store.Audit(ctx, s.Store.Pool, identity(c).User.ID, "token.create", "session", sess.ID, map[string]string{"name": b.Name}); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"token": tok, "session": sess})
}

func (s *Server) revokeSession(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	// /tokens/:id revokes API tokens only, /sessions/:id sign-ins only.
	kind := "session"
	if strings.HasPrefix(c.Path(), "/api/v1/tokens/") {
		kind = "api"
	}
	if err := s.Auth.Revoke(c.Request().Context(), identity(c), id, kind); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// deleteSession signs the caller's own session out.
func (s *Server) deleteSession(c echo.Context, id int64) error {
	err := store.DeleteSession(c.Request().Context(), s.Store.Pool, identity(c).User.ID, id, "")
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "session not found")
	}
	return err
}

// Clients.

func (s *Server) searchClients(c echo.Context) error {
	cs, err := s.Dialogs.SearchClients(c.Request().Context(), actor(c), c.QueryParam("q"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"clients": cs})
}

func (s *Server) getClient(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	v, err := s.Dialogs.Client(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) saveClient(c echo.Context) error {
	var in dialog.ClientInput
	if err := bind(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if c.Param("id") == "" {
		cl, err := s.Dialogs.CreateClient(ctx, in)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, cl)
	}
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	cl, err := s.Dialogs.UpdateClient(ctx, actor(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cl)
}

func (s *Server) mergeClient(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var b struct {
		From int64 `json:"from"`
	}
	if err := bind(c, &b); err != nil {
		return err
	}
	cl, err := s.Dialogs.MergeClients(c.Request().Context(), actor(c), id, b.From)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cl)
}
