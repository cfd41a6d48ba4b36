GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := $(shell go env GOPATH)/bin/golangci-lint

.PHONY: test lint fmt vet bench demo demo-compose talk tools

## test: the whole test suite, race detector on (integration tests skip unless their servers answer; CI sets PATRON_INTEGRATION=1)
test:
	go test -race -timeout 20m ./...

## lint: gofmt, go vet and golangci-lint
lint: tools
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	go vet ./...
	$(GOLANGCI_LINT) run ./...

tools:
	@test -x $(GOLANGCI_LINT) && $(GOLANGCI_LINT) version 2>/dev/null | grep -q "$(patsubst v%,%,$(GOLANGCI_LINT_VERSION))" || \
		go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: every benchmark once, with allocations
bench:
	go test -run '^$$' -bench . -benchmem ./...

## demo: the seven-service chain with the built-in trace viewer, no Docker needed
demo:
	go run ./examples/demo

## demo-compose: the same chain against the brokers of examples/docker-compose.yml
demo-compose:
	docker compose -f examples/docker-compose.yml up -d
	go run ./examples/demo -external -aws-endpoint http://localhost:4100 -postgres "postgres://postgres@localhost:5432/test?sslmode=disable"

## talk: the Tracing Talk chat on Kafka
talk:
	go run ./examples/tracing-talk
