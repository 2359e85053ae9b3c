package widget_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/omnichat/omnichat/providers"
	"github.com/omnichat/omnichat/providers/widget"
	"github.com/omnichat/omnichat/providers/widget/widgettest"
)

func channel() providers.Channel {
	return providers.Channel{ID: 7, Kind: widget.Kind, Secret: "s3cret-s3cret-s3cret-s3cret-s3cret-s3cret12",
		PublicURL: "https://chat.example", Settings: providers.Settings{widget.SettingAllowedOrigins: "https://shop.example"}}
}

func TestVisitorTokens(t *testing.T) {
	ch := channel()
	id, tok := widget.NewVisitor(ch)
	if got, ok := widget.VisitorOf(ch, tok); !ok || got != id {
		t.Fatalf("own token: %q %v", got, ok)
	}
	_, tok2 := widget.NewVisitor(ch)
	if tok2 == tok {
		t.Fatal("two visitors got the same token")
	}
	other := ch
	other.Secret = "another-secret-another-secret-another-secret"
	for name, bad := range map[string]string{
		"empty":          "",
		"id only":        id,
		"other channel":  widget.Token(other, id),
		"changed id":     "A" + tok[1:],
		"truncated sig":  tok[:len(tok)-2],
		"no separator":   strings.ReplaceAll(tok, ".", ""),
		"short id, real": widget.Token(ch, "abc"),
	} {
		if _, ok := widget.VisitorOf(ch, bad); ok {
			t.Errorf("%s token accepted", name)
		}
	}
	noSecret := ch
	noSecret.Secret = ""
	if _, ok := widget.VisitorOf(noSecret, widget.Token(noSecret, id)); ok {
		t.Error("a channel without a secret accepted a token")
	}
}

func TestOrigins(t *testing.T) {
	p := widget.New()
	s, err := p.Check(context.Background(), providers.Settings{widget.SettingAllowedOrigins: "https://Shop.example/\nhttp://localhost:8080, https://www.shop.example"})
	if err != nil {
		t.Fatal(err)
	}
	if s[widget.SettingAllowedOrigins] != "https://shop.example\nhttp://localhost:8080\nhttps://www.shop.example" {
		t.Fatalf("normalized %q", s[widget.SettingAllowedOrigins])
	}
	for origin, want := range map[string]bool{"https://shop.example": true, "http://localhost:8080": true, "https://SHOP.example": true,
		"http://shop.example": false, "https://shop.example:8443": false, "https://evil.example": false, "null": false, "": false} {
		if got := widget.OriginAllowed(s, origin); got != want {
			t.Errorf("OriginAllowed(%q) = %v", origin, got)
		}
	}
	for _, bad := range []providers.Settings{
		{widget.SettingAllowedOrigins: ""},
		{widget.SettingAllowedOrigins: "shop.example"},
		{widget.SettingAllowedOrigins: "https://shop.example/path"},
		{widget.SettingAllowedOrigins: "javascript://x"},
		{widget.SettingAllowedOrigins: "https://shop.example", widget.SettingColor: "red"},
		{widget.SettingAllowedOrigins: "https://shop.example", widget.SettingPosition: "top"},
		{widget.SettingAllowedOrigins: "https://shop.example", widget.SettingLanguage: "de"},
	} {
		var se *providers.SettingsError
		if _, err := p.Check(context.Background(), bad); !errors.As(err, &se) {
			t.Errorf("Check(%v) = %v, want a SettingsError", bad, err)
		}
	}
}

