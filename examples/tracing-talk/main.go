// Command tracing-talk runs Tracing Talk, the asynchronous chat of Yuri
// Shkuro's "Mastering Distributed Tracing" (chapter 5), on Patron: chat-api,
// storage, giphy and giphy-images exchange messages over Kafka and HTTP, and
// the built-in trace viewer shows how one message fans out across them.
//
// Everything runs in this one process: an embedded Kafka unless one answers
// on -kafka, an in-process Redis unless one answers on -redis, the trace
// viewer and the four services, each a Patron service with its own name in
// the traces. Ctrl-C stops it all.
//
//	make talk                          # builds bin/tracing-talk and runs it
//	cd examples && go run ./tracing-talk  # the same (examples/ is a module of its own)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/patron-go/patron/examples/internal/terminal"
)

func main() {
	// Ctrl-C for this process alone, so that make ends with its status.
	restore, err := terminal.Foreground()
	if err != nil {
		slog.Warn("tracing-talk: the terminal's Ctrl-C stays shared with make", "error", err)
	}
	code := launch()
	restore()
	os.Exit(code)
}

// launch runs Tracing Talk from the command line and returns the exit
// status.
func launch() int {
	cfg := config{logs: os.Stderr}
	kafkaAddr := flag.String("kafka", "127.0.0.1:9092", "Kafka broker to use if one answers there; otherwise an embedded cluster runs")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis server to use if one answers there; otherwise miniredis runs in-process")
	flag.StringVar(&cfg.chatAddr, "addr", "127.0.0.1:8080", "address of the chat page and API (chat-api)")
	flag.StringVar(&cfg.imagesAddr, "images-addr", "127.0.0.1:8083", "address of giphy-images")
	flag.StringVar(&cfg.viewerAddr, "viewer-addr", "127.0.0.1:16687", "address of the trace viewer's UI and query API")
	flag.StringVar(&cfg.otlpHTTPAddr, "otlp-http-addr", "127.0.0.1:4319", "address of the viewer's OTLP/HTTP receiver")
	flag.StringVar(&cfg.otlpGRPCAddr, "otlp-grpc-addr", "127.0.0.1:4320", "address of the viewer's OTLP/gRPC receiver")
	flag.StringVar(&cfg.keyPrefix, "redis-prefix", "tracing-talk:", "prefix of every Redis key")
	flag.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *kafkaAddr != "" && probeKafka(ctx, *kafkaAddr) {
		cfg.kafkaBrokers = []string{*kafkaAddr}
	}
	if *redisAddr != "" && probeRedis(ctx, *redisAddr) {
		cfg.redisAddr = *redisAddr
	}
	if err := run(ctx, cfg, func(eps endpoints) { printEndpoints(cfg, eps) }); err != nil {
		slog.Error("tracing-talk failed", "error", err)
		return 1
	}
	return 0
}

func printEndpoints(cfg config, eps endpoints) {
	kafka, redis := strings.Join(eps.Kafka, ","), eps.Redis
	if len(cfg.kafkaBrokers) == 0 {
		kafka = "embedded (kfake) on " + kafka
	}
	if cfg.redisAddr == "" {
		redis = "in-process (miniredis) on " + redis
	}
	fmt.Printf(`
Tracing Talk is ready.

  chat          %s        (open it in two windows, post "/giphy cats")
  trace viewer  %s/search?service=chat-api
  giphy-images  %s
  Kafka         %s
  Redis         %s

`, eps.Chat, eps.Viewer, eps.Images, kafka, redis)
	for _, name := range slices.Sorted(maps.Keys(eps.Services)) {
		fmt.Printf("  %-13s %s/ready  %s/metrics\n", name, eps.Services[name], eps.Services[name])
	}
	fmt.Print("\nPress Ctrl-C to stop.\n\n")
}
