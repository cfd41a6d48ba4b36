package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/patron-go/patron"
	httpclient "github.com/patron-go/patron/client/http"
	kafkaclient "github.com/patron-go/patron/client/kafka"
	"github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/encoding"
	patronlog "github.com/patron-go/patron/observability/log"
)

// giphy answers "/giphy <word>" messages: it asks giphy-images for a picture
// of the word and publishes the message with the picture to
// topicMessageUpdated. Other messages pass it by.
type giphy struct {
	client    *httpclient.Client
	imagesURL string
	producer  *kafkaclient.Producer
}

func (t *talk) giphy(ctx context.Context) (_ *service, err error) {
	svc, err := t.newService(ctx, "giphy")
	if err != nil {
		return nil, err
	}
	var cl closers
	defer cl.onError(&err)
	client, err := httpclient.New(httpclient.WithTimeout(5*time.Second),
		httpclient.WithTracerProvider(svc.TracerProvider()), httpclient.WithMeterProvider(svc.MeterProvider()),
		httpclient.WithPropagator(svc.Propagator()))
	if err != nil {
		return nil, fmt.Errorf("giphy: http client: %w", err)
	}
	cl = append(cl, client.CloseIdleConnections)
	producer, err := kafkaclient.NewProducer(t.brokers,
		kafkaclient.WithTracerProvider(svc.TracerProvider()), kafkaclient.WithMeterProvider(svc.MeterProvider()),
		kafkaclient.WithPropagator(svc.Propagator()), kafkaclient.WithLogger(svc.Logger()))
	if err != nil {
		return nil, fmt.Errorf("giphy: producer: %w", err)
	}
	cl = append(cl, closeProducer(producer))
	g := &giphy{client: client, imagesURL: t.imagesURL, producer: producer}
	consumer, err := kafka.New("giphy", "giphy", t.brokers, []string{topicMessage}, g.handle,
		kafka.WithTracerProvider(svc.TracerProvider()), kafka.WithMeterProvider(svc.MeterProvider()),
		kafka.WithPropagator(svc.Propagator()))
	if err != nil {
		return nil, fmt.Errorf("giphy: consumer: %w", err)
	}
	return &service{Service: svc, components: []patron.Component{consumer}, close: cl.close}, nil
}

func (g *giphy) handle(ctx context.Context, msg *kafka.Message) error {
	var m message
	if err := msg.Decode(&m); err != nil {
		return err
	}
	word, ok := giphyWord(m.Text)
	if !ok {
		return nil
	}
	image, err := g.search(ctx, word)
	if err != nil {
		return err
	}
	m.Image = image
	patronlog.FromContext(ctx).InfoContext(ctx, "giphy found an image", "room", m.Room, "id", m.ID)
	out, err := kafkaclient.NewEncodedMessage(topicMessageUpdated, encoding.JSON, m)
	if err != nil {
		return err
	}
	out.Key = []byte(m.Room)
	return g.producer.Send(ctx, out)
}

// search asks giphy-images for the URL of a picture of word.
func (g *giphy) search(ctx context.Context, word string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.imagesURL+"/search?q="+url.QueryEscape(word), nil)
	if err != nil {
		return "", err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("giphy-images: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("giphy-images: status %d", resp.StatusCode)
	}
	var found struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&found); err != nil {
		return "", fmt.Errorf("giphy-images: %w", err)
	}
	return found.URL, nil
}
