package amqp

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestHeaderInt(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want int
	}{
		{int32(3), 3}, {int64(-4), 0}, {uint64(1 << 40), 1 << 31}, {"12", 12}, {"1x", 0},
		{"99999999999999999999", 1 << 31}, {"-99999999999999999999", 0}, {nil, 0}, {amqp.Table{}, 0}, {[]byte("3"), 0}, {int8(2), 2},
	} {
		if got := headerInt(amqp.Table{"k": tc.v}, "k"); got != tc.want {
			t.Errorf("headerInt(%#v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

// Header values come from any producer: reading counts and propagation
// fields from them must never panic or go negative.
func FuzzHeaders(f *testing.F) {
	f.Add("3", int64(2), []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	f.Add("-1", int64(-9), []byte{0xff})
	f.Fuzz(func(t *testing.T, s string, n int64, b []byte) {
		h := amqp.Table{DeliveryCountHeader: s, QuorumDeliveryCountHeader: n, "traceparent": b, "X-Correlation-Id": s}
		m := newMessage(amqp.Delivery{Headers: h}, "q")
		if m.DeliveryCount() < 1 {
			t.Fatalf("delivery count %d", m.DeliveryCount())
		}
		c := HeaderCarrier(h)
		_ = c.Get("traceparent")
		_ = c.Get("x-correlation-id")
		_ = c.Keys()
	})
}
