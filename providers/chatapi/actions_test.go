package chatapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/chatapi"
	"github.com/omnichat/omnichat/providers/chatapi/chatapitest"
)

func TestActions(t *testing.T) {
	acts := chatapi.New().Actions(testChannel())
	if len(acts) != 2 || acts[0].Name != chatapi.ActionQR || acts[1].Name != chatapi.ActionStatus {
		t.Fatalf("Actions = %+v", acts)
	}
	for _, a := range acts {
		if a.Label.En == "" || a.Label.Ru == "" {
			t.Errorf("action %q needs labels in both languages", a.Name)
		}
	}
}

func methodsOf(fake *chatapitest.Server) string {
	var ms []string
	for _, c := range fake.Calls() {
		ms = append(ms, c.Method)
	}
	return strings.Join(ms, ",")
}

func TestRunActionQR(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	p := chatapi.New()
	ch := fakeChannel(fake)
	ctx := context.Background()

	fake.SetAccountStatus(chatapi.StatusGotQRCode)
	res, err := p.RunAction(ctx, ch, chatapi.ActionQR)
	if err != nil {
		t.Fatal(err)
	}
	if res.ImageType != "image/png" {
		t.Errorf("ImageType %q", res.ImageType)
	}
	img, err := png.Decode(bytes.NewReader(res.Image))
	if err != nil || img.Bounds().Dx() < 100 {
		t.Errorf("the QR code is not a usable PNG: %v", err)
	}
	if !strings.Contains(res.Text, "got qr code") || !strings.Contains(res.Text, "Linked devices") || !strings.Contains(res.Text, "Связанные устройства") {
		t.Errorf("Text %q", res.Text)
	}
	if got := methodsOf(fake); got != "status,qr_code" {
		t.Errorf("calls %s, want status,qr_code", got)
	}

	for _, tc := range []struct{ status, want string }{
		{chatapi.StatusAuthenticated, "no QR code is needed"},
		{chatapi.StatusLoading, "press the button again in a few seconds"},
		{chatapi.StatusNotPaid, "ChatAPI offers no QR code"},
	} {
		fake.Reset()
		fake.SetAccountStatus(tc.status)
		res, err := p.RunAction(ctx, ch, chatapi.ActionQR)
		if err != nil || res.Image != nil || !strings.Contains(res.Text, tc.want) || !strings.Contains(res.Text, tc.status) {
			t.Errorf("%s: got %+v, %v", tc.status, res, err)
		}
		if got := methodsOf(fake); got != "status" {
			t.Errorf("%s: calls %s, want status only", tc.status, got)
		}
	}
}

// TestRunActionQRFallback: when qr_code answers something that is not a PNG, the data URI
// from GET status is shown instead.
func TestRunActionQRFallback(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	fake.SetAccountStatus(chatapi.StatusGotQRCode)
	pngFromStatus := func() []byte {
		resp, err := http.Get(fake.URL() + "status?token=" + fake.Token)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		_, rest, _ := strings.Cut(string(b), "base64,")
		data, _, _ := strings.Cut(rest, `"`)
		img, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/qr_code") {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>expired</html>")
			return
		}
		io.WriteString(w, `{"accountStatus":"got qr code","qrCode":"data:image/png;base64,`+base64.StdEncoding.EncodeToString(pngFromStatus)+`"}`)
	}))
	defer srv.Close()
	res, err := chatapi.New().RunAction(context.Background(), rawChannel(srv.URL), chatapi.ActionQR)
	if err != nil || !bytes.Equal(res.Image, pngFromStatus) {
		t.Errorf("want the status's QR code, got %d bytes, %v", len(res.Image), err)
	}
}

func TestRunActionStatus(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	fake.SetAccountStatus(chatapi.StatusLoading)
	res, err := chatapi.New().RunAction(context.Background(), fakeChannel(fake), chatapi.ActionStatus)
	if err != nil || res.Image != nil {
		t.Fatalf("got %+v, %v", res, err)
	}
	for _, want := range []string{"loading", "(connecting)", "Make sure the phone is online"} {
		if !strings.Contains(res.Text, want) {
			t.Errorf("Text %q lacks %q", res.Text, want)
		}
	}
}

func TestRunActionErrors(t *testing.T) {
	fake := chatapitest.NewServer()
	defer fake.Close()
	p := chatapi.New()
	ch := fakeChannel(fake)
	if _, err := p.RunAction(context.Background(), ch, "reboot"); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("unknown action: want ErrUnsupported, got %v", err)
	}
	ch.Settings[chatapi.SettingToken] = "wrong-token-0123456789"
	_, err := p.RunAction(context.Background(), ch, chatapi.ActionQR)
	if !providers.IsPermanent(err) || strings.Contains(err.Error(), "wrong-token-0123456789") {
		t.Errorf("bad token: want a Permanent error without the token, got %v", err)
	}
}
