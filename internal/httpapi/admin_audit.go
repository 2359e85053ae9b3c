package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/store"
)

// auditEntries serves GET /api/v1/audit with the admin page's filters:
// actor (an email fragment or a user id), action (a prefix), target_type, target_id,
// since and until (a date YYYY-MM-DD, until inclusive, or an RFC 3339 time), before (an
// entry id, for paging) and limit.
func (s *Server) auditEntries(c echo.Context) error {
	q := c.QueryParams()
	f := store.AuditFilter{Action: q.Get("action"), TargetType: q.Get("target_type")}
	f.BeforeID, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	f.TargetID, _ = strconv.ParseInt(q.Get("target_id"), 10, 64)
	f.Limit, _ = strconv.Atoi(q.Get("limit"))
	if a := strings.TrimSpace(q.Get("actor")); a != "" {
		if id, err := strconv.ParseInt(a, 10, 64); err == nil {
			f.UserID = id
		} else {
			f.UserEmail = a
		}
	}
	var err error
	if f.Since, err = auditTime(q.Get("since"), false); err != nil {
		return err
	}
	if f.Until, err = auditTime(q.Get("until"), true); err != nil {
		return err
	}
	es, err := store.FilterAudit(c.Request().Context(), s.Store.Pool, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": es})
}

// auditTime parses a filter bound; a bare date as "until" includes that whole day.
func auditTime(v string, until bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		return time.Time{}, apperr.New(apperr.Invalid, "since and until take a date (2006-01-02) or an RFC 3339 time")
	}
	if until {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}
