package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"golang.org/x/sync/errgroup"

	"github.com/patron-go/patron"
	patronredis "github.com/patron-go/patron/client/redis"
	patronlog "github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/observability/telemetry"
	"github.com/patron-go/patron/patrontest/kafkatest"
	"github.com/patron-go/patron/traceview"
)

const version = "1.0.0"

// config says where Tracing Talk listens and what it talks to.
type config struct {
	chatAddr   string // chat-api's page and API
	imagesAddr string // giphy-images, whose URLs end up in the browser

	viewerAddr   string // the trace viewer's UI and query API
	otlpHTTPAddr string
	otlpGRPCAddr string

	kafkaBrokers []string // none: an embedded cluster
	redisAddr    string   // empty: an in-process miniredis
	keyPrefix    string   // of every Redis key

	logs     io.Writer
	logLevel slog.Level
}

// endpoints are what run hands to its caller once every service is ready.
type endpoints struct {
	Chat     string            // chat-api's base URL
	Viewer   string            // the trace viewer's base URL
	Images   string            // giphy-images' base URL
	Services map[string]string // service name → base URL of /ready, /metrics
	Kafka    []string
	Redis    string
}

// talk holds what every service of the chat shares.
type talk struct {
	cfg       config
	brokers   []string
	redisAddr string
	otlp      string // the viewer's OTLP/HTTP receiver
	viewerURL string
	imagesURL string
}

// service is one Patron service with its components, and what to release
// once it stopped.
type service struct {
	*patron.Service
	components []patron.Component
	close      func()
}

// run starts the infrastructure the chat needs, the trace viewer and the four
// services, calls ready with their addresses once they all answer /ready, and
// serves until ctx is cancelled or a service fails. Services stop first, so
// their last spans still reach the viewer, then the viewer, then Kafka and
// Redis.
func run(ctx context.Context, cfg config, ready func(endpoints)) (err error) {
	t := &talk{cfg: cfg, brokers: cfg.kafkaBrokers, redisAddr: cfg.redisAddr}
	if len(t.brokers) == 0 {
		cluster, err := kafkatest.Start(kafkatest.WithTopics(topicMessage, topicMessageUpdated, topicMessageStored))
		if err != nil {
			return err
		}
		defer cluster.Close()
		t.brokers = cluster.Addrs()
	}
	if t.redisAddr == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return fmt.Errorf("starting miniredis: %w", err)
		}
		defer mr.Close()
		t.redisAddr = mr.Addr()
	}

	viewer, err := traceview.New(traceview.WithUIAddr(cfg.viewerAddr),
		traceview.WithOTLPHTTPAddr(cfg.otlpHTTPAddr), traceview.WithOTLPGRPCAddr(cfg.otlpGRPCAddr),
		traceview.WithLogger(t.logger("traceview")))
	if err != nil {
		return err
	}
	// The viewer outlives the services, which flush their spans to it as
	// they stop.
	viewerCtx, stopViewer := context.WithCancel(context.WithoutCancel(ctx))
	viewerDone := make(chan error, 1)
	go func() { viewerDone <- viewer.Run(viewerCtx) }()
	defer func() {
		stopViewer()
		err = errors.Join(err, <-viewerDone)
	}()
	if err := viewer.Ready(ctx); err != nil {
		return fmt.Errorf("starting the trace viewer: %w", err)
	}
	t.otlp = viewer.Addrs().OTLPHTTP
	t.viewerURL = "http://" + viewer.Addrs().UI

	chatListener, err := net.Listen("tcp", cfg.chatAddr)
	if err != nil {
		return fmt.Errorf("chat-api: %w", err)
	}
	imagesListener, err := net.Listen("tcp", cfg.imagesAddr)
	if err != nil {
		_ = chatListener.Close()
		return fmt.Errorf("giphy-images: %w", err)
	}
	t.imagesURL = "http://" + imagesListener.Addr().String()

	var services []*service
	defer func() {
		for _, s := range slices.Backward(services) {
			s.close()
		}
	}()
	for _, build := range []func() (*service, error){
		func() (*service, error) { return t.chatAPI(ctx, chatListener) },
		func() (*service, error) { return t.storage(ctx) },
		func() (*service, error) { return t.giphy(ctx) },
		func() (*service, error) { return t.images(ctx, imagesListener) },
	} {
		s, err := build()
		if err != nil {
			_ = chatListener.Close() // Run closes them, but it never ran
			_ = imagesListener.Close()
			return err
		}
		services = append(services, s)
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, s := range services {
		g.Go(func() error {
			if err := s.Run(gctx, s.components...); err != nil {
				return fmt.Errorf("%s: %w", s.Name(), err)
			}
			return nil
		})
	}
	g.Go(func() error {
		eps, err := t.waitReady(gctx, services)
		if err != nil {
			return nil // a service failed or ctx ended: its error is the one to report
		}
		eps.Chat = "http://" + chatListener.Addr().String()
		ready(eps)
		return nil
	})
	return g.Wait()
}

