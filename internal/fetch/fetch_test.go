package fetch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTrustedHostMayBePrivateOthersNot(t *testing.T) {
	var internalHits int
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits++
		w.Write([]byte("internal"))
	}))
	defer internal.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/file":
			w.Header().Set("Content-Disposition", `attachment; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf`)
			w.Header().Set("Content-Type", "application/pdf")
			w.Write([]byte("%PDF"))
		case "/redirect":
			http.Redirect(w, r, internal.URL+"/x", http.StatusFound)
		case "/ftp":
			http.Redirect(w, r, "ftp://example.com/x", http.StatusFound)
		}
	}))
	defer api.Close()
	f := &Fetcher{}
	ctx := context.Background()

	res, err := f.Get(ctx, api.URL+"/file", nil, api.URL)
	if err != nil {
		t.Fatalf("trusted host: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "%PDF" || res.ContentType != "application/pdf" || res.Name != "отчёт.pdf" {
		t.Fatalf("got %q %q name %q", body, res.ContentType, res.Name)
	}

	for _, c := range []struct{ name, url, trusted string }{
		{"private address, no trusted host", internal.URL + "/x", ""},
		{"private address, another trusted host", internal.URL + "/x", api.URL},
		{"redirect from the trusted host into a private address", api.URL + "/redirect", api.URL},
	} {
		res, err := f.Get(ctx, c.url, nil, c.trusted)
		if err == nil {
			res.Body.Close()
			t.Errorf("%s: allowed", c.name)
			continue
		}
		if !errors.Is(err, ErrBlocked) {
			t.Errorf("%s: %v, want ErrBlocked", c.name, err)
		}
		if strings.Contains(err.Error(), "/x") || strings.Contains(err.Error(), "/redirect") {
			t.Errorf("%s: the error contains the URL (it may carry a token): %v", c.name, err)
		}
	}
	if internalHits != 0 {
		t.Fatalf("the private server got %d requests", internalHits)
	}
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/x", "gopher://x", "http://", "::"} {
		if _, err := f.Get(ctx, u, nil, ""); err == nil {
			t.Errorf("%q: allowed", u)
		}
	}
	if _, err := f.Get(ctx, api.URL+"/ftp", nil, api.URL); err == nil {
		t.Error("a redirect to ftp was followed")
	}
}
