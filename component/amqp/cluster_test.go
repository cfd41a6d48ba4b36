package amqp_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	clientamqp "github.com/patron-go/patron/client/amqp"
	patronamqp "github.com/patron-go/patron/component/amqp"
	"github.com/patron-go/patron/internal/amqptest"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/patrontest/testenv"
)

// deadURL is an AMQP URL on a loopback port that nothing listens on.
func deadURL(t *testing.T) string { return "amqp://guest:guest@" + testenv.ClosedAddr(t) + "/" }

// The same broker under two names, so that the log tells which URL a
// connection used.
var (
	aliveByIP   = amqptest.URL
	aliveByName = strings.Replace(amqptest.URL, "127.0.0.1", "localhost", 1)
)

// connectedTo waits for a connection log record of msg naming host.
func connectedTo(t *testing.T, logs *observabilitytest.LogBuffer, msg, host string) {
	t.Helper()
	logs.WaitRecord(t, 30*time.Second, func(r map[string]any) bool {
		u, _ := r["url"].(string)
		return r["msg"] == msg && strings.Contains(u, host+":")
	})
}

// With several cluster URLs the consumer skips a dead broker, and after its
// connection is killed it reconnects to the next broker rather than the
// one that dropped it; no message is lost on the way.
func TestClusterURLsTriedInOrderAndRotatedOnReconnect(t *testing.T) {
	amqptest.Require(t)
	kit := observabilitytest.New(t)
	queue := amqptest.Name(t, "cluster")
	amqptest.DeclareQueue(t, queue, nil)
	amqptest.DeleteQueuesOnCleanup(t, queue)
	connName := amqptest.Name(t, "cluster-consumer")

	var logs observabilitytest.LogBuffer
	var mu sync.Mutex
	got := map[string]bool{}
	c, err := patronamqp.New(deadURL(t), queue, func(_ context.Context, m *patronamqp.Message) error {
		mu.Lock()
		got[string(m.Body())] = true
		mu.Unlock()
		return nil
	}, append(kitOptions(kit),
		patronamqp.WithClusterURLs(aliveByName, aliveByIP),
		patronamqp.WithConnectionName(connName),
		patronamqp.WithReconnect(10, fastRetry),
		patronamqp.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, c)
	connectedTo(t, &logs, "amqp consumer connected", "localhost")
	waitFor(t, "readiness", func() bool { return c.Ready(t.Context()) == nil })
	ch := amqptest.ConfirmChannel(t)
	amqptest.Publish(t, ch, queue, amqp.Publishing{Body: []byte("before")})
	waitFor(t, "the first message", func() bool { mu.Lock(); defer mu.Unlock(); return got["before"] })

	if n := amqptest.CloseConnections(t.Context(), t, connName); n != 1 {
		t.Fatalf("closed %d connections, want 1", n)
	}
	connectedTo(t, &logs, "amqp consumer connected", "127.0.0.1")
	amqptest.Publish(t, ch, queue, amqp.Publishing{Body: []byte("after")})
	waitFor(t, "the second message", func() bool { mu.Lock(); defer mu.Unlock(); return got["after"] })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "guest:guest") {
		t.Error("a log record holds the broker password")
	}
}

// The publisher takes the same cluster URLs: a dead first broker is
// skipped, and a killed connection is replaced by one to the next broker.
func TestPublisherClusterURLs(t *testing.T) {
	amqptest.Require(t)
	queue := amqptest.Name(t, "cluster-pub")
	amqptest.DeclareQueue(t, queue, nil)
	amqptest.DeleteQueuesOnCleanup(t, queue)
	connName := amqptest.Name(t, "cluster-publisher")
	var logs observabilitytest.LogBuffer
	pub, err := clientamqp.New(deadURL(t),
		clientamqp.WithClusterURLs(aliveByName, aliveByIP),
		clientamqp.WithConnectionName(connName),
		clientamqp.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	if err := pub.Publish(t.Context(), "", queue, amqp.Publishing{Body: []byte("one")}); err != nil {
		t.Fatal(err)
	}
	if n := amqptest.CloseConnections(t.Context(), t, connName); n != 1 {
		t.Fatalf("closed %d connections, want 1", n)
	}
	waitFor(t, "a publish after the connection was killed", func() bool {
		return pub.Publish(t.Context(), "", queue, amqp.Publishing{Body: []byte("two")}) == nil
	})
	connectedTo(t, &logs, "amqp publisher reconnected", "127.0.0.1")
	amqptest.WaitDepth(t, queue, 2, 30*time.Second)
}
