GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := $(shell go env GOPATH)/bin/golangci-lint

# The library is the root module; examples/ and bench/ are modules of their
# own that use it through a replace directive (see the README, "Modules").
MODULES := . examples bench

.PHONY: test lint fmt vet bench demo demo-compose talk tools

## test: the whole test suite of every module, race detector on (integration tests skip unless their servers answer; CI sets PATRON_INTEGRATION=1)
test:
	@set -e; for m in $(MODULES); do echo "== go test ($$m)"; (cd $$m && go test -race -timeout 20m ./...); done

## lint: go.mod tidy, gofmt, go vet and golangci-lint in every module
lint: tools
	@set -e; for m in $(MODULES); do (cd $$m && go mod tidy -diff) || (echo "go.mod of module $$m is not tidy: run go mod tidy there"; exit 1); done
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	@set -e; for m in $(MODULES); do echo "== go vet, golangci-lint ($$m)"; (cd $$m && go vet ./... && $(GOLANGCI_LINT) run ./...); done

tools:
	@test -x $(GOLANGCI_LINT) && $(GOLANGCI_LINT) version 2>/dev/null | grep -q "$(patsubst v%,%,$(GOLANGCI_LINT_VERSION))" || \
		go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: every benchmark once, with allocations
bench:
	@set -e; for m in $(MODULES); do (cd $$m && go test -run '^$$' -bench . -benchmem ./...); done

# demo, demo-compose and talk build their launcher into $(BIN) and run it,
# instead of go run: go run exits 1 when Ctrl-C interrupts it, where the
# launcher stops everything gracefully and exits 0. The launcher also takes
# the terminal's Ctrl-C for itself (examples/internal/terminal), so make,
# which would die of the SIGINT after the recipe, ends with status 0 too.
BIN ?= bin
demo demo-compose talk: SHELL := /bin/bash

# go_build builds package $(1) of the examples module into $(2), counting the
# packages it compiles on one line: a first run compiles every dependency,
# which takes minutes (see the README, "The demo"); later runs, seconds.
define go_build
	@echo "building $(2) (a first run compiles every dependency and takes a few minutes)..."
	@set -o pipefail; mkdir -p $(BIN) && cd examples && go build -v -o $(abspath $(2)) $(1) 2>&1 | \
		awk '/^[^ :]+$$/ { n++; printf "\r  %d packages compiled", n; fflush(); line = 1; next } \
		     { if (line) print ""; line = 0; print } END { if (line) print "" }'
endef

## demo: the seven-service chain with the built-in trace viewer, no Docker needed
demo:
	$(call go_build,./demo,$(BIN)/demo)
	@$(BIN)/demo $(DEMO_FLAGS)

## demo-compose: the same chain against the brokers of examples/docker-compose.yml
demo-compose:
	docker compose -f examples/docker-compose.yml up -d
	$(call go_build,./demo,$(BIN)/demo)
	@$(BIN)/demo -external -aws-endpoint http://localhost:4100 -postgres "postgres://postgres@localhost:5432/test?sslmode=disable" $(DEMO_FLAGS)

## talk: the Tracing Talk chat on Kafka
talk:
	$(call go_build,./tracing-talk,$(BIN)/tracing-talk)
	@$(BIN)/tracing-talk $(TALK_FLAGS)
