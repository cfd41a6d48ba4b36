package amqpheader_test

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/propagation"

	"github.com/patron-go/patron/internal/amqpheader"
)

var _ propagation.TextMapCarrier = amqpheader.Carrier{}

func TestCarrierToleratesAnyType(t *testing.T) {
	c := amqpheader.Carrier(amqp.Table{
		"traceparent": []byte("00-abc"),
		"n":           int32(7),
		"table":       amqp.Table{"a": 1},
		"nil":         nil,
		"Upper":       "v",
	})
	for key, want := range map[string]string{"traceparent": "00-abc", "n": "7", "table": "", "nil": "", "upper": "v", "absent": ""} {
		if got := c.Get(key); got != want {
			t.Errorf("Get(%q) = %q, want %q", key, got, want)
		}
	}
	c.Set("k", "v")
	if len(c.Keys()) != 6 {
		t.Errorf("keys %v", c.Keys())
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{"s", "s"}, {[]byte("b"), "b"}, {true, "true"}, {int8(-1), "-1"}, {int16(2), "2"}, {int32(3), "3"},
		{int64(4), "4"}, {5, "5"}, {uint8(6), "6"}, {uint16(7), "7"}, {uint32(8), "8"}, {uint64(9), "9"},
		{nil, ""}, {amqp.Table{}, ""}, {[]any{"x"}, ""}, {amqp.Decimal{Scale: 1, Value: 2}, ""}, {time.Time{}, ""}, {1.5, ""},
	} {
		if got := amqpheader.String(tc.v); got != tc.want {
			t.Errorf("String(%#v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// Header tables come from any producer: the carrier must never panic.
func FuzzCarrier(f *testing.F) {
	f.Add("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", int64(3), []byte{0xff})
	f.Fuzz(func(t *testing.T, key, s string, n int64, b []byte) {
		c := amqpheader.Carrier(amqp.Table{key: s, "n": n, "b": b, "t": amqp.Table{key: b}})
		_ = c.Get(key)
		_ = c.Get("N")
		_ = c.Get("t")
		c.Set(key, s)
		if c.Get(key) != s {
			t.Fatalf("Get(%q) after Set = %q", key, c.Get(key))
		}
		_ = c.Keys()
	})
}
