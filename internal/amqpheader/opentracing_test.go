package amqpheader_test

import (
	"errors"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/patron-go/patron/internal/amqpheader"
)

func TestForeachKey(t *testing.T) {
	c := amqpheader.Carrier(amqp.Table{"s": "v", "empty": "", "b": []byte("x"), "n": int64(2), "table": amqp.Table{}, "nil": nil})
	got := map[string]string{}
	if err := c.ForeachKey(func(k, v string) error { got[k] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"s": "v", "empty": "", "b": "x", "n": "2"}
	if len(got) != len(want) {
		t.Fatalf("ForeachKey visited %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q (visited %v), want %q", k, g, ok, v)
		}
	}
	stop := errors.New("stop")
	if err := c.ForeachKey(func(string, string) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("handler error not returned: %v", err)
	}
}
