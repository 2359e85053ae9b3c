# omnichat — common tasks. `make help` lists them.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Go lives in /usr/local/go/bin on our machines, which is not always on PATH.
ifeq ($(shell command -v go 2>/dev/null),)
export PATH := /usr/local/go/bin:$(PATH)
endif

GO        ?= go
BIN       ?= bin/omnichat
# The developer tools (fake platforms, simulate, loadtest): built on the tests' fakes, so
# kept out of the shipped binary.
DEVBIN    ?= bin/omnichat-dev
FUZZTIME  ?= 30s
BENCH     ?= .
BENCHTIME ?= 1s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# Linters the gates run, pinned, installed into bin/tools by this Makefile when missing.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := bin/tools/staticcheck-$(STATICCHECK_VERSION)
# A static binary: no libc dependency, so the same build runs in the Docker image.
export CGO_ENABLED ?= 0

.DEFAULT_GOAL := help
.PHONY: help build run test deps vet lint fmt-check tidy-check staticcheck bench fuzz clean

help:
	@echo "make run        build and start omnichat serve (embedded PostgreSQL unless OMNICHAT_DATABASE_URL is set)"
	@echo "make build      build $(BIN) and the developer tools $(DEVBIN)"
	@echo "make test       install missing system packages (root), the lint gates, every test, a summary"
	@echo "make lint       go vet, gofmt, go mod tidy leaving no diff, staticcheck $(STATICCHECK_VERSION)"
	@echo "make bench      benchmarks (BENCH=regexp, BENCHTIME=$(BENCHTIME))"
	@echo "make fuzz       every Fuzz target for FUZZTIME=$(FUZZTIME) each"
	@echo "make deps       only install the system packages the tests need"

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/omnichat
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DEVBIN) ./cmd/omnichat-dev

run:
	@scripts/deps.sh run
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/omnichat
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DEVBIN) ./cmd/omnichat-dev
	./$(BIN) serve

deps:
	scripts/deps.sh

vet:
	$(GO) vet ./...

# The gates make test runs before the tests: any finding fails it.
lint: vet fmt-check tidy-check staticcheck

fmt-check:
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*' -not -path './var/*')); \
	if [[ -n "$$unformatted" ]]; then \
		echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$unformatted"; exit 1; \
	fi

# go.mod and go.sum must be what go mod tidy makes of them.
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

# go install builds it from the module proxy at the pinned version (it ignores our go.mod).
$(STATICCHECK):
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(dir $@)staticcheck $@

# Every test of every package, fuzz seed corpora included, with a plain summary at the end.
# -count=1: never report cached results as a fresh run.
test: deps lint
	@mkdir -p $(dir $(BIN))
	@$(GO) build -o $(dir $(BIN))testsummary ./scripts/testsummary
	# deps installed Chromium, so no browser test may skip here (internal/apptest/chrome).
	OMNICHAT_REQUIRE_BROWSER=1 $(GO) test -count=1 -timeout 9m -json ./... | $(dir $(BIN))testsummary

bench:
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchtime=$(BENCHTIME) -benchmem ./...

fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

clean:
	rm -rf bin
