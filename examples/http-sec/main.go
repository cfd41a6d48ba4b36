// Command http-sec is http-sec-svc: POST /users, protected by an API key,
// takes a protobuf user and publishes it as JSON to Kafka.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/patron-go/patron"
	kafkaclient "github.com/patron-go/patron/client/kafka"
	patronhttp "github.com/patron-go/patron/component/http"
	"github.com/patron-go/patron/encoding"
	"github.com/patron-go/patron/examples/internal/demopb"
	"github.com/patron-go/patron/examples/internal/env"
)

type publisher struct {
	producer *kafkaclient.Producer
	topic    string
}

func (p *publisher) create(w http.ResponseWriter, r *http.Request) {
	var u demopb.User
	if err := patronhttp.Decode(r, &u); err != nil {
		patronhttp.WriteError(w, r, err)
		return
	}
	msg, err := kafkaclient.NewEncodedMessage(p.topic, encoding.JSON,
		map[string]string{"firstname": u.GetFirstname(), "lastname": u.GetLastname()})
	if err != nil {
		patronhttp.WriteError(w, r, err)
		return
	}
	msg.Key = []byte(u.GetFirstname())
	if err := p.producer.Send(r.Context(), msg); err != nil {
		patronhttp.WriteProblem(w, r, http.StatusServiceUnavailable, "publishing to Kafka failed")
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func main() {
	if err := run(); err != nil {
		slog.Error("http-sec-svc failed", "error", err)
		os.Exit(1)
	}
}

func run() error {
	producer, err := kafkaclient.NewProducer(strings.Split(env.Get("KAFKA_BROKERS", "127.0.0.1:9092"), ","))
	if err != nil {
		return err
	}
	defer producer.Close(context.Background())
	p := &publisher{producer: producer, topic: env.Get("KAFKA_TOPIC", "patron-topic")}
	route, err := patronhttp.NewRoute("POST /users", p.create, patronhttp.WithAPIKey(env.Get("DEMO_API_KEY", "patron-demo-key")))
	if err != nil {
		return err
	}
	svc, err := patron.New("http-sec-svc", "1.0.0", patron.WithRoutes(route))
	if err != nil {
		return err
	}
	return svc.Run(context.Background())
}
