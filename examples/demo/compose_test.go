package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// composeFile is the part of examples/docker-compose.yml the test reads.
type composeFile struct {
	Services map[string]struct {
		Image   string   `yaml:"image"`
		Ports   []string `yaml:"ports"`
		Volumes []string `yaml:"volumes"`
	} `yaml:"services"`
}

// collectorConfig is the part of examples/otel-collector.yaml the test reads.
type collectorConfig struct {
	Receivers struct {
		OTLP struct {
			Protocols struct {
				GRPC struct{ Endpoint string } `yaml:"grpc"`
				HTTP struct{ Endpoint string } `yaml:"http"`
			} `yaml:"protocols"`
		} `yaml:"otlp"`
	} `yaml:"receivers"`
	Exporters map[string]struct {
		Endpoint string `yaml:"endpoint"`
	} `yaml:"exporters"`
	Service struct {
		Pipelines map[string]struct {
			Receivers []string `yaml:"receivers"`
			Exporters []string `yaml:"exporters"`
		} `yaml:"pipelines"`
	} `yaml:"service"`
}

// prometheusConfig is the part of examples/prometheus.yml the test reads.
type prometheusConfig struct {
	ScrapeConfigs []struct {
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestComposeFile checks examples/docker-compose.yml without Docker: the
// images the demo needs (Jaeger v2, RabbitMQ 4), host ports that match the
// addresses the launcher and make demo-compose use, a collector that the
// services export to and that sends traces on to Jaeger, and a Prometheus
// that scrapes every service of the chain.
func TestComposeFile(t *testing.T) {
	var compose composeFile
	readYAML(t, "docker-compose.yml", &compose)
	cfg := defaultConfig()
	grpcPort := 0
	for _, s := range chain() {
		if s.grpc != 0 {
			grpcPort = s.grpc
		}
	}
	if grpcPort == 0 {
		t.Fatal("no gRPC port in the chain")
	}

	// Which host port each compose service must publish.
	want := map[string][]int{
		"jaeger":         {port(t, cfg.uiAddr)},
		"otel-collector": {port(t, cfg.otlpGRPCAddr), port(t, cfg.otlpHTTPAddr)},
		"prometheus":     {9090},
		"kafka":          {port(t, cfg.kafkaAddr)},
		"rabbitmq":       {5672},
		"redis":          {port(t, cfg.redisAddr)},
		"postgres":       {5432},
		"goaws":          {port(t, cfg.sqsAddr)},
	}
	if u := cfg.amqpURL; !strings.Contains(u, ":5672/") {
		t.Errorf("the launcher's RabbitMQ URL %q is not on 5672", u)
	}
	published := map[int]string{}
	for name, svc := range compose.Services {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected compose service %q", name)
		}
		for _, p := range svc.Ports {
			host, _, ok := strings.Cut(p, ":")
			if !ok {
				t.Errorf("%s: port %q publishes no host port", name, p)
				continue
			}
			n, err := strconv.Atoi(host)
			if err != nil {
				t.Errorf("%s: port %q: %v", name, p, err)
				continue
			}
			if other, dup := published[n]; dup {
				t.Errorf("host port %d published by %s and %s", n, other, name)
			}
			published[n] = name
		}
	}
	for name, ports := range want {
		if _, ok := compose.Services[name]; !ok {
			t.Errorf("no compose service %q", name)
			continue
		}
		for _, p := range ports {
			if published[p] != name {
				t.Errorf("host port %d is published by %q, want %s", p, published[p], name)
			}
		}
	}
	// Nothing in Docker may take a port the services themselves listen on.
	for _, s := range chain() {
		for _, p := range []int{s.port, s.grpc} {
			if name, taken := published[p]; p != 0 && taken {
				t.Errorf("host port %d of %s is published by %s", p, s.name, name)
			}
		}
	}

	for name, image := range map[string]*regexp.Regexp{
		"jaeger":         regexp.MustCompile(`^jaegertracing/jaeger:2\.\d+\.\d+$`),
		"rabbitmq":       regexp.MustCompile(`^rabbitmq:4\.\d+`),
		"otel-collector": regexp.MustCompile(`^otel/opentelemetry-collector(-contrib)?:\d+\.\d+\.\d+$`),
		"prometheus":     regexp.MustCompile(`^prom/prometheus:v3\.\d+\.\d+$`),
		"goaws":          regexp.MustCompile(`^admiralpiett/goaws:v0\.5\.4$`),
	} {
		if got := compose.Services[name].Image; !image.MatchString(got) {
			t.Errorf("%s image = %q, want %s", name, got, image)
		}
	}

	// The configuration files mounted are the ones next to the compose file.
	mounts := map[string]string{
		"otel-collector": "./otel-collector.yaml:/etc/otelcol-contrib/config.yaml:ro",
		"prometheus":     "./prometheus.yml:/etc/prometheus/prometheus.yml:ro",
	}
	for name, m := range mounts {
		if !slices.Contains(compose.Services[name].Volumes, m) {
			t.Errorf("%s volumes = %q, want %q", name, compose.Services[name].Volumes, m)
		}
	}

	var collector collectorConfig
	readYAML(t, "otel-collector.yaml", &collector)
	if got, want := collector.Receivers.OTLP.Protocols.GRPC.Endpoint, fmt.Sprintf("0.0.0.0:%d", port(t, cfg.otlpGRPCAddr)); got != want {
		t.Errorf("collector OTLP/gRPC endpoint = %q, want %q", got, want)
	}
	if got, want := collector.Receivers.OTLP.Protocols.HTTP.Endpoint, fmt.Sprintf("0.0.0.0:%d", port(t, cfg.otlpHTTPAddr)); got != want {
		t.Errorf("collector OTLP/HTTP endpoint = %q, want %q", got, want)
	}
	for _, signal := range []string{"traces", "metrics", "logs"} {
		p, ok := collector.Service.Pipelines[signal]
		if !ok || !slices.Contains(p.Receivers, "otlp") || len(p.Exporters) == 0 {
			t.Errorf("collector: no %s pipeline from the OTLP receiver: %+v", signal, p)
		}
		for _, e := range p.Exporters {
			if _, ok := collector.Exporters[e]; !ok {
				t.Errorf("collector %s pipeline exports to %q, which is not configured", signal, e)
			}
		}
	}
	toJaeger := false
	for _, e := range collector.Service.Pipelines["traces"].Exporters {
		toJaeger = toJaeger || collector.Exporters[e].Endpoint == "jaeger:4317"
	}
	if !toJaeger {
		t.Error("the collector's traces pipeline does not export to jaeger:4317")
	}

	var prom prometheusConfig
	readYAML(t, "prometheus.yml", &prom)
	scraped := map[string]string{}
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				scraped[target] = st.Labels["service"]
			}
		}
	}
	for _, s := range chain() {
		target := fmt.Sprintf("host.docker.internal:%d", s.port)
		if got, ok := scraped[target]; !ok || got != s.name {
			t.Errorf("prometheus does not scrape %s at %s (labelled %q)", s.name, target, got)
		}
	}
	if _, ok := scraped["otel-collector:8889"]; !ok || collector.Exporters["prometheus"].Endpoint != "0.0.0.0:8889" {
		t.Error("prometheus does not scrape the collector's metrics endpoint 8889")
	}

	// make demo-compose starts this file and points the launcher at its ports.
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"## demo-compose:", "docker compose -f examples/docker-compose.yml up -d",
		fmt.Sprintf("-aws-endpoint http://localhost:%d", port(t, cfg.sqsAddr)), "postgres://postgres@localhost:5432/test"} {
		if !strings.Contains(string(mk), s) {
			t.Errorf("the Makefile's demo-compose lacks %q", s)
		}
	}
}
