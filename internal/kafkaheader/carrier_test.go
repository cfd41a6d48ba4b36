package kafkaheader_test

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"

	"github.com/patron-go/patron/internal/kafkaheader"
)

var _ propagation.TextMapCarrier = kafkaheader.Carrier{}

func TestCarrier(t *testing.T) {
	hs := []kgo.RecordHeader{{Key: "Traceparent", Value: []byte("old")}, {Key: "a", Value: []byte("1")}, {Key: "TRACEPARENT", Value: []byte("dup")}}
	c := kafkaheader.Carrier{Headers: &hs}
	if got := c.Get("traceparent"); got != "old" {
		t.Fatalf("case-insensitive Get = %q", got)
	}
	if got := c.Get("a"); got != "1" {
		t.Fatalf("exact Get = %q", got)
	}
	c.Set("traceparent", "new")
	if len(hs) != 2 || c.Get("traceparent") != "new" || hs[0].Key != "traceparent" {
		t.Fatalf("Set did not replace every spelling: %v", hs)
	}
	c.Set("b", "2")
	if keys := c.Keys(); len(keys) != 3 || keys[2] != "b" {
		t.Fatalf("Keys = %v", keys)
	}
	var empty kafkaheader.Carrier
	empty.Set("x", "y")
	if empty.Get("x") != "" || empty.Keys() != nil {
		t.Fatal("nil carrier must be inert")
	}
}

// Headers come from any producer: the carrier must never panic, and Set
// must leave exactly one header of that name (any spelling).
func FuzzCarrier(f *testing.F) {
	f.Add("traceparent", []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "TraceParent", "v")
	f.Add("", []byte{0xff, 0}, "", "")
	f.Fuzz(func(t *testing.T, key string, value []byte, setKey, setValue string) {
		hs := []kgo.RecordHeader{{Key: key, Value: value}, {Key: strings.ToUpper(key), Value: value}}
		c := kafkaheader.Carrier{Headers: &hs}
		_ = c.Get(key)
		_ = c.Get(setKey)
		c.Set(setKey, setValue)
		if got := c.Get(setKey); got != setValue {
			t.Fatalf("Get(%q) after Set = %q, want %q", setKey, got, setValue)
		}
		n := 0
		for _, h := range hs {
			if strings.EqualFold(h.Key, setKey) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d headers named %q after Set", n, setKey)
		}
		_ = c.Keys()
	})
}

// TestHotPathCarriers checks that the consumer's carrier reads what
// Carrier does, and that the traceparent is not copied.
func TestHotPathCarriers(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	hs := []kgo.RecordHeader{{Key: "Traceparent", Value: []byte(tp)}, {Key: "baggage", Value: []byte("k=v")}}
	ex := kafkaheader.ExtractCarrier{Carrier: kafkaheader.Carrier{Headers: &hs}}
	for _, k := range []string{"traceparent", "baggage", "absent"} {
		if got, want := ex.Get(k), ex.Carrier.Get(k); got != want {
			t.Fatalf("ExtractCarrier.Get(%q) = %q, Carrier.Get = %q", k, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = ex.Get("traceparent") }); n != 0 {
		t.Fatalf("ExtractCarrier.Get(traceparent) allocates %v times", n)
	}
	if (kafkaheader.ExtractCarrier{}).Get("traceparent") != "" {
		t.Fatal("nil ExtractCarrier must be inert")
	}

}
