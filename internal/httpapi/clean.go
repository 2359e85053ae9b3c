package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/omnichat/omnichat/internal/pgtext"
)

// Text PostgreSQL refuses (NUL, invalid UTF-8: see internal/pgtext) is cleaned here, where
// it enters, never per handler. One rule for every caller: the value is cleaned (NUL
// removed, bad bytes replaced by U+FFFD) and the request goes on, so "?q=%00" answers 200
// like "?q=". Only a path that holds such bytes answers 404: no resource is named so.
// Query parameters are cleaned by cleanInput, url-encoded forms by cleanForm (bodyLimitForm,
// on every form route), JSON bodies by bind and decodeSendJSON (cleanStrings), multipart
// forms by cleanMultipart. Webhook bodies are the providers' to parse; their events are
// cleaned as they enter ingest (dialog.cleanEvents).

// cleanInput is the middleware that cleans a request's path and query.
func cleanInput(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if pgtext.Dirty(r.URL.Path) {
			return echo.ErrNotFound
		}
		// A NUL or a bad byte hides behind a '%' (or comes raw: net/http refuses a raw NUL
		// but passes other bytes); a plain query is not parsed here at all.
		if strings.IndexByte(r.URL.RawQuery, '%') >= 0 || pgtext.Dirty(r.URL.RawQuery) {
			q := r.URL.Query()
			if cleanValues(q) {
				r.URL.RawQuery = q.Encode()
			}
		}
		return next(c)
	}
}

// cleanForm parses a url-encoded form body and cleans it, so FormValue reads clean values.
// The form routes call it (bodyLimitForm) after capping the body; webhooks and the widget's
// API hand their raw body to a provider and are never parsed here. A form that does not
// parse is left for its handler, which reads empty values as before.
func cleanForm(r *http.Request) {
	if !strings.HasPrefix(r.Header.Get(echo.HeaderContentType), echo.MIMEApplicationForm) {
		return
	}
	if err := r.ParseForm(); err == nil {
		cleanValues(r.Form)
		cleanValues(r.PostForm)
	}
}

// cleanValues cleans keys and values of a query or form in place; it reports a change.
func cleanValues(vs map[string][]string) bool {
	changed := false
	for k, list := range vs {
		for i, v := range list {
			if pgtext.Dirty(v) {
				list[i], changed = pgtext.Clean(v), true
			}
		}
		if pgtext.Dirty(k) {
			delete(vs, k)
			ck := pgtext.Clean(k)
			vs[ck] = append(vs[ck], list...)
			changed = true
		}
	}
	return changed
}

// cleanMultipart cleans a parsed multipart form's values (also as copied into r.Form for
// FormValue) and file names.
func cleanMultipart(r *http.Request) {
	cleanValues(r.Form)
	cleanValues(r.PostForm)
	f := r.MultipartForm
	if f == nil {
		return
	}
	cleanValues(f.Value)
	for _, fhs := range f.File {
		for _, fh := range fhs {
			fh.Filename = pgtext.Clean(fh.Filename)
		}
	}
}

// cleanStrings cleans every string reachable from v (a pointer to what a JSON body was
// decoded into): struct fields, slices, map keys and values, interfaces, and the strings
// inside a json.RawMessage (stored as jsonb, which refuses "\u0000" too). Other byte
// slices are left alone.
func cleanStrings(v any) { cleanValue(reflect.ValueOf(v)) }

var rawMessageType = reflect.TypeFor[json.RawMessage]()

func cleanValue(v reflect.Value) {
	if v.Type() == rawMessageType {
		if v.CanSet() {
			v.SetBytes(cleanRawJSON(v.Bytes()))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			cleanValue(v.Elem())
		}
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		// What an interface holds is not addressable: clean a copy and put it back.
		e := reflect.New(v.Elem().Type()).Elem()
		e.Set(v.Elem())
		cleanValue(e)
		if v.CanSet() {
			v.Set(e)
		}
	case reflect.String:
		if v.CanSet() && pgtext.Dirty(v.String()) {
			v.SetString(pgtext.Clean(v.String()))
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				cleanValue(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := 0; i < v.Len(); i++ {
			cleanValue(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			cleanValue(e)
			nk := reflect.New(k.Type()).Elem()
			nk.Set(k)
			cleanValue(nk)
			if !nk.Equal(k) {
				v.SetMapIndex(k, reflect.Value{})
			}
			v.SetMapIndex(nk, e)
		}
	}
}

// cleanRawJSON cleans the strings of a JSON document; one without an escaped NUL or a bad
// byte is returned as is. A document that does not parse is left for its reader to refuse.
func cleanRawJSON(raw []byte) []byte {
	if !bytes.Contains(raw, []byte(`\u0000`)) && utf8.Valid(raw) {
		return raw
	}
	var doc any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		return raw
	}
	cleanValue(reflect.ValueOf(&doc))
	out, err := json.Marshal(doc)
	if err != nil {
		return raw
	}
	return out
}
