# omnichat — common tasks. `make help` lists them.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Go lives in /usr/local/go/bin on our machines, which is not always on PATH.
ifeq ($(shell command -v go 2>/dev/null),)
export PATH := /usr/local/go/bin:$(PATH)
endif

GO        ?= go
BIN       ?= bin/omnichat
FUZZTIME  ?= 30s
BENCH     ?= .
BENCHTIME ?= 1s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# A static binary: no libc dependency, so the same build runs in the Docker image.
export CGO_ENABLED ?= 0

.DEFAULT_GOAL := help
.PHONY: help build run test deps vet lint bench fuzz clean

help:
	@echo "make run        build and start omnichat serve (embedded PostgreSQL unless OMNICHAT_DATABASE_URL is set)"
	@echo "make build      build $(BIN)"
	@echo "make test       install missing system packages (root), go vet, every test, a summary"
	@echo "make lint       gofmt check and go vet"
	@echo "make bench      benchmarks (BENCH=regexp, BENCHTIME=$(BENCHTIME))"
	@echo "make fuzz       every Fuzz target for FUZZTIME=$(FUZZTIME) each"
	@echo "make deps       only install the system packages the tests need"

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/omnichat

run:
	@scripts/deps.sh run
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/omnichat
	./$(BIN) serve

deps:
	scripts/deps.sh

vet:
	$(GO) vet ./...

lint: vet
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*' -not -path './var/*')); \
	if [[ -n "$$unformatted" ]]; then \
		echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$unformatted"; exit 1; \
	fi

# Every test of every package, fuzz seed corpora included, with a plain summary at the end.
# -count=1: never report cached results as a fresh run.
test: deps vet
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
