package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// adminSections are the settings pages, in menu order. Each is one server-rendered shell
// (admin_page.html); its content loads through the same REST API integrations use
// (web/static/js/admin.js), so the page can do nothing the API would refuse.
var adminSections = []string{"channels", "operators", "departments", "settings", "realtime", "tokens", "audit"}

type adminView struct {
	Section  string
	Sections []string
}

// adminPageRoutes registers the admin pages under /admin. The group (pages.go) already
// lets only signed-in admins through; the API each page calls checks the role again.
func (p *pages) adminPageRoutes(g *echo.Group) {
	g.GET("", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/admin/channels") })
	// One-time invite links (admin_invites.go): public, the token is the capability.
	p.s.echo.GET("/invite/:token", p.invitePage)
	p.s.echo.POST("/invite/:token", p.inviteSubmit, bodyLimitForm)
	for _, sec := range adminSections {
		g.GET("/"+sec, func(c echo.Context) error {
			pg := p.Page(c, "admin."+sec, "admin", adminView{Section: sec, Sections: adminSections})
			pg.Class = "admin-page"
			return p.render(c, http.StatusOK, "admin_page", pg)
		})
	}
}
