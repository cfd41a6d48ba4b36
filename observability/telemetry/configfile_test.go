//go:build !patron_nogrpcexport

package telemetry

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patron-go/patron/internal/otlptest"
	patronlog "github.com/patron-go/patron/observability/log"
)

// OTEL_CONFIG_FILE sets up the tracer, meter and logger providers (and here
// the propagators) from the declarative configuration.
func TestConfigFileSetsUpEverySignal(t *testing.T) {
	rcv := otlptest.New(t)
	t.Setenv("PATRON_TEST_OTLP", rcv.URL)
	t.Setenv("OTEL_CONFIG_FILE", filepath.Join("testdata", "otel-config.yaml"))
	p, err := Setup(t.Context(), "ignored-name", "1", WithoutGlobals(), WithoutRuntimeMetrics())
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := p.TracerProvider().Tracer("t").Start(t.Context(), "from-config")
	if !p.LogsExported() {
		t.Fatal("the file's logger provider is not used")
	}
	slog.New(patronlog.NewTee(slog.NewTextHandler(io.Discard, nil), p.LogHandler())).InfoContext(ctx, "logged under config")
	c, _ := p.MeterProvider().Meter("m").Int64Counter("config.counter")
	c.Add(ctx, 1)
	span.End()
	if !strings.Contains(strings.Join(p.Propagator().Fields(), ","), "X-Amzn-Trace-Id") {
		t.Errorf("the file's xray propagator is not used: %v", p.Propagator().Fields())
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range rcv.Spans() {
		found = found || s.GetName() == "from-config"
	}
	if !found || len(rcv.Records()) != 1 || rcv.MetricExports() == 0 {
		t.Fatalf("receiver got spans %v, %d records, %d metric exports", rcv.Spans(), len(rcv.Records()), rcv.MetricExports())
	}
	if got := rcv.Records()[0].GetBody().GetStringValue(); got != "logged under config" {
		t.Fatalf("record %q", got)
	}
}

func TestBadConfigFileFailsSetup(t *testing.T) {
	t.Setenv("OTEL_CONFIG_FILE", filepath.Join("testdata", "missing.yaml"))
	_, err := Setup(t.Context(), "bad", "1", WithoutGlobals(), WithoutRuntimeMetrics())
	if err == nil || !strings.Contains(err.Error(), "OTEL_CONFIG_FILE") {
		t.Fatalf("error %v does not name OTEL_CONFIG_FILE", err)
	}
}
