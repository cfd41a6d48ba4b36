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
//	patron traces [--ui 127.0.0.1:16686] [--otlp-http 127.0.0.1:4318] [--otlp-grpc 127.0.0.1:4317]
//	              [--max-spans n] [--max-span-bytes size] [--max-logs n] [--max-log-bytes size]
//	              [--max-points n] [--max-point-bytes size]
//
// Traces runs the viewer until interrupted. It receives all three signals,
// traces, logs and metrics, over OTLP/HTTP and OTLP/gRPC, so point services
// at it with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 alone and open
// http://127.0.0.1:16686/search. Each store keeps its newest data within a
// count and a memory bound (sizes as 256MiB, 1GB or plain bytes).
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
	"strconv"
	"strings"
	"syscall"
	"unicode"

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
	fs := newFlagSet("traces", "patron traces [--ui addr] [--otlp-http addr] [--otlp-grpc addr] [--max-spans n] [--max-span-bytes size] "+
		"[--max-logs n] [--max-log-bytes size] [--max-points n] [--max-point-bytes size]", stderr)
	ui := fs.String("ui", traceview.DefaultUIAddr, "address of the web UI and query API")
	otlpHTTP := fs.String("otlp-http", traceview.DefaultOTLPHTTPAddr, "address of the OTLP/HTTP receiver (traces, logs, metrics)")
	otlpGRPC := fs.String("otlp-grpc", traceview.DefaultOTLPGRPCAddr, "address of the OTLP/gRPC receiver (traces, logs, metrics)")
	maxSpans := fs.Int("max-spans", traceview.DefaultMaxSpans, "spans kept in memory; the oldest traces go first")
	maxSpanBytes := byteSize(traceview.DefaultMaxStoreBytes)
	fs.Var(&maxSpanBytes, "max-span-bytes", "memory the stored spans may take (e.g. 256MiB); the oldest traces go first")
	maxLogs := fs.Int("max-logs", traceview.DefaultMaxLogRecords, "log records kept in memory; the oldest go first")
	maxLogBytes := byteSize(traceview.DefaultMaxLogBytes)
	fs.Var(&maxLogBytes, "max-log-bytes", "memory the stored log records may take")
	maxPoints := fs.Int("max-points", traceview.DefaultMaxMetricPoints, "metric data points kept in memory; the oldest go first")
	maxPointBytes := byteSize(traceview.DefaultMaxMetricBytes)
	fs.Var(&maxPointBytes, "max-point-bytes", "memory the stored metric data points may take")
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
		traceview.WithOTLPGRPCAddr(*otlpGRPC), traceview.WithMaxSpans(*maxSpans), traceview.WithMaxStoreBytes(int64(maxSpanBytes)),
		traceview.WithMaxLogRecords(*maxLogs), traceview.WithMaxLogBytes(int64(maxLogBytes)),
		traceview.WithMaxMetricPoints(*maxPoints), traceview.WithMaxMetricBytes(int64(maxPointBytes)),
		traceview.WithLogger(logger))
	if err != nil {
		fmt.Fprintf(stderr, "patron traces: %v\n", err)
		return exitUsage
	}
	errc := make(chan error, 1)
	go func() { errc <- v.Run(ctx) }()
	if err := v.Ready(ctx); err == nil {
		a := v.Addrs()
		fmt.Fprint(stdout, tracesHint(a))
	}
	if err := <-errc; err != nil {
		fmt.Fprintf(stderr, "patron traces: %v\n", err)
		return exitError
	}
	return exitOK
}

// tracesHint is what patron traces prints once listening: where the UI is,
// and the one variable that sends a service's traces, logs and metrics to
// it (the gRPC form too).
func tracesHint(a traceview.Addrs) string {
	var b strings.Builder
	if a.UI != "" {
		fmt.Fprintf(&b, "trace viewer: http://%s/search\n", a.UI)
	}
	if a.OTLPHTTP != "" {
		fmt.Fprintf(&b, "OTLP/HTTP:    http://%s (traces, logs, metrics)\n", a.OTLPHTTP)
	}
	if a.OTLPGRPC != "" {
		fmt.Fprintf(&b, "OTLP/gRPC:    %s (traces, logs, metrics)\n", a.OTLPGRPC)
	}
	switch {
	case a.OTLPHTTP != "":
		fmt.Fprintf(&b, "send all three signals with OTEL_EXPORTER_OTLP_ENDPOINT=http://%s\n", a.OTLPHTTP)
		if a.OTLPGRPC != "" {
			fmt.Fprintf(&b, "  (or over gRPC: OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://%s)\n", a.OTLPGRPC)
		}
	case a.OTLPGRPC != "":
		fmt.Fprintf(&b, "send all three signals with OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://%s\n", a.OTLPGRPC)
	}
	return b.String()
}

// byteSize is a flag for a memory size: plain bytes, or a number with one of
// the units B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
type byteSize int64

func (s *byteSize) String() string {
	n := int64(*s)
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

func (s *byteSize) Set(v string) error {
	v = strings.TrimSpace(v)
	num := strings.TrimRightFunc(v, unicode.IsLetter)
	unit := strings.TrimSpace(v[len(num):])
	mult := map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || mult == 0 || f <= 0 || f*mult > 1<<40 {
		return fmt.Errorf("want a positive size such as 256MiB, 1GB or 1048576, got %q", v)
	}
	*s = byteSize(f * mult)
	return nil
}
