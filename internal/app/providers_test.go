package app

import (
	"slices"
	"testing"

	"github.com/omnichat/omnichat/internal/config"
	"github.com/omnichat/omnichat/providers/example"
)

// The demo example kind is for development and tests: production (OMNICHAT_DEV_PROVIDERS
// unset) must not offer it to admins; the setting adds it and nothing else.
func TestExampleProviderOnlyWithDevProviders(t *testing.T) {
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	prod := Providers(Guard(cfg), cfg.DevProviders).Kinds()
	if slices.Contains(prod, example.Kind) {
		t.Fatalf("production offers %q: %v", example.Kind, prod)
	}
	cfg, err = config.Load(func(k string) (string, bool) { return "true", k == "OMNICHAT_DEV_PROVIDERS" })
	if err != nil {
		t.Fatal(err)
	}
	dev := Providers(Guard(cfg), cfg.DevProviders).Kinds()
	if !slices.Contains(dev, example.Kind) || len(dev) != len(prod)+1 {
		t.Fatalf("with OMNICHAT_DEV_PROVIDERS=true: %v (production: %v)", dev, prod)
	}
}