// newService builds a Patron service that exports its spans, log records
// and metrics to the viewer, so that its console shows all three. Several
// services share this process, so none of them installs the OpenTelemetry
// globals or reads OTEL_EXPORTER_OTLP_ENDPOINT: each has its own providers,
// named after it, which its components and clients are given explicitly.
// The metric reader honours OTEL_METRIC_EXPORT_INTERVAL (60s by default).
func (t *talk) newService(ctx context.Context, name string, opts ...patron.Option) (*patron.Service, error) {
	spans, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(t.otlp), otlptracehttp.WithInsecure())
	if err != nil {
		return nil, fmt.Errorf("%s: OTLP span exporter: %w", name, err)
	}
	logs, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(t.otlp), otlploghttp.WithInsecure())
	if err != nil {
		return nil, fmt.Errorf("%s: OTLP log exporter: %w", name, err)
	}
	metrics, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(t.otlp), otlpmetrichttp.WithInsecure())
	if err != nil {
		return nil, fmt.Errorf("%s: OTLP metric exporter: %w", name, err)
	}
	svc, err := patron.New(name, version, append([]patron.Option{
		patron.WithHTTPAddr("127.0.0.1:0"),
		patron.WithLogger(t.logger(name)),
		patron.WithSpanExporter(spans),
		patron.WithObservability(telemetry.WithoutGlobals(),
			telemetry.WithLogExporter(logs),
			telemetry.WithMetricReader(sdkmetric.NewPeriodicReader(metrics))),
		patron.WithShutdownTimeout(10 * time.Second),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return svc, nil
}

func (t *talk) logger(name string) *slog.Logger {
	return patronlog.New(t.cfg.logs, patronlog.FormatText, t.cfg.logLevel, slog.String("service", name))
}

func (t *talk) redis(svc *patron.Service) (store, error) {
	rdb, err := patronredis.New(patronredis.WithAddr(t.redisAddr),
		patronredis.WithTracerProvider(svc.TracerProvider()), patronredis.WithMeterProvider(svc.MeterProvider()))
	if err != nil {
		return store{}, fmt.Errorf("%s: redis: %w", svc.Name(), err)
	}
	return store{rdb: rdb, prefix: t.cfg.keyPrefix}, nil
}

// waitReady polls every service's /ready until it answers 200.
func (t *talk) waitReady(ctx context.Context, services []*service) (endpoints, error) {
	eps := endpoints{Viewer: t.viewerURL, Images: t.imagesURL, Services: map[string]string{},
		Kafka: t.brokers, Redis: t.redisAddr}
	for _, s := range services {
		addr, err := s.HTTPAddr(ctx)
		if err != nil {
			return eps, err
		}
		base := "http://" + addr.String()
		for !isReady(ctx, base+"/ready") {
			select {
			case <-ctx.Done():
				return eps, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		eps.Services[s.Name()] = base
	}
	return eps, nil
}

func isReady(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	req.Close = true // no idle connection outlives the wait
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// probeKafka reports whether a Kafka broker answers at addr.
func probeKafka(ctx context.Context, addr string) bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return cl.Ping(ctx) == nil
}

// probeRedis reports whether a Redis server answers at addr.
func probeRedis(ctx context.Context, addr string) bool {
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return rdb.Ping(ctx).Err() == nil
}
