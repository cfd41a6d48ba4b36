package traceview

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

func TestNewValidatesOptions(t *testing.T) {
	cases := map[string][]Option{
		"bad UI addr":      {WithUIAddr("nope")},
		"bad HTTP addr":    {WithOTLPHTTPAddr("1.2.3.4")},
		"bad gRPC addr":    {WithOTLPGRPCAddr(":::")},
		"zero max spans":   {WithMaxSpans(0)},
		"zero body":        {WithMaxBodyBytes(0)},
		"huge body":        {WithMaxBodyBytes(2 << 30)},
		"zero shutdown":    {WithShutdownTimeout(0)},
		"nil logger":       {WithLogger(nil)},
		"nil option":       {nil},
		"nothing to serve": {WithUIAddr(""), WithOTLPHTTPAddr(""), WithOTLPGRPCAddr("")},
	}
	for name, opts := range cases {
		if v, err := New(opts...); err == nil || v != nil {
			t.Errorf("%s: New = %v, %v; want an error", name, v, err)
		}
	}
	v, err := New(WithMaxSpans(10), WithUIAddr(""))
	if err != nil || v.Store().MaxSpans() != 10 {
		t.Fatalf("New: %v", err)
	}
}

func TestRunReportsBindErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	v, err := New(WithUIAddr(ln.Addr().String()), WithOTLPHTTPAddr("127.0.0.1:0"), WithOTLPGRPCAddr("127.0.0.1:0"),
		WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	err = v.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "UI") {
		t.Fatalf("Run on a busy port: %v", err)
	}
	if rerr := v.Ready(t.Context()); rerr == nil {
		t.Error("Ready succeeded after Run failed")
	}
	if err := v.Run(t.Context()); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	v, err := New(WithUIAddr("127.0.0.1:0"), WithOTLPHTTPAddr(""), WithOTLPGRPCAddr("127.0.0.1:0"),
		WithLogger(slog.New(slog.DiscardHandler)), WithShutdownTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	if err := v.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	a := v.Addrs()
	if a.UI == "" || a.OTLPGRPC == "" || a.OTLPHTTP != "" {
		t.Errorf("addrs %+v", a)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
	if c, err := net.Dial("tcp", a.UI); err == nil {
		c.Close()
		t.Error("UI still listening after Run returned")
	}
}

func TestReadyHonoursContext(t *testing.T) {
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := v.Ready(ctx); err == nil {
		t.Error("Ready without Run succeeded")
	}
}
