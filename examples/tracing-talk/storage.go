package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/ext"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/patron-go/patron"
	"github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/correlation"
	"github.com/patron-go/patron/encoding"
	patronlog "github.com/patron-go/patron/observability/log"
)

// storage keeps every message in Redis: new ones from topicMessage, giphy's
// updates from topicMessageUpdated. After each write it publishes the stored
// version to topicMessageStored, for chat-api's streams.
//
// Unlike the other services, storage is instrumented with the OpenTracing
// API, as the services of the book are: it stands for a service in the
// middle of its migration. It runs on Patron (patron.WithOpenTracing) and
// consumes with component/kafka, but its handler still starts its own spans
// with opentracing.StartSpanFromContext, follows from the producer's span
// extracted from the record headers, and publishes with a plain franz-go
// client, injecting its PRODUCER span into the headers itself. Its spans
// join the same trace as the OpenTelemetry-native services.
type storage struct {
	store    store
	producer *kgo.Client
}

func (t *talk) storage(ctx context.Context) (_ *service, err error) {
	// WithOpenTracing installs the OpenTracing global tracer, bound to this
	// service's tracer provider: storage is the only OpenTracing service in
	// this process, so the global is its own.
	svc, err := t.newService(ctx, "storage", patron.WithOpenTracing())
	if err != nil {
		return nil, err
	}
	var cl closers
	defer cl.onError(&err)
	// The Redis client and the consumer get the bridge's wrapper provider
	// (svc.TracerProvider()), which is what nests their spans with the
	// OpenTracing ones.
	st, err := t.redis(svc)
	if err != nil {
		return nil, err
	}
	cl = append(cl, func() { _ = st.rdb.Close() })
	producer, err := kgo.NewClient(kgo.SeedBrokers(t.brokers...))
	if err != nil {
		return nil, fmt.Errorf("storage: producer: %w", err)
	}
	cl = append(cl, producer.Close)
	s := &storage{store: st, producer: producer}
	consumer, err := kafka.New("storage", "storage", t.brokers, []string{topicMessage, topicMessageUpdated}, s.handle,
		kafka.WithTracerProvider(svc.TracerProvider()), kafka.WithMeterProvider(svc.MeterProvider()),
		kafka.WithPropagator(svc.Propagator()))
	if err != nil {
		return nil, fmt.Errorf("storage: consumer: %w", err)
	}
	return &service{Service: svc, components: []patron.Component{consumer}, close: cl.close}, nil
}

func (s *storage) handle(ctx context.Context, msg *kafka.Message) error {
	// The book's consumer: the message's span follows from the producer's,
	// whose context travels in the record headers. ctx also holds Patron's
	// CONSUMER span, which StartSpanFromContext makes the parent.
	var refs []opentracing.StartSpanOption
	if producer, err := opentracing.GlobalTracer().Extract(opentracing.TextMap, kafka.HeaderCarrier{Headers: &msg.Headers}); err == nil {
		refs = append(refs, opentracing.FollowsFrom(producer))
	}
	span, ctx := opentracing.StartSpanFromContext(ctx, "store "+msg.Topic, refs...)
	defer span.Finish()
	err := s.save(ctx, msg)
	if err != nil {
		ext.LogError(span, err)
	}
	return err
}

func (s *storage) save(ctx context.Context, msg *kafka.Message) error {
	var m message
	if err := msg.Decode(&m); err != nil {
		return err
	}
	if !validRoom(m.Room) || m.ID == "" {
		return fmt.Errorf("message %q of room %q: invalid", m.ID, m.Room)
	}
	stored, err := s.store.save(ctx, m, msg.Topic == topicMessageUpdated)
	if err != nil {
		return err
	}
	patronlog.FromContext(ctx).InfoContext(ctx, "message stored", "room", m.Room, "id", m.ID, "topic", msg.Topic)
	return s.publish(ctx, stored)
}

// publish announces m on topicMessageStored the way an OpenTracing service
// does it by hand: a PRODUCER span whose context is injected into the record
// headers, where chat-api's consumer finds it.
func (s *storage) publish(ctx context.Context, m message) error {
	span, ctx := opentracing.StartSpanFromContext(ctx, "publish "+topicMessageStored, ext.SpanKindProducer)
	defer span.Finish()
	ext.MessageBusDestination.Set(span, topicMessageStored)
	value, err := json.Marshal(m)
	if err != nil {
		return err
	}
	rec := &kgo.Record{Topic: topicMessageStored, Key: []byte(m.Room), Value: value,
		Headers: []kgo.RecordHeader{{Key: kafka.ContentTypeHeader, Value: []byte(encoding.JSON)}}}
	headers := kafka.HeaderCarrier{Headers: &rec.Headers}
	// Inject fails only without a valid span (telemetry off), which is no
	// reason to hold the message back.
	_ = span.Tracer().Inject(span.Context(), opentracing.TextMap, headers)
	if id, ok := correlation.FromContext(ctx); ok {
		headers.Set(correlation.HeaderKey, id)
	}
	if err := s.producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		ext.LogError(span, err)
		return err
	}
	return nil
}
