package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestCleanStringsReachesEveryString(t *testing.T) {
	type inner struct{ S string }
	var v struct {
		Name   string            `json:"name"`
		Ptr    *string           `json:"ptr"`
		List   []string          `json:"list"`
		Map    map[string]string `json:"map"`
		Nested []inner           `json:"nested"`
		Any    any               `json:"any"`
		Custom json.RawMessage   `json:"custom"`
		hidden string
	}
	body := `{"name":"a\u0000b","ptr":"p\u0000","list":["\u0000x"],"map":{"k\u0000":"v\u0000"},
		"nested":[{"S":"n\u0000"}],"any":{"deep":["d\u0000"]},"custom":{"c":"c\u0000","keep":"\\u0000"}}`
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	v.hidden = "h\x00" // unexported: not touched, and no panic
	cleanStrings(&v)
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), `\u0000`) && !strings.Contains(string(out), `"keep":"\\u0000"`) {
		t.Fatalf("a NUL survived: %s", out)
	}
	if v.Name != "ab" || *v.Ptr != "p" || v.List[0] != "x" || v.Map["k"] != "v" || v.Nested[0].S != "n" ||
		v.Any.(map[string]any)["deep"].([]any)[0] != "d" || string(v.Custom) != `{"c":"c","keep":"\\u0000"}` {
		t.Fatalf("not cleaned: %s", out)
	}
}

func TestCleanInputQueryAndForm(t *testing.T) {
	e := echo.New()
	var gotQ, gotForm string
	h := cleanInput(func(c echo.Context) error {
		cleanForm(c.Request())
		gotQ, gotForm = c.QueryParam("q"), c.FormValue("email")
		return nil
	})
	req := httptest.NewRequest(http.MethodPost, "/x?q=a%00b%FF&other=1", strings.NewReader("email=e%00f"))
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
	if err := h(e.NewContext(req, httptest.NewRecorder())); err != nil {
		t.Fatal(err)
	}
	if gotQ != "ab\uFFFD" || gotForm != "ef" {
		t.Fatalf("q %q, form %q: not cleaned", gotQ, gotForm)
	}
	req = httptest.NewRequest(http.MethodGet, "/files/%00", nil)
	if err := h(e.NewContext(req, httptest.NewRecorder())); err != echo.ErrNotFound {
		t.Fatalf("a path with NUL: %v, want 404", err)
	}
}
