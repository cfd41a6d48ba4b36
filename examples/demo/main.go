// Command demo runs Patron's seven-service chain with one command and no
// Docker: it starts what the chain needs (embedded Kafka, SQS/SNS emulator,
// Redis, SQLite and the trace viewer), builds and starts the services as
// separate processes, sends one request, and prints the URL of its trace.
//
//	make demo                         # builds bin/demo and runs it
//	cd examples && go run ./demo      # the same (examples/ is a module of its own)
//	make demo-compose                 # -external: the brokers of examples/docker-compose.yml
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
	"syscall"

	"github.com/patron-go/patron/examples/internal/terminal"
)

func main() {
	// Ctrl-C for the launcher alone, so that make ends with its status.
	restore, err := terminal.Foreground()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
	}
	code := launch()
	restore()
	os.Exit(code)
}

// launch runs the demo from the command line and returns the exit status.
func launch() int {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	cfg.flags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(ctx, cfg, os.Stdout, logger); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	return 0
}

// curlCommand is the request the launcher sends, as a command to paste into
// a shell. http-svc refuses a body without its JSON media type (415).
func curlCommand(port int) string {
	return fmt.Sprintf(`curl -i -X POST -H 'Content-Type: application/json' -d '{"firstname":"John","lastname":"Doe"}' http://localhost:%d/api`, port)
}

// printSent says where the trace of the first request is and how to send
// more.
func (d *demo) printSent(traceID string) {
	fmt.Fprintf(d.out, "\nOne request went through all seven services. Its trace:\n  %s\n", d.traceURL(traceID))
	fmt.Fprintf(d.out, "Send more with examples/start_processing.sh [N] (N requests, 10 by default), or:\n  %s\n", curlCommand(d.cfg.ports["http-svc"]))
}

// run starts the demo, sends one request, prints where to look, and keeps
// everything running until ctx ends.
func run(ctx context.Context, cfg config, out io.Writer, logger *slog.Logger) error {
	d, err := start(ctx, cfg, out, logger)
	if err != nil {
		return err
	}
	stopErr := func() error {
		fmt.Fprintln(out, "\nstopping the services...")
		return d.stop()
	}
	if !cfg.noRequest {
		traceID, err := d.sendAndWait(ctx)
		if err != nil {
			return errors.Join(err, stopErr())
		}
		d.printSent(traceID)
	}
	fmt.Fprintln(out, "\nPress Ctrl-C to stop.")
	<-ctx.Done()
	if err := stopErr(); err != nil {
		return err
	}
	fmt.Fprintln(out, "all services stopped")
	return nil
}