func TestEventFilter(t *testing.T) {
	p := widget.New()
	ch := channel()
	id, tok := widget.NewVisitor(ch)
	evs, err := p.EventFilter(context.Background(), ch, widgettest.Request(tok, widget.Post{Type: "message", ID: "m-12345678", Text: "  hi  ",
		Name: "Anna", Phone: "+7 916 123-45-67", Email: "a@example.com",
		Files: []widget.PostFile{{Ref: "0123456789abcdef0123456789abcdef", Name: "a.png", MIME: "image/png", Size: 10}}}))
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %+v", err, evs)
	}
	ev := evs[0]
	if ev.Kind != providers.EventMessage || ev.UserID != id || ev.ExternalID != id+":m-12345678" || ev.Text != "hi" ||
		ev.User.FirstName != "Anna" || ev.User.Phone != "+7 916 123-45-67" || ev.User.Email != "a@example.com" ||
		len(ev.Attachments) != 1 || ev.Attachments[0].Kind != providers.AttachImage || ev.Attachments[0].Ref == "" {
		t.Fatalf("event %+v", ev)
	}
	evs, err = p.EventFilter(context.Background(), ch, widgettest.Request(tok, widget.Post{Type: "button", ID: "b-12345678", Data: "rate:5"}))
	if err != nil || len(evs) != 1 || evs[0].Kind != providers.EventButton || evs[0].Payload != "rate:5" {
		t.Fatalf("button: %v %+v", err, evs)
	}
	for name, post := range map[string]widget.Post{
		"short id":   {Type: "message", ID: "x", Text: "hi"},
		"empty":      {Type: "message", ID: "m-12345678"},
		"long text":  {Type: "message", ID: "m-12345678", Text: strings.Repeat("я", widget.MaxText+1)},
		"bad ref":    {Type: "message", ID: "m-12345678", Files: []widget.PostFile{{Ref: "../../etc/passwd"}}},
		"no data":    {Type: "button", ID: "b-12345678"},
		"long phone": {Type: "message", ID: "m-12345678", Text: "x", Phone: strings.Repeat("1", 41)},
	} {
		if _, err := p.EventFilter(context.Background(), ch, widgettest.Request(tok, post)); !errors.Is(err, providers.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if evs, err := p.EventFilter(context.Background(), ch, widgettest.Request(tok, widget.Post{Type: "typing", ID: "t-12345678"})); err != nil || len(evs) != 0 {
		t.Errorf("unknown type: %v %+v", err, evs)
	}
	if _, err := p.EventFilter(context.Background(), ch, widgettest.Request("", widget.Post{Type: "message", ID: "m-12345678", Text: "hi"})); !errors.Is(err, providers.ErrUnauthorized) {
		t.Errorf("no token: %v", err)
	}
}

func TestSendPublishesToTheVisitor(t *testing.T) {
	p := widget.New()
	ch := channel()
	if _, err := p.SendMessage(context.Background(), ch, providers.Recipient{UserID: "v"}, providers.OutMessage{ID: 5, Text: "x"}); !errors.Is(err, widget.ErrNotConnected) {
		t.Fatalf("send without streams: %v", err)
	}
	pub := widgettest.NewPublisher()
	p.SetPublisher(pub)
	sent, err := p.SendMessage(context.Background(), ch, providers.Recipient{UserID: "v"}, providers.OutMessage{ID: 5, Text: "x"})
	if err != nil || sent.ExternalID != "op:5" {
		t.Fatalf("%v %+v", err, sent)
	}
	if err := p.DeleteMessage(context.Background(), ch, providers.Recipient{UserID: "v"}, "op:5"); err != nil {
		t.Fatal(err)
	}
	got := pub.Published()
	if len(got) != 2 || got[0] != (widgettest.Published{ChannelID: 7, Visitor: "v", Notice: widget.Notice{Kind: "message", MessageID: 5}}) || got[1].Notice.Kind != "deleted" {
		t.Fatalf("published %+v", got)
	}
}

func TestChannelHelpers(t *testing.T) {
	p := widget.New()
	ch := channel()
	extra, err := p.SetWebhook(context.Background(), ch, "")
	if err != nil || extra[widget.SettingAPIURL] != "https://chat.example" {
		t.Fatalf("SetWebhook %v %v", extra, err)
	}
	ch.Settings = ch.Settings.Merge(extra)
	res, err := p.RunAction(context.Background(), ch, "embed")
	if err != nil || res.Code != `<script src="https://chat.example/widget.js" data-channel="7" async></script>` {
		t.Fatalf("embed %+v %v", res, err)
	}
	dl, err := p.ResolveFile(context.Background(), ch, "0123456789abcdef0123456789abcdef")
	if err != nil || !strings.HasPrefix(dl.URL, "https://chat.example/widget/api/7/uploads/0123456789abcdef0123456789abcdef?sig=") ||
		!strings.HasSuffix(dl.URL, widget.UploadSig(ch, "0123456789abcdef0123456789abcdef")) {
		t.Fatalf("resolve %+v %v", dl, err)
	}
	u, err := p.GetUserInfo(context.Background(), ch, "AbCdEfGh")
	if err != nil || u.FirstName != "" || u.Username != "visitor-abcdef" {
		t.Fatalf("user info %+v %v", u, err)
	}
	c := widget.PublicConfig(providers.Channel{Settings: providers.Settings{widget.SettingColor: "javascript:alert(1)", widget.SettingPrechatPhone: "true"}})
	if c.Color != "#1f6feb" || c.Position != "right" || c.Title == "" || len(c.Prechat) != 1 || c.Prechat[0] != "phone" || c.Language != "auto" {
		t.Fatalf("public config %+v", c)
	}
}

// TestLanguageSetting: the chat's language is a select of auto|ru|en with labels in both
// languages; the public config carries it, and anything else falls back to auto.
func TestLanguageSetting(t *testing.T) {
	p := widget.New()
	var field *providers.Field
	for i, f := range p.SettingsForm().Fields {
		if f.Name == widget.SettingLanguage {
			field = &p.SettingsForm().Fields[i]
		}
	}
	if field == nil || field.Type != providers.FieldSelect || field.Default != "auto" || field.Label.En == "" || field.Label.Ru == "" || field.Help.En == "" || field.Help.Ru == "" || len(field.Options) != 3 {
		t.Fatalf("language field %+v", field)
	}
	for _, o := range field.Options {
		if o.Label.En == "" || o.Label.Ru == "" {
			t.Errorf("option %q without both labels", o.Value)
		}
	}
	for _, lang := range []string{"auto", "ru", "en", ""} {
		s, err := p.Check(context.Background(), providers.Settings{widget.SettingAllowedOrigins: "https://shop.example", widget.SettingLanguage: lang})
		if err != nil {
			t.Fatalf("Check(language=%q): %v", lang, err)
		}
		want := lang
		if want == "" {
			want = "auto"
		}
		if got := widget.PublicConfig(providers.Channel{Settings: s}).Language; got != want {
			t.Errorf("language %q → public %q, want %q", lang, got, want)
		}
	}
	if got := widget.PublicConfig(providers.Channel{Settings: providers.Settings{widget.SettingLanguage: "<script>"}}).Language; got != "auto" {
		t.Errorf("a stored odd language is shown as %q", got)
	}
}
