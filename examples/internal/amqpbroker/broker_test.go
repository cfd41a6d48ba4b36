package amqpbroker

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitTimeout = 10 * time.Second

// startBroker runs a broker for t and checks, when t ends, that it closes
// cleanly and never recovered from a panic.
func startBroker(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	b, err := Start("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if n := b.internalErrors.Load(); n != 0 {
			t.Errorf("%d internal errors", n)
		}
	})
	return b
}

func dial(t testing.TB, b *Broker) *amqp.Connection {
	t.Helper()
	conn, err := amqp.DialConfig(b.URL(), amqp.Config{Heartbeat: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func openChannel(t testing.TB, conn *amqp.Connection) *amqp.Channel {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func declare(t testing.TB, ch *amqp.Channel, name string, args amqp.Table) {
	t.Helper()
	if _, err := ch.QueueDeclare(name, false, false, false, false, args); err != nil {
		t.Fatalf("declaring %s: %v", name, err)
	}
}

func publish(t testing.TB, ch *amqp.Channel, exchange, key string, msg amqp.Publishing) {
	t.Helper()
	if err := ch.PublishWithContext(t.Context(), exchange, key, false, false, msg); err != nil {
		t.Fatal(err)
	}
}

func receive(t testing.TB, deliveries <-chan amqp.Delivery) amqp.Delivery {
	t.Helper()
	select {
	case d, ok := <-deliveries:
		if !ok {
			t.Fatal("deliveries closed")
		}
		return d
	case <-time.After(waitTimeout):
		t.Fatal("no delivery")
	}
	return amqp.Delivery{}
}

func consume(t testing.TB, ch *amqp.Channel, queue string, autoAck bool) <-chan amqp.Delivery {
	t.Helper()
	ds, err := ch.Consume(queue, "", autoAck, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// depth is the queue's ready count, from a passive declare. The broker
// routes and dispatches a publish before it confirms it, so after a confirm
// (or any later synchronous method on the same channel) the count is final.
func depth(t testing.TB, ch *amqp.Channel, queue string) int {
	t.Helper()
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q.Messages
}

// closeCode waits for ch to be closed by the broker and returns the code.
func closeCode(t testing.TB, closed <-chan *amqp.Error) int {
	t.Helper()
	select {
	case err := <-closed:
		if err == nil {
			t.Fatal("closed without an error")
		}
		return err.Code
	case <-time.After(waitTimeout):
		t.Fatal("not closed")
	}
	return 0
}

func TestRoundTripKeepsPropertiesAndEveryHeaderType(t *testing.T) {
	b := startBroker(t)
	ch := openChannel(t, dial(t, b))
	declare(t, ch, "rt", nil)
	ts := time.Unix(1700000000, 0)
	headers := amqp.Table{
		"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"bool":        true,
		"int8":        int8(-8),
		"byte":        byte(200),
		"int16":       int16(-16),
		"uint16":      uint16(16),
		"int32":       int32(-32),
		"uint32":      uint32(32),
		"int64":       int64(-64),
		"float32":     float32(1.5),
		"float64":     2.25,
		"decimal":     amqp.Decimal{Scale: 2, Value: 12345},
		"time":        ts,
		"bytes":       []byte{0, 1, 2, 255},
		"void":        nil,
		"array":       []any{"a", int32(1), []any{true}, amqp.Table{"k": "v"}},
		"table":       amqp.Table{"nested": amqp.Table{"deep": int64(7)}, "s": "x"},
		"empty":       amqp.Table{},
	}
	msg := amqp.Publishing{
		Headers:         headers,
		ContentType:     "application/json",
		ContentEncoding: "gzip",
		DeliveryMode:    amqp.Persistent,
		Priority:        3,
		CorrelationId:   "corr",
		ReplyTo:         "reply",
		Expiration:      "60000",
		MessageId:       "id-1",
		Timestamp:       ts,
		Type:            "type",
		UserId:          "guest",
		AppId:           "app",
		Body:            []byte(`{"a":1}`),
	}
	publish(t, ch, "", "rt", msg)
	d := receive(t, consume(t, ch, "rt", true))
	if !reflect.DeepEqual(d.Headers, headers) {
		t.Errorf("headers\n got %#v\nwant %#v", d.Headers, headers)
	}
	got := amqp.Publishing{
		Headers: d.Headers, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
		DeliveryMode: d.DeliveryMode, Priority: d.Priority, CorrelationId: d.CorrelationId,
		ReplyTo: d.ReplyTo, Expiration: d.Expiration, MessageId: d.MessageId, Timestamp: d.Timestamp,
		Type: d.Type, UserId: d.UserId, AppId: d.AppId, Body: d.Body,
	}
	if !reflect.DeepEqual(got, msg) {
		t.Errorf("message\n got %+v\nwant %+v", got, msg)
	}
	if d.Exchange != "" || d.RoutingKey != "rt" || d.Redelivered || d.DeliveryTag != 1 {
		t.Errorf("delivery exchange %q key %q redelivered %v tag %d", d.Exchange, d.RoutingKey, d.Redelivered, d.DeliveryTag)
	}
}

func TestNoPropertiesAndEmptyBody(t *testing.T) {
	b := startBroker(t)
	ch := openChannel(t, dial(t, b))
	declare(t, ch, "empty", nil)
	publish(t, ch, "", "empty", amqp.Publishing{})
	d := receive(t, consume(t, ch, "empty", true))
	if len(d.Body) != 0 || d.Headers != nil || d.ContentType != "" {
		t.Errorf("got body %q headers %v content type %q", d.Body, d.Headers, d.ContentType)
	}
}

func TestPublisherConfirmsArriveInOrder(t *testing.T) {
	b := startBroker(t)
	ch := openChannel(t, dial(t, b))
	declare(t, ch, "confirmed", nil)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 100))
	const n = 50
	for i := range n {
		publish(t, ch, "", "confirmed", amqp.Publishing{Body: fmt.Appendf(nil, "%d", i)})
	}
	// Unroutable messages are confirmed too.
	publish(t, ch, "", "no-such-queue", amqp.Publishing{Body: []byte("lost")})
	for i := range n + 1 {
		select {
		case c := <-confirms:
			if !c.Ack || c.DeliveryTag != uint64(i+1) {
				t.Fatalf("confirm %d: %+v", i, c)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("confirm %d missing", i)
		}
	}
	if got := depth(t, ch, "confirmed"); got != n {
		t.Errorf("depth %d, want %d", got, n)
	}
}

func TestMandatoryUnroutableIsReturnedBeforeItsConfirm(t *testing.T) {
	b := startBroker(t)
	ch := openChannel(t, dial(t, b))
	if err := ch.ExchangeDeclare("mand", "direct", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	dc, err := ch.PublishWithDeferredConfirmWithContext(t.Context(), "mand", "nobody", true, false,
		amqp.Publishing{MessageId: "m1", Headers: amqp.Table{"h": "v"}, Body: []byte("body")})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dc.WaitContext(t.Context()); err != nil || !ok {
		t.Fatalf("confirm ok=%v err=%v", ok, err)
	}
	select {
	case r := <-returns:
		if r.ReplyCode != 312 || r.ReplyText != "NO_ROUTE" || r.Exchange != "mand" || r.RoutingKey != "nobody" ||
			r.MessageId != "m1" || string(r.Body) != "body" || r.Headers["h"] != "v" {
			t.Errorf("return %+v", r)
		}
	default:
		t.Fatal("the return did not arrive before the confirm")
	}
	// Not mandatory: dropped silently.
	if err := ch.PublishWithContext(t.Context(), "mand", "nobody", false, false, amqp.Publishing{}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-returns:
		t.Errorf("non-mandatory message returned: %+v", r)
	default:
	}
}

func TestTopicMatching(t *testing.T) {
	for _, tc := range []struct {
		pattern, key string
		want         bool
	}{
		{"a.b", "a.b", true},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"a.*", "a", false},
		{"a.#", "a", true},
		{"a.#", "a.b.c", true},
		{"#", "", true},
		{"#", "x.y", true},
		{"*", "", false},
		{"#.c", "a.b.c", true},
		{"#.c", "c", true},
		{"a.#.c", "a.c", true},
		{"a.#.c", "a.x.y.c", true},
		{"a.#.c", "a.x.y.d", false},
		{"*.b.#", "a.b", true},
		{"#.#", "a", true},
		{"", "", true},
		{"", "a", false},
		{"orders.*", "orders.created", true},
	} {
		if got := topicMatch(topicWords(tc.pattern), topicWords(tc.key)); got != tc.want {
			t.Errorf("topicMatch(%q, %q) = %v, want %v", tc.pattern, tc.key, got, tc.want)
		}
	}
}

func TestExchangeRouting(t *testing.T) {
	b := startBroker(t)
	ch := openChannel(t, dial(t, b))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ch.ExchangeDeclare("topic", "topic", false, false, false, false, nil))
	must(ch.ExchangeDeclare("fan", "fanout", false, false, false, false, nil))
	must(ch.ExchangeDeclare("hdr", "headers", false, false, false, false, nil))
	for _, q := range []string{"star", "hash", "exact", "fan1", "fan2", "all", "any"} {
		declare(t, ch, q, nil)
	}
	must(ch.QueueBind("star", "orders.*", "topic", false, nil))
	must(ch.QueueBind("hash", "orders.#", "topic", false, nil))
	must(ch.QueueBind("hash", "#.created", "topic", false, nil)) // same queue twice: one copy
	must(ch.QueueBind("exact", "orders.created", "amq.direct", false, nil))
	must(ch.QueueBind("fan1", "", "fan", false, nil))
	must(ch.QueueBind("fan2", "ignored", "fan", false, nil))
	must(ch.QueueBind("all", "", "hdr", false, amqp.Table{"x-match": "all", "a": "1", "b": int32(2)}))
	must(ch.QueueBind("any", "", "hdr", false, amqp.Table{"x-match": "any", "a": "1", "b": int32(2)}))

	must(ch.Confirm(false))
	pub := func(x, key string, h amqp.Table) {
		t.Helper()
		dc, err := ch.PublishWithDeferredConfirmWithContext(t.Context(), x, key, false, false, amqp.Publishing{Headers: h})
		must(err)
		if ok, err := dc.WaitContext(t.Context()); !ok || err != nil {
			t.Fatalf("not confirmed: %v", err)
		}
	}
	pub("topic", "orders.created", nil)
	pub("topic", "orders.eu.created", nil)
	pub("topic", "orders", nil)
	pub("amq.direct", "orders.created", nil)
	pub("amq.direct", "orders.deleted", nil)
	pub("fan", "whatever", nil)
	pub("hdr", "", amqp.Table{"a": "1", "b": int32(2)})
	pub("hdr", "", amqp.Table{"a": "1"})
	pub("hdr", "", amqp.Table{"b": int64(2)}) // a different type does not match
	for q, want := range map[string]int{"star": 1, "hash": 3, "exact": 1, "fan1": 1, "fan2": 1, "all": 1, "any": 2} {
		if got := depth(t, ch, q); got != want {
			t.Errorf("queue %s has %d, want %d", q, got, want)
		}
	}
	must(ch.QueueUnbind("star", "orders.*", "topic", nil))
	pub("topic", "orders.created", nil)
	if got := depth(t, ch, "star"); got != 1 {
		t.Errorf("after unbind star has %d", got)
	}
}

func TestPrefetchLimitsUnackedDeliveries(t *testing.T) {
	b := startBroker(t)
	conn := dial(t, b)
	ch := openChannel(t, conn)
	declare(t, ch, "pf", nil)
	for i := range 5 {
		publish(t, ch, "", "pf", amqp.Publishing{Body: fmt.Appendf(nil, "%d", i)})
	}
	cch := openChannel(t, conn)
	if err := cch.Qos(2, 0, false); err != nil {
		t.Fatal(err)
	}
	ds := consume(t, cch, "pf", false)
	first := receive(t, ds)
	receive(t, ds)
	// consume-ok and both deliveries were sent in one go; the broker holds
	// the other three back.
	if got := depth(t, ch, "pf"); got != 3 {
		t.Fatalf("ready %d, want 3", got)
	}
	if err := first.Ack(false); err != nil {
		t.Fatal(err)
	}
	third := receive(t, ds)
	if string(third.Body) != "2" {
		t.Errorf("third delivery %q", third.Body)
	}
	if got := depth(t, cch, "pf"); got != 2 {
		t.Errorf("ready %d after one ack, want 2", got)
	}
	// A channel-wide (global) limit of 1 on another channel.
	gch := openChannel(t, conn)
	if err := gch.Qos(1, 0, true); err != nil {
		t.Fatal(err)
	}
	gds := consume(t, gch, "pf", false)
	receive(t, gds)
	if got := depth(t, ch, "pf"); got != 1 {
		t.Errorf("ready %d with a global prefetch of 1, want 1", got)
	}
}

func TestNackRequeueRedeliversAtTheFront(t *testing.T) {
	b := startBroker(t)
	ch := openChannel(t, dial(t, b))
	declare(t, ch, "nq", nil)
	for _, s := range []string{"a", "b", "c"} {
		publish(t, ch, "", "nq", amqp.Publishing{Body: []byte(s)})
	}
	if err := ch.Qos(2, 0, false); err != nil {
		t.Fatal(err)
	}
	ds := consume(t, ch, "nq", false)
	a, bb := receive(t, ds), receive(t, ds)
	if a.Redelivered || string(a.Body) != "a" || string(bb.Body) != "b" {
		t.Fatalf("got %q %q", a.Body, bb.Body)
	}
	// nack both (multiple): they go back in front of c, in order.
	if err := bb.Nack(true, true); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 3 {
		d := receive(t, ds)
		got = append(got, fmt.Sprintf("%s:%v", d.Body, d.Redelivered))
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
	if want := "[a:true b:true c:false]"; fmt.Sprint(got) != want {
		t.Errorf("got %v, want %s", got, want)
	}
	// reject with requeue
	publish(t, ch, "", "nq", amqp.Publishing{Body: []byte("r")})
	d := receive(t, ds)
	if err := d.Reject(true); err != nil {
		t.Fatal(err)
	}
	d = receive(t, ds)
	if string(d.Body) != "r" || !d.Redelivered {
		t.Errorf("after reject got %q redelivered=%v", d.Body, d.Redelivered)
	}
	if err := d.Ack(false); err != nil {
		t.Fatal(err)
	}
	if got := depth(t, ch, "nq"); got != 0 {
		t.Errorf("depth %d", got)
	}
}

func TestRejectAndNackWithoutRequeueDeadLetter(t *testing.T) {
	b := startBroker(t)
	ch := openChannel(t, dial(t, b))
	if err := ch.ExchangeDeclare("dlx", "direct", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, ch, "dlq", nil)
	if err := ch.QueueBind("dlq", "dead", "dlx", false, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, ch, "work", amqp.Table{"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "dead"})
	declare(t, ch, "dropping", nil) // no DLX: rejected messages vanish
	publish(t, ch, "", "work", amqp.Publishing{MessageId: "1", Headers: amqp.Table{"keep": "me"}, Body: []byte("one")})
	publish(t, ch, "", "work", amqp.Publishing{MessageId: "2", Body: []byte("two")})
	publish(t, ch, "", "dropping", amqp.Publishing{Body: []byte("gone")})
	ds := consume(t, ch, "work", false)
	if err := receive(t, ds).Reject(false); err != nil {
		t.Fatal(err)
	}
	if err := receive(t, ds).Nack(false, false); err != nil {
		t.Fatal(err)
	}
	dds := consume(t, ch, "dropping", false)
	if err := receive(t, dds).Reject(false); err != nil {
		t.Fatal(err)
	}
	dead := consume(t, ch, "dlq", false)
	d1, d2 := receive(t, dead), receive(t, dead)
	if string(d1.Body) != "one" || string(d2.Body) != "two" || d1.RoutingKey != "dead" || d1.Exchange != "dlx" {
		t.Fatalf("dead letters %q %q via %s/%s", d1.Body, d2.Body, d1.Exchange, d1.RoutingKey)
	}
	if d1.Headers["keep"] != "me" || d1.MessageId != "1" {
		t.Errorf("original header/property lost: %v %q", d1.Headers, d1.MessageId)
	}
	deaths, ok := d1.Headers["x-death"].([]any)
	if !ok || len(deaths) != 1 {
		t.Fatalf("x-death %#v", d1.Headers["x-death"])
	}
	death := deaths[0].(amqp.Table)
	rks, _ := death["routing-keys"].([]any)
	if death["queue"] != "work" || death["reason"] != "rejected" || death["count"] != int64(1) ||
		death["exchange"] != "" || len(rks) != 1 || rks[0] != "work" {
		t.Errorf("x-death entry %#v", death)
	}
	if d1.Headers["x-first-death-queue"] != "work" || d1.Headers["x-first-death-reason"] != "rejected" {
		t.Errorf("x-first-death headers %v", d1.Headers)
	}
	if got := depth(t, ch, "dropping"); got != 0 {
		t.Errorf("dropping has %d", got)
	}
}

func TestQuorumQueueCountsDeliveries(t *testing.T) {
	b := startBroker(t)
	ch := openChannel(t, dial(t, b))
	if _, err := ch.QueueDeclare("quorum", true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}); err != nil {
		t.Fatal(err)
	}
	// A quorum queue must be durable.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if _, err := ch.QueueDeclare("q2", false, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}); err == nil {
		t.Fatal("non-durable quorum queue declared")
	}
	if code := closeCode(t, closed); code != amqp.PreconditionFailed {
		t.Errorf("code %d", code)
	}
	ch = openChannel(t, dial(t, b))
	publish(t, ch, "", "quorum", amqp.Publishing{Headers: amqp.Table{"a": "b"}, Body: []byte("q")})
	ds := consume(t, ch, "quorum", false)
	d := receive(t, ds)
	if _, ok := d.Headers["x-delivery-count"]; ok {
		t.Errorf("first delivery has x-delivery-count: %v", d.Headers)
	}
	for want := int64(1); want <= 2; want++ {
		if err := d.Nack(false, true); err != nil {
			t.Fatal(err)
		}
		d = receive(t, ds)
		if d.Headers["x-delivery-count"] != want || d.Headers["a"] != "b" || !d.Redelivered {
			t.Errorf("redelivery %d: headers %v redelivered %v", want, d.Headers, d.Redelivered)
		}
	}
}

func TestUnackedAreRequeuedWhenTheChannelCloses(t *testing.T) {
	b := startBroker(t)
	conn := dial(t, b)
	ch := openChannel(t, conn)
	declare(t, ch, "uq", nil)
	for _, s := range []string{"1", "2", "3"} {
		publish(t, ch, "", "uq", amqp.Publishing{Body: []byte(s)})
	}
	cch := openChannel(t, conn)
	ds := consume(t, cch, "uq", false)
	for range 3 {
		receive(t, ds)
	}
	if err := cch.Close(); err != nil {
		t.Fatal(err)
	}
	if got := depth(t, ch, "uq"); got != 3 {
		t.Fatalf("depth %d after close, want 3", got)
	}
	ds = consume(t, ch, "uq", true)
	for _, want := range []string{"1", "2", "3"} {
		d := receive(t, ds)
		if string(d.Body) != want || !d.Redelivered {
			t.Errorf("got %q redelivered=%v, want %q redelivered", d.Body, d.Redelivered, want)
		}
	}

	// The same when the whole connection goes.
	declare(t, ch, "uq2", nil)
	publish(t, ch, "", "uq2", amqp.Publishing{Body: []byte("4")})
	other := dial(t, b)
	receive(t, consume(t, openChannel(t, other), "uq2", false))
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	d := receive(t, consume(t, ch, "uq2", true))
	if string(d.Body) != "4" || !d.Redelivered {
		t.Errorf("after connection close got %q redelivered=%v", d.Body, d.Redelivered)
	}
}

func TestConsumerCancel(t *testing.T) {
	b := startBroker(t)
	ch := openChannel(t, dial(t, b))
	declare(t, ch, "cq", nil)
	ds, err := ch.Consume("cq", "my-tag", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Cancel("my-tag", false); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ds; ok {
		t.Error("delivery after cancel")
	}
	publish(t, ch, "", "cq", amqp.Publishing{})
	if got := depth(t, ch, "cq"); got != 1 {
		t.Errorf("depth %d", got)
	}
	// Reusing a tag on the same channel is a connection error.
	conn2 := dial(t, b)
	ch2 := openChannel(t, conn2)
	closed := conn2.NotifyClose(make(chan *amqp.Error, 1))
	consume(t, ch2, "cq", true)
	if _, err := ch2.Consume("cq", "dup", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch2.Consume("cq", "dup", true, false, false, false, nil); err == nil {
		t.Error("duplicate tag accepted")
	}
	if code := closeCode(t, closed); code != amqp.NotAllowed {
		t.Errorf("duplicate tag code %d", code)
	}
}

func TestDeletingAQueueCancelsItsConsumers(t *testing.T) {
	b := startBroker(t)
	conn := dial(t, b)
	ch := openChannel(t, conn)
	declare(t, ch, "doomed", nil)
	cancels := ch.NotifyCancel(make(chan string, 1))
	ds, err := ch.Consume("doomed", "c1", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := openChannel(t, conn)
	if _, err := admin.QueueDelete("doomed", false, false, false); err != nil {
		t.Fatal(err)
	}
	select {
	case tag := <-cancels:
		if tag != "c1" {
			t.Errorf("cancelled %q", tag)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no cancel notification")
	}
	if _, ok := <-ds; ok {
		t.Error("delivery after cancel")
	}
}

func TestTwoConsumersShareRoundRobin(t *testing.T) {
	b := startBroker(t)
	conn := dial(t, b)
	ch := openChannel(t, conn)
	declare(t, ch, "rr", nil)
	c1, c2 := openChannel(t, conn), openChannel(t, conn)
	d1, d2 := consume(t, c1, "rr", true), consume(t, c2, "rr", true)
	const n = 10
	for i := range n {
		publish(t, ch, "", "rr", amqp.Publishing{Body: fmt.Appendf(nil, "%d", i)})
	}
	var got1, got2 []string
	for range n / 2 {
		got1 = append(got1, string(receive(t, d1).Body))
		got2 = append(got2, string(receive(t, d2).Body))
	}
	if fmt.Sprint(got1) != "[0 2 4 6 8]" || fmt.Sprint(got2) != "[1 3 5 7 9]" {
		t.Errorf("consumer 1 got %v, consumer 2 got %v", got1, got2)
	}
}

func TestLargeBodiesAreSplitAcrossFrames(t *testing.T) {
	b := startBroker(t, WithFrameMax(4096))
	ch := openChannel(t, dial(t, b))
	declare(t, ch, "big", nil)
	body := make([]byte, 1<<20+17)
	for i := range body {
		body[i] = byte(i * 7)
	}
	publish(t, ch, "", "big", amqp.Publishing{Body: body, Headers: amqp.Table{"n": int64(len(body))}})
	d := receive(t, consume(t, ch, "big", true))
	if !bytes.Equal(d.Body, body) {
		t.Errorf("body of %d bytes came back as %d bytes", len(body), len(d.Body))
	}
}

func TestConcurrentPublishers(t *testing.T) {
	b := startBroker(t)
	conn := dial(t, b)
	setup := openChannel(t, conn)
	if err := setup.ExchangeDeclare("conc", "fanout", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, setup, "conc1", nil)
	declare(t, setup, "conc2", nil)
	for _, q := range []string{"conc1", "conc2"} {
		if err := setup.QueueBind(q, "", "conc", false, nil); err != nil {
			t.Fatal(err)
		}
	}
	const publishers, each = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Go(func() {
			// Half share the connection, half have their own.
			c := conn
			if p%2 == 1 {
				var err error
				if c, err = amqp.Dial(b.URL()); err != nil {
					errs <- err
					return
				}
				defer c.Close()
			}
			ch, err := c.Channel()
			if err != nil {
				errs <- err
				return
			}
			defer ch.Close()
			if err := ch.Confirm(false); err != nil {
				errs <- err
				return
			}
			for i := range each {
				dc, err := ch.PublishWithDeferredConfirmWithContext(t.Context(), "conc", "", false, false,
					amqp.Publishing{Body: fmt.Appendf(nil, "%d-%d", p, i)})
				if err != nil {
					errs <- err
					return
				}
				if i%10 == 9 {
					if ok, err := dc.WaitContext(t.Context()); !ok || err != nil {
						errs <- fmt.Errorf("not confirmed: %w", err)
						return
					}
				}
			}
		})
	}
	// Consume concurrently with the publishers.
	got := make(map[string]int)
	var cwg sync.WaitGroup
	var mu sync.Mutex
	for _, q := range []string{"conc1", "conc2"} {
		ds := consume(t, openChannel(t, conn), q, false)
		cwg.Go(func() {
			for range publishers * each {
				d := receive(t, ds)
				_ = d.Ack(false)
				mu.Lock()
				got[q+"/"+string(d.Body)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	cwg.Wait()
	if len(got) != 2*publishers*each {
		t.Errorf("got %d distinct messages, want %d", len(got), 2*publishers*each)
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("%s delivered %d times", k, n)
		}
	}
}

func TestBasicGet(t *testing.T) {
	b := startBroker(t)
	ch := openChannel(t, dial(t, b))
	declare(t, ch, "get", nil)
	if _, ok, err := ch.Get("get", false); err != nil || ok {
		t.Fatalf("get on empty queue: ok=%v err=%v", ok, err)
	}
	publish(t, ch, "", "get", amqp.Publishing{Body: []byte("x")})
	publish(t, ch, "", "get", amqp.Publishing{Body: []byte("y")})
	d, ok, err := ch.Get("get", false)
	if err != nil || !ok || string(d.Body) != "x" || d.MessageCount != 1 {
		t.Fatalf("get: %q ok=%v err=%v count=%d", d.Body, ok, err, d.MessageCount)
	}
	if err := d.Nack(false, true); err != nil {
		t.Fatal(err)
	}
	d, ok, err = ch.Get("get", true)
	if err != nil || !ok || string(d.Body) != "x" || !d.Redelivered {
		t.Fatalf("get after nack: %q ok=%v err=%v redelivered=%v", d.Body, ok, err, d.Redelivered)
	}
}

func TestChannelErrors(t *testing.T) {
	b := startBroker(t)
	conn := dial(t, b)
	for name, tc := range map[string]struct {
		do   func(ch *amqp.Channel) error
		code int
	}{
		"consume missing queue": {func(ch *amqp.Channel) error {
			_, err := ch.Consume("missing", "", true, false, false, false, nil)
			return err
		}, amqp.NotFound},
		"passive missing exchange": {func(ch *amqp.Channel) error {
			return ch.ExchangeDeclarePassive("missing", "direct", false, false, false, false, nil)
		}, amqp.NotFound},
		"passive missing queue": {func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclarePassive("missing", false, false, false, false, nil)
			return err
		}, amqp.NotFound},
		"bind to missing exchange": {func(ch *amqp.Channel) error {
			if _, err := ch.QueueDeclare("bindme", false, false, false, false, nil); err != nil {
				return err
			}
			return ch.QueueBind("bindme", "", "missing", false, nil)
		}, amqp.NotFound},
		"publish to missing exchange": {func(ch *amqp.Channel) error {
			if err := ch.PublishWithContext(t.Context(), "missing", "", false, false, amqp.Publishing{}); err != nil {
				return err
			}
			_, err := ch.QueueDeclare("", false, true, true, false, nil) // a round trip to see the close
			return err
		}, amqp.NotFound},
		"redeclare queue with other args": {func(ch *amqp.Channel) error {
			if _, err := ch.QueueDeclare("args", false, false, false, false, amqp.Table{"x-dead-letter-exchange": "a"}); err != nil {
				return err
			}
			_, err := ch.QueueDeclare("args", false, false, false, false, amqp.Table{"x-dead-letter-exchange": "b"})
			return err
		}, amqp.PreconditionFailed},
		"redeclare queue durable": {func(ch *amqp.Channel) error {
			if _, err := ch.QueueDeclare("dur", false, false, false, false, nil); err != nil {
				return err
			}
			_, err := ch.QueueDeclare("dur", true, false, false, false, nil)
			return err
		}, amqp.PreconditionFailed},
		"redeclare exchange kind": {func(ch *amqp.Channel) error {
			if err := ch.ExchangeDeclare("kind", "direct", false, false, false, false, nil); err != nil {
				return err
			}
			return ch.ExchangeDeclare("kind", "fanout", false, false, false, false, nil)
		}, amqp.PreconditionFailed},
		"unknown delivery tag": {func(ch *amqp.Channel) error {
			if err := ch.Ack(42, false); err != nil {
				return err
			}
			_, err := ch.QueueDeclare("", false, true, true, false, nil)
			return err
		}, amqp.PreconditionFailed},
		"reserved queue name": {func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("amq.mine", false, false, false, false, nil)
			return err
		}, amqp.AccessRefused},
	} {
		t.Run(name, func(t *testing.T) {
			ch := openChannel(t, conn)
			closed := ch.NotifyClose(make(chan *amqp.Error, 1))
			if err := tc.do(ch); err == nil {
				t.Fatal("no error")
			}
			if code := closeCode(t, closed); code != tc.code {
				t.Errorf("code %d, want %d", code, tc.code)
			}
		})
	}
	// The connection survived every channel error.
	ch := openChannel(t, conn)
	declare(t, ch, "still-alive", nil)
}

func TestExclusiveAndServerNamedQueues(t *testing.T) {
	b := startBroker(t)
	owner := dial(t, b)
	och := openChannel(t, owner)
	q, err := och.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Name) < 10 || q.Name[:8] != "amq.gen-" {
		t.Errorf("server-named queue %q", q.Name)
	}
	other := dial(t, b)
	xch := openChannel(t, other)
	closed := xch.NotifyClose(make(chan *amqp.Error, 1))
	if _, err := xch.Consume(q.Name, "", true, false, false, false, nil); err == nil {
		t.Fatal("consumed another connection's exclusive queue")
	}
	if code := closeCode(t, closed); code != amqp.ResourceLocked {
		t.Errorf("code %d", code)
	}
	if err := owner.Close(); err != nil {
		t.Fatal(err)
	}
	ch := openChannel(t, other)
	closed = ch.NotifyClose(make(chan *amqp.Error, 1))
	if _, err := ch.QueueDeclarePassive(q.Name, false, false, false, false, nil); err == nil {
		t.Error("exclusive queue outlived its connection")
	}
	closeCode(t, closed)
}

func TestAutoDeleteQueueGoesWithItsLastConsumer(t *testing.T) {
	b := startBroker(t)
	conn := dial(t, b)
	ch := openChannel(t, conn)
	if _, err := ch.QueueDeclare("auto", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Consume("auto", "t", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Cancel("t", false); err != nil {
		t.Fatal(err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if _, err := ch.QueueDeclarePassive("auto", false, true, false, false, nil); err == nil {
		t.Error("auto-delete queue still there")
	}
	closeCode(t, closed)
}

func TestWrongCredentialsAreRefused(t *testing.T) {
	b := startBroker(t, WithCredentials("user", "secret"))
	if _, err := amqp.Dial("amqp://guest:guest@" + b.Addr() + "/"); err == nil {
		t.Fatal("wrong credentials accepted")
	}
	conn, err := amqp.Dial(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	if _, err := amqp.Dial("amqp://user:secret@" + b.Addr() + "/other"); err == nil {
		t.Error("unknown vhost accepted")
	}
}

func TestCloseTellsClients(t *testing.T) {
	b, err := Start("")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := amqp.Dial(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if code := closeCode(t, closed); code != amqp.ConnectionForced {
		t.Errorf("code %d", code)
	}
	if _, err := amqp.Dial(b.URL()); err == nil {
		t.Error("dial after Close succeeded")
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for name, o := range map[string]Option{
		"frame max":   WithFrameMax(100),
		"channel max": WithChannelMax(0),
		"heartbeat":   WithHeartbeat(-time.Second),
		"user":        WithCredentials("", "x"),
		"logger":      WithLogger(nil),
	} {
		if _, err := Start("", o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Start("256.0.0.1:0"); err == nil {
		t.Error("bad address accepted")
	}
}

func TestRecoverRequeuesUnacked(t *testing.T) {
	b := startBroker(t)
	ch := openChannel(t, dial(t, b))
	declare(t, ch, "rec", nil)
	publish(t, ch, "", "rec", amqp.Publishing{Body: []byte("m")})
	ds := consume(t, ch, "rec", false)
	receive(t, ds)
	if err := ch.Recover(true); err != nil { //nolint:staticcheck // deprecated in RabbitMQ, still part of 0.9.1
		t.Fatal(err)
	}
	if d := receive(t, ds); !d.Redelivered {
		t.Error("not redelivered")
	}
}

func TestFlowPausesDeliveries(t *testing.T) {
	b := startBroker(t)
	conn := dial(t, b)
	ch := openChannel(t, conn)
	declare(t, ch, "flow", nil)
	cch := openChannel(t, conn)
	if err := cch.Flow(false); err != nil {
		t.Fatal(err)
	}
	ds := consume(t, cch, "flow", true)
	publish(t, ch, "", "flow", amqp.Publishing{})
	if got := depth(t, ch, "flow"); got != 1 {
		t.Fatalf("delivered while flow is off (depth %d)", got)
	}
	if err := cch.Flow(true); err != nil {
		t.Fatal(err)
	}
	receive(t, ds)
}
