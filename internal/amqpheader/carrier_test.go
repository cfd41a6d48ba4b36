package amqpheader_test

import (
	"strings"
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

// TestGetLookupOrder: each path of Get finds its header, and when a table
// holds several spellings the exact one wins, then the lower-case one.
func TestGetLookupOrder(t *testing.T) {
	long := strings.Repeat("X", 80)
	tests := map[string]struct {
		table amqp.Table
		key   string
		want  string
	}{
		"exact":                      {amqp.Table{"traceparent": "e"}, "traceparent", "e"},
		"exact over other spellings": {amqp.Table{"X-Correlation-Id": "e", "x-correlation-id": "l", "X-CORRELATION-ID": "o"}, "X-Correlation-Id", "e"},
		"lower case":                 {amqp.Table{"x-correlation-id": "l"}, "X-Correlation-Id", "l"},
		"lower over other spellings": {amqp.Table{"x-correlation-id": "l", "X-CORRELATION-ID": "o"}, "X-Correlation-Id", "l"},
		"other case by scan":         {amqp.Table{"Traceparent": "s"}, "traceparent", "s"},
		"mixed case by scan":         {amqp.Table{"X-CORRELATION-ID": "s"}, "X-Correlation-Id", "s"},
		"long key by scan":           {amqp.Table{strings.ToLower(long): "s"}, long, "s"},
		"non-ASCII key by scan":      {amqp.Table{"ÜBER-id": "s"}, "über-ID", "s"},
		// U+212A KELVIN SIGN folds to k: the scan keeps Unicode folding.
		"Unicode folding by scan": {amqp.Table{"\u212Aey": "s"}, "KEY", "s"},
		"miss":                    {amqp.Table{"traceparent": "e", "Tracestate": "s"}, "baggage", ""},
		"miss upper-case key":     {amqp.Table{"traceparent": "e"}, "X-Correlation-Id", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := amqpheader.Carrier(tc.table).Get(tc.key); got != tc.want {
				t.Fatalf("Get(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

// TestGetDoesNotAllocate: the lower-case lookup converts on the stack.
func TestGetDoesNotAllocate(t *testing.T) {
	c := amqpheader.Carrier(amqp.Table{"x-correlation-id": "l", "Traceparent": "s"})
	for _, key := range []string{"X-Correlation-Id", "traceparent", "baggage"} {
		if n := testing.AllocsPerRun(100, func() { _ = c.Get(key) }); n != 0 {
			t.Errorf("Get(%q): %v allocations", key, n)
		}
	}
}

// FuzzGetFolds: the shortcuts of Get find exactly what strings.EqualFold
// finds, Unicode folding (K, ſ) included.
func FuzzGetFolds(f *testing.F) {
	f.Add("traceparent", "Traceparent")
	f.Add("KEY", "\u212Aey")
	f.Add("s", "\u017F")
	f.Add("", "a")
	f.Fuzz(func(t *testing.T, key, header string) {
		table := amqp.Table{header: "v", "x-other": "o"}
		got := amqpheader.Carrier(table).Get(key)
		// When both names fold to key, either is right: Get prefers the
		// exact then the lower-case spelling, EqualFold has no preference.
		ok := got == ""
		if got != "" {
			ok = false
			for k, v := range table {
				if v == got && strings.EqualFold(k, key) {
					ok = true
				}
			}
		}
		for k := range table {
			if strings.EqualFold(k, key) && got == "" {
				ok = false
			}
		}
		if !ok {
			t.Fatalf("Get(%q) on %v = %q", key, table, got)
		}
	})
}
