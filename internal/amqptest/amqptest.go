// Package amqptest holds helpers for tests that run against the real
// RabbitMQ broker: unique names, cleanup, queue inspection and killing the
// test's own connections with rabbitmqctl.
package amqptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/patron-go/patron/patrontest/testenv"
)

// URL is the broker the tests use.
const URL = "amqp://guest:guest@" + testenv.RabbitMQAddr + "/"

// Require skips (or fails under PATRON_INTEGRATION=1) when the broker is
// absent.
func Require(t testing.TB) {
	t.Helper()
	testenv.RequireTCP(t, "rabbitmq", testenv.RabbitMQAddr)
}

// Name returns a name unique to this run of t, prefixed by prefix, usable for
// queues, exchanges and connection names. Other engineers' tests run against
// the same broker, so names must never collide.
func Name(t testing.TB, prefix string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	base := strings.NewReplacer("/", "-", " ", "-", "#", "-").Replace(t.Name())
	if len(base) > 60 {
		base = base[:60]
	}
	return "patron-test-" + prefix + "-" + base + "-" + hex.EncodeToString(b[:])
}

// Dial opens a connection for the test's own set-up and inspection, closed
// when t ends.
func Dial(t testing.TB) *amqp.Connection {
	t.Helper()
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(Name(t, "admin"))
	conn, err := amqp.DialConfig(URL, amqp.Config{Properties: props, Heartbeat: 10 * time.Second})
	if err != nil {
		t.Fatalf("dialling RabbitMQ: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Channel opens a channel on a fresh admin connection.
func Channel(t testing.TB) *amqp.Channel {
	t.Helper()
	ch, err := Dial(t).Channel()
	if err != nil {
		t.Fatalf("opening channel: %v", err)
	}
	return ch
}

// DeleteQueuesOnCleanup deletes the queues when t ends, whether or not the
// test declared them itself.
func DeleteQueuesOnCleanup(t testing.TB, queues ...string) {
	t.Helper()
	t.Cleanup(func() {
		withCleanupChannel(t, func(ch *amqp.Channel) {
			for _, q := range queues {
				if _, err := ch.QueueDelete(q, false, false, false); err != nil {
					t.Logf("deleting queue %s: %v", q, err)
					return
				}
			}
		})
	})
}

// DeleteExchangesOnCleanup deletes the exchanges when t ends.
func DeleteExchangesOnCleanup(t testing.TB, exchanges ...string) {
	t.Helper()
	t.Cleanup(func() {
		withCleanupChannel(t, func(ch *amqp.Channel) {
			for _, e := range exchanges {
				if err := ch.ExchangeDelete(e, false, false); err != nil {
					t.Logf("deleting exchange %s: %v", e, err)
					return
				}
			}
		})
	})
}

func withCleanupChannel(t testing.TB, fn func(*amqp.Channel)) {
	conn, err := amqp.Dial(URL)
	if err != nil {
		t.Logf("cleanup: dialling RabbitMQ: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Logf("cleanup: opening channel: %v", err)
		return
	}
	defer ch.Close()
	fn(ch)
}

// DeclareQueue declares a durable classic queue with args, deleted when t
// ends.
func DeclareQueue(t testing.TB, name string, args amqp.Table) {
	t.Helper()
	ch := Channel(t)
	if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
		t.Fatalf("declaring queue %s: %v", name, err)
	}
	DeleteQueuesOnCleanup(t, name)
}

// Depth returns the number of ready messages in queue.
func Depth(t testing.TB, queue string) int {
	t.Helper()
	ch := Channel(t)
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		t.Fatalf("inspecting queue %s: %v", queue, err)
	}
	return q.Messages
}

// WaitDepth polls until queue holds n ready messages or timeout passes.
func WaitDepth(t testing.TB, queue string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d := Depth(t, queue)
		if d == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s holds %d messages, want %d", queue, d, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Drain gets every ready message of queue (acking them) and returns them.
func Drain(t testing.TB, queue string) []amqp.Delivery {
	t.Helper()
	ch := Channel(t)
	defer ch.Close()
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatalf("getting from %s: %v", queue, err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

// Publish sends body to the queue through the default exchange with the
// headers, waiting for the confirm; it is the bare way to produce test input.
func Publish(t testing.TB, ch *amqp.Channel, queue string, p amqp.Publishing) {
	t.Helper()
	dc, err := ch.PublishWithDeferredConfirmWithContext(t.Context(), "", queue, true, false, p)
	if err != nil {
		t.Fatalf("publishing to %s: %v", queue, err)
	}
	if dc != nil {
		if ok, err := dc.WaitContext(t.Context()); err != nil || !ok {
			t.Fatalf("publish to %s not confirmed: %v", queue, err)
		}
	}
}

// ConfirmChannel opens a channel in confirm mode.
func ConfirmChannel(t testing.TB) *amqp.Channel {
	t.Helper()
	ch := Channel(t)
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("confirm mode: %v", err)
	}
	return ch
}

// CloseConnections force-closes, with rabbitmqctl, every broker connection
// whose connection_name contains namePart, and returns how many it closed.
// Only the test's own connections are touched: others share this broker.
func CloseConnections(ctx context.Context, t testing.TB, namePart string) int {
	t.Helper()
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		testenv.Unavailable(t, "rabbitmqctl not found: "+err.Error())
	}
	out, err := exec.CommandContext(ctx, "rabbitmqctl", "list_connections", "-q", "pid", "client_properties").Output()
	if err != nil {
		t.Fatalf("rabbitmqctl list_connections: %v: %s", err, out)
	}
	closed := 0
	for line := range strings.SplitSeq(string(out), "\n") {
		if !strings.Contains(line, namePart) {
			continue
		}
		pid, _, _ := strings.Cut(line, "\t")
		if !strings.HasPrefix(pid, "<") {
			continue
		}
		cmd := exec.CommandContext(ctx, "rabbitmqctl", "close_connection", pid, "patron test kills its own connection")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("rabbitmqctl close_connection %s: %v: %s", pid, err, out)
			continue
		}
		closed++
	}
	return closed
}
