package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron"
	kafkaclient "github.com/patron-go/patron/client/kafka"
	patronhttp "github.com/patron-go/patron/component/http"
	"github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/encoding"
)

//go:embed web/index.html
var pageTemplate string

// chatAPI is the chat's front door: it serves the page, publishes posted
// messages to Kafka, lists a room from Redis, and streams the room's stored
// messages as Server-Sent Events.
type chatAPI struct {
	producer *kafkaclient.Producer
	store    store
	hub      *hub
	page     []byte
}

func (t *talk) chatAPI(ctx context.Context, l net.Listener) (_ *service, err error) {
	svc, err := t.newService(ctx, "chat-api")
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
		return nil, fmt.Errorf("chat-api: producer: %w", err)
	}
	cl = append(cl, closeProducer(producer))
	page, err := renderPage(t.viewerURL)
	if err != nil {
		return nil, err
	}
	api := &chatAPI{producer: producer, store: st, hub: newHub(), page: page}

	routes, err := routes(
		route("GET /{$}", api.index),
		route("POST /messages", api.post, patronhttp.WithBodyLimit(16<<10), patronhttp.WithTimeout(10*time.Second)),
		route("GET /messages", api.list, patronhttp.WithTimeout(5*time.Second)),
		route("GET /stream", api.stream))
	if err != nil {
		return nil, fmt.Errorf("chat-api: %w", err)
	}
	server, err := patronhttp.New(patronhttp.WithName("chat-http"), patronhttp.WithListener(l),
		patronhttp.WithRoutes(routes...),
		patronhttp.WithTracerProvider(svc.TracerProvider()), patronhttp.WithMeterProvider(svc.MeterProvider()),
		patronhttp.WithPropagator(svc.Propagator()))
	if err != nil {
		return nil, fmt.Errorf("chat-api: %w", err)
	}
	// One group for the whole API is right for one instance; several
	// instances would each need their own group, since every one of them
	// streams every message.
	consumer, err := kafka.New("chat-api-"+topicMessageStored, "chat-api", t.brokers, []string{topicMessageStored}, api.stored,
		kafka.WithTracerProvider(svc.TracerProvider()), kafka.WithMeterProvider(svc.MeterProvider()),
		kafka.WithPropagator(svc.Propagator()))
	if err != nil {
		return nil, fmt.Errorf("chat-api: consumer: %w", err)
	}
	return &service{Service: svc, components: []patron.Component{server, consumer, api.hub}, close: cl.close}, nil
}

func renderPage(viewerURL string) ([]byte, error) {
	tmpl, err := template.New("page").Parse(pageTemplate)
	if err != nil {
		return nil, fmt.Errorf("chat-api: page: %w", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, struct{ ViewerURL string }{viewerURL}); err != nil {
		return nil, fmt.Errorf("chat-api: page: %w", err)
	}
	return b.Bytes(), nil
}

func (a *chatAPI) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(a.page)
}

// post publishes a message and answers 202: storing and enriching it happen
// asynchronously, and the page learns about them through the stream.
func (a *chatAPI) post(w http.ResponseWriter, r *http.Request) {
	var m message
	if err := patronhttp.Decode(r, &m); err != nil {
		patronhttp.WriteError(w, r, err)
		return
	}
	if err := m.validate(); err != nil {
		patronhttp.WriteProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	id, err := uuid.NewV7()
	if err != nil {
		patronhttp.WriteError(w, r, err)
		return
	}
	m.ID, m.Image, m.Time = id.String(), "", time.Now().UTC()
	msg, err := kafkaclient.NewEncodedMessage(topicMessage, encoding.JSON, m)
	if err != nil {
		patronhttp.WriteError(w, r, err)
		return
	}
	msg.Key = []byte(m.Room) // a room's messages stay in order on one partition
	if err := a.producer.Send(r.Context(), msg); err != nil {
		patronhttp.WriteError(w, r, err)
		return
	}
	// The trace ID lets the page (and the test) open this message's trace.
	w.Header().Set("X-Trace-Id", trace.SpanContextFromContext(r.Context()).TraceID().String())
	_ = patronhttp.Respond(w, r, http.StatusAccepted, m)
}

func (a *chatAPI) list(w http.ResponseWriter, r *http.Request) {
	room := r.URL.Query().Get("room")
	if !validRoom(room) {
		patronhttp.WriteProblem(w, r, http.StatusBadRequest, "room must be 1 to 64 letters, digits, '-' or '_'")
		return
	}
	msgs, err := a.store.list(r.Context(), room, 100)
	if err != nil {
		patronhttp.WriteError(w, r, err)
		return
	}
	_ = patronhttp.Respond(w, r, http.StatusOK, msgs)
}

// stream sends each message of the room as it is stored or updated, one SSE
// "data:" event of message JSON per version.
func (a *chatAPI) stream(w http.ResponseWriter, r *http.Request) {
	room := r.URL.Query().Get("room")
	if !validRoom(room) {
		patronhttp.WriteProblem(w, r, http.StatusBadRequest, "room must be 1 to 64 letters, digits, '-' or '_'")
		return
	}
	events, unsubscribe := a.hub.subscribe(room)
	defer unsubscribe()

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-keepAlive.C:
			_, err = io.WriteString(w, ": keep-alive\n\n")
		case m, ok := <-events:
			if !ok {
				return // shutdown, or too slow: the browser reconnects and reloads
			}
			data, merr := json.Marshal(m)
			if merr != nil {
				return
			}
			_, err = fmt.Fprintf(w, "data: %s\n\n", data)
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// stored hands a stored message to the streams of its room.
func (a *chatAPI) stored(_ context.Context, msg *kafka.Message) error {
	var m message
	if err := msg.Decode(&m); err != nil {
		return err
	}
	a.hub.publish(m)
	return nil
}
