package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// adminPageRoutes registers the admin pages under /admin (signed in, admins only: the group
// checks both). This file belongs to the admin pages; the inbox engineer left a stub.
// A page: pg := p.Page(c, "admin.title", "admin", data); return p.render(c, 200, "admin_x", pg)
func (p *pages) adminPageRoutes(g *echo.Group) {
	g.GET("", func(c echo.Context) error {
		if p.web.Has("admin") {
			return p.render(c, http.StatusOK, "admin", p.Page(c, "nav.admin", "admin", nil))
		}
		return c.Redirect(http.StatusSeeOther, "/inbox")
	})
}
