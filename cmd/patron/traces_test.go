package main

import (
	"strings"
	"testing"

	"github.com/patron-go/patron/traceview"
)

func TestTracesHintNamesAllSignals(t *testing.T) {
	got := tracesHint(traceview.Addrs{UI: "127.0.0.1:16686", OTLPHTTP: "127.0.0.1:4318", OTLPGRPC: "127.0.0.1:4317"})
	for _, want := range []string{
		"trace viewer: http://127.0.0.1:16686/search\n",
		"OTLP/HTTP:    http://127.0.0.1:4318 (traces, logs, metrics)\n",
		"OTLP/gRPC:    127.0.0.1:4317 (traces, logs, metrics)\n",
		"send all three signals with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318\n",
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("hint %q lacks %q", got, want)
		}
	}
	grpcOnly := tracesHint(traceview.Addrs{UI: "127.0.0.1:1", OTLPGRPC: "127.0.0.1:2"})
	if !strings.Contains(grpcOnly, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:2\n") || strings.Contains(grpcOnly, "OTLP/HTTP") {
		t.Errorf("gRPC-only hint %q", grpcOnly)
	}
}

func TestTracesStoreFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--max-span-bytes", "lots"},
		{"--max-log-bytes", "0"},
		{"--max-point-bytes", "-1MiB"},
		{"--max-logs", "0"},
		{"--max-points", "-5"},
		{"--max-span-bytes", "3PB"},
	} {
		code, _, stderr := runCLI(t, append([]string{"traces", "--ui", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0", "--otlp-grpc", "127.0.0.1:0"}, args...)...)
		if code != exitUsage || stderr == "" {
			t.Errorf("traces %v: exit %d, stderr %q; want a usage error", args, code, stderr)
		}
	}
	code, _, stderr := runCLI(t, "traces", "-h")
	for _, flag := range []string{"-max-span-bytes", "-max-logs", "-max-log-bytes", "-max-points", "-max-point-bytes", "256MiB"} {
		if code != exitOK || !strings.Contains(stderr, flag) {
			t.Errorf("traces -h does not list %s: %q", flag, stderr)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "256MiB": 256 << 20, "1GB": 1e9, "1.5KiB": 1536, "64 MB": 64e6, "2GiB": 2 << 30} {
		var s byteSize
		if err := s.Set(in); err != nil || int64(s) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1XB", "-1", "0", "1e30"} {
		var s byteSize
		if err := s.Set(in); err == nil {
			t.Errorf("Set(%q) accepted %d", in, s)
		}
	}
	if s := byteSize(256 << 20); s.String() != "256MiB" {
		t.Errorf("String = %q", s.String())
	}
}
