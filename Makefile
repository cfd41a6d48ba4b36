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

## demo: the seven-service chain with the built-in trace viewer, no Docker needed
demo:
	cd examples && go run ./demo

## demo-compose: the same chain against the brokers of examples/docker-compose.yml
demo-compose:
	docker compose -f examples/docker-compose.yml up -d
	cd examples && go run ./demo -external -aws-endpoint http://localhost:4100 -postgres "postgres://postgres@localhost:5432/test?sslmode=disable"

## talk: the Tracing Talk chat on Kafka
talk:
	cd examples && go run ./tracing-talk
