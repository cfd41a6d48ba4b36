package main

import (
	"context"
	"fmt"

	"github.com/patron-go/patron"
	kafkaclient "github.com/patron-go/patron/client/kafka"
	"github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/encoding"
	patronlog "github.com/patron-go/patron/observability/log"
)

// storage keeps every message in Redis: new ones from topicMessage, giphy's
// updates from topicMessageUpdated. After each write it publishes the stored
// version to topicMessageStored, for chat-api's streams.
type storage struct {
	store    store
	producer *kafkaclient.Producer
}

func (t *talk) storage(ctx context.Context) (_ *service, err error) {
	svc, err := t.newService(ctx, "storage")
	if err != nil {
		return nil, err
	}
	var cl closers
	defer cl.onError(&err)
	st, err := t.redis(svc)
	if err != nil {
		return nil, err
	}
	cl = append(cl, func() { _ = st.rdb.Close() })
	producer, err := kafkaclient.NewProducer(t.brokers,
		kafkaclient.WithTracerProvider(svc.TracerProvider()), kafkaclient.WithMeterProvider(svc.MeterProvider()),
		kafkaclient.WithPropagator(svc.Propagator()), kafkaclient.WithLogger(svc.Logger()))
	if err != nil {
		return nil, fmt.Errorf("storage: producer: %w", err)
	}
	cl = append(cl, closeProducer(producer))
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
	out, err := kafkaclient.NewEncodedMessage(topicMessageStored, encoding.JSON, stored)
	if err != nil {
		return err
	}
	out.Key = []byte(stored.Room)
	return s.producer.Send(ctx, out)
}
