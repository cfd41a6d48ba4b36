// Command patron scaffolds Patron services and runs the built-in trace
// viewer.
//
// Usage:
//
//	patron <command> [arguments]
//
// The commands are:
//
//	new      create a new service from a template
//	traces   run the trace viewer (OTLP receiver and web UI)
//	version  print the version of patron
//
// # New
//
//	patron new --module path [--http] [--grpc] [--kafka] [--amqp] [--sqs] [--sql postgres|mysql] [--redis] [--patron dir] [--force] [--tidy] dir
//
// New writes a service into dir: main.go wired with the chosen components
// (--http routes on the service's default server, a --grpc server, --kafka,
// --amqp and --sqs consumers) and clients (--sql, --redis, and a producer
// with --kafka and --amqp), a handler and its unit test per component
// (asserting spans with observability/observabilitytest, no server needed),
// a README, a Makefile, a multi-stage Dockerfile, a docker-compose.yml for
// the dependencies, a .gitignore and a go.mod requiring Patron. Without a
// component flag the service gets --http.
//
// The module path follows the rules of go mod init. A dir that holds files is
// refused unless --force (which overwrites the template's files only). The
// go.mod lists only Patron: run go mod tidy in dir, or pass --tidy. Usage
// errors exit with status 2.
//
// Run from a Patron checkout, or given one with --patron dir, new writes a
// replace directive to that checkout, so the service builds before Patron is
// published; the service's README says how to switch to a published
// version. A released patron (built as a module at a version) requires its
// own version instead.
//
// Example, from a checkout:
//
//	go run ./cmd/patron new --module example.com/orders --http --kafka --sql postgres --tidy ../orders
//	cd ../orders && make test && go run .
//
// and once Patron is published:
//
//	go run github.com/patron-go/patron/cmd/patron@latest new --module example.com/orders --http orders
//
// # Traces
//
//	patron traces [--ui 127.0.0.1:16686] [--otlp-http 127.0.0.1:4318] [--otlp-grpc 127.0.0.1:4317] [--max-spans n]
//
// Traces runs the trace viewer until interrupted; point services at it with
// OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 and open
// http://127.0.0.1:16686/search.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/patron-go/patron/traceview"
)

// Exit codes follow Go tools: 2 for usage errors.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `Patron builds Go microservices with tracing, metrics and logs built in.

Usage:

	patron <command> [arguments]

The commands are:

	new      create a new service from a template
	traces   run the trace viewer (OTLP receiver and web UI)
	version  print the version of patron

Use "patron <command> -h" for more information about a command.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "new":
		return runNew(ctx, args[1:], stdout, stderr)
	case "traces":
		return runTraces(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "patron", version())
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "patron %s: unknown command\nRun 'patron help' for usage.\n", args[0])
	return exitUsage
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// newFlagSet returns a flag set that reports errors instead of exiting, so
// run stays testable and usage errors map to exit code 2.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func runTraces(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("traces", "patron traces [--ui addr] [--otlp-http addr] [--otlp-grpc addr] [--max-spans n]", stderr)
	ui := fs.String("ui", traceview.DefaultUIAddr, "address of the web UI and query API")
	otlpHTTP := fs.String("otlp-http", "127.0.0.1:4318", "address of the OTLP/HTTP receiver")
	otlpGRPC := fs.String("otlp-grpc", "127.0.0.1:4317", "address of the OTLP/gRPC receiver")
	maxSpans := fs.Int("max-spans", traceview.DefaultMaxSpans, "spans kept in memory; the oldest traces go first")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "patron traces: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	v, err := traceview.New(traceview.WithUIAddr(*ui), traceview.WithOTLPHTTPAddr(*otlpHTTP),
		traceview.WithOTLPGRPCAddr(*otlpGRPC), traceview.WithMaxSpans(*maxSpans), traceview.WithLogger(logger))
	if err != nil {
		fmt.Fprintf(stderr, "patron traces: %v\n", err)
		return exitUsage
	}
	errc := make(chan error, 1)
	go func() { errc <- v.Run(ctx) }()
	if err := v.Ready(ctx); err == nil {
		a := v.Addrs()
		fmt.Fprintf(stdout, "trace viewer: http://%s/search\nOTLP/HTTP:    http://%s\nOTLP/gRPC:    %s\n"+
			"point services at it with OTEL_EXPORTER_OTLP_ENDPOINT=http://%s\n", a.UI, a.OTLPHTTP, a.OTLPGRPC, a.OTLPHTTP)
	}
	if err := <-errc; err != nil {
		fmt.Fprintf(stderr, "patron traces: %v\n", err)
		return exitError
	}
	return exitOK
}
