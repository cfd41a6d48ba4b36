package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Names the chain shares; the services read them from the environment with
// these defaults, so each also runs on its own.
const (
	kafkaTopic   = "patron-topic"
	amqpExchange = "patron"
	amqpQueue    = "patron"
	snsTopic     = "patron-topic"
	sqsQueue     = "patron"
	demoAPIKey   = "patron-demo-key"
)

// chain lists the services in the order a request crosses them.
func chain() []service {
	return []service{
		{name: "http-svc", pkg: "examples/http", port: 50000, purpose: "POST /api: calls http-cache-svc, sends protobuf to http-sec-svc"},
		{name: "http-cache-svc", pkg: "examples/http-cache", port: 50007, purpose: "GET route cached in Redis"},
		{name: "http-sec-svc", pkg: "examples/http-sec", port: 50001, purpose: "API-key route, publishes to Kafka"},
		{name: "kafka-svc", pkg: "examples/kafka", port: 50002, purpose: "consumes Kafka, SQL transaction, publishes to RabbitMQ"},
		{name: "amqp-svc", pkg: "examples/amqp", port: 50003, purpose: "consumes RabbitMQ, publishes to SNS and SQS"},
		{name: "sqs-svc", pkg: "examples/sqs", port: 50004, purpose: "consumes SQS, calls grpc-svc"},
		{name: "grpc-svc", pkg: "examples/grpc", port: 50005, grpc: 50006, purpose: "Greeter over gRPC"},
	}
}

type config struct {
	uiAddr, otlpHTTPAddr, otlpGRPCAddr string
	kafkaAddr, sqsAddr, awsEndpoint    string
	redisAddr, redisFallbackAddr       string
	amqpURL                            string
	sqlDriver, sqlDSN                  string
	external, noRequest, randomPorts   bool
	embeddedAMQP                       bool
	logDir                             string
	ports                              map[string]int
}

func defaultConfig() config {
	return config{
		uiAddr: "127.0.0.1:16686", otlpHTTPAddr: "127.0.0.1:4318", otlpGRPCAddr: "127.0.0.1:4317",
		kafkaAddr: "127.0.0.1:9092", sqsAddr: "127.0.0.1:4100",
		redisAddr: "127.0.0.1:6379", redisFallbackAddr: "127.0.0.1:6379",
		amqpURL:   "amqp://guest:guest@127.0.0.1:5672/",
		sqlDriver: "sqlite",
	}
}

func (c *config) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.external, "external", false, "use external Kafka (-kafka) and SQS/SNS (-aws-endpoint), e.g. from examples/docker-compose.yml")
	fs.StringVar(&c.kafkaAddr, "kafka", c.kafkaAddr, "Kafka bootstrap address (embedded kfake listens here unless -external)")
	fs.StringVar(&c.awsEndpoint, "aws-endpoint", "", "external SQS/SNS endpoint for -external, e.g. http://localhost:4566")
	fs.StringVar(&c.redisAddr, "redis", c.redisAddr, "Redis address; an embedded server starts there when none answers")
	fs.StringVar(&c.amqpURL, "amqp-url", c.amqpURL, "RabbitMQ URL; an embedded AMQP broker starts there when none answers")
	fs.BoolVar(&c.embeddedAMQP, "embedded-amqp", false, "use the embedded AMQP broker even when RabbitMQ answers")
	fs.StringVar(&c.sqlDSN, "postgres", "", "PostgreSQL DSN for kafka-svc (default: a SQLite file)")
	fs.StringVar(&c.logDir, "logs", "", "directory for the services' logs (default: a new temporary directory)")
	fs.BoolVar(&c.noRequest, "no-request", false, "start everything but send no request")
}

// demo is a running chain.
type demo struct {
	cfg     config
	infra   *infra
	procs   []*process
	binDir  string
	out     io.Writer
	logger  *slog.Logger
	cleanup []func()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(ctx context.Context, cfg config, out io.Writer, logger *slog.Logger) (*demo, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	d := &demo{cfg: cfg, out: out, logger: logger}
	ok := false
	defer func() {
		if !ok {
			_ = d.stop()
		}
	}()
	if d.cfg.ports == nil {
		d.cfg.ports = map[string]int{}
	}
	for _, s := range chain() {
		if _, set := d.cfg.ports[s.name]; set {
			continue
		}
		d.cfg.ports[s.name] = s.port
		if cfg.randomPorts {
			if d.cfg.ports[s.name], err = freePort(); err != nil {
				return nil, err
			}
		}
	}
	if d.cfg.ports["grpc"] == 0 {
		d.cfg.ports["grpc"] = 50006
		if cfg.randomPorts {
			if d.cfg.ports["grpc"], err = freePort(); err != nil {
				return nil, err
			}
		}
	}
	if d.cfg.logDir == "" {
		if d.cfg.logDir, err = os.MkdirTemp("", "patron-demo-logs-"); err != nil {
			return nil, err
		}
	}
	if d.binDir, err = os.MkdirTemp("", "patron-demo-bin-"); err != nil {
		return nil, err
	}
	d.cleanup = append(d.cleanup, func() { _ = os.RemoveAll(d.binDir) })

	fmt.Fprintln(out, "building the seven services...")
	if err := buildAll(ctx, root, d.binDir, chain(), out); err != nil {
		return nil, err
	}
	fmt.Fprintln(out, "starting Kafka, SQS/SNS, Redis and the trace viewer...")
	if d.infra, err = startInfra(ctx, d.cfg, logger); err != nil {
		return nil, err
	}
	for _, n := range d.infra.notes {
		fmt.Fprintln(out, "  "+n)
	}
	if d.cfg.sqlDriver == "sqlite" && d.cfg.sqlDSN == "" {
		d.cfg.sqlDSN = "file:" + filepath.Join(d.binDir, "demo.db") + "?_pragma=busy_timeout(5000)"
	} else if d.cfg.sqlDSN != "" && d.cfg.sqlDriver == "sqlite" {
		d.cfg.sqlDriver = "pgx"
	}

	env := d.env()
	for _, s := range chain() {
		s.port = d.cfg.ports[s.name]
		p, err := startProcess(d.binDir, d.cfg.logDir, s, append(env, "PATRON_HTTP_DEFAULT_PORT="+strconv.Itoa(s.port), "OTEL_SERVICE_NAME="+s.name))
		if err != nil {
			return nil, err
		}
		d.procs = append(d.procs, p)
	}
	readyCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for _, p := range d.procs {
		if err := p.waitReady(readyCtx); err != nil {
			return nil, err
		}
	}
	d.printTable()
	ok = true
	return d, nil
}

func (d *demo) env() []string {
	p := d.cfg.ports
	return []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + d.infra.otlpHTTPAddr,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		// Traces, log records and metrics all go to the viewer's console
		// (the endpoint turns each signal on); /metrics is served as well.
		"OTEL_BSP_SCHEDULE_DELAY=200",
		"OTEL_BLRP_SCHEDULE_DELAY=200",
		"OTEL_METRIC_EXPORT_INTERVAL=5000",
		"PATRON_LOG_FORMAT=json",
		"PATRON_SHUTDOWN_TIMEOUT=15s",
		"HTTP_CACHE_URL=http://127.0.0.1:" + strconv.Itoa(p["http-cache-svc"]),
		"HTTP_SEC_URL=http://127.0.0.1:" + strconv.Itoa(p["http-sec-svc"]),
		"DEMO_API_KEY=" + demoAPIKey,
		"KAFKA_BROKERS=" + d.infra.kafkaAddr,
		"KAFKA_TOPIC=" + kafkaTopic,
		"SQL_DRIVER=" + d.cfg.sqlDriver,
		"SQL_DSN=" + d.cfg.sqlDSN,
		"AMQP_URL=" + d.infra.amqpURL,
		"AMQP_EXCHANGE=" + amqpExchange,
		"AMQP_QUEUE=" + amqpQueue,
		"AWS_ENDPOINT_URL=" + d.infra.awsEndpoint,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=demo",
		"AWS_SECRET_ACCESS_KEY=demo",
		"SNS_TOPIC_ARN=" + d.infra.snsTopicARN,
		"SQS_QUEUE=" + sqsQueue,
		"GRPC_ADDR=127.0.0.1:" + strconv.Itoa(p["grpc"]),
		"GRPC_TARGET=127.0.0.1:" + strconv.Itoa(p["grpc"]),
		"REDIS_ADDR=" + d.infra.redisAddr,
	}
}

func (d *demo) printTable() {
	w := tabwriter.NewWriter(d.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nSERVICE\tPORT\tLINKS\tROLE")
	for _, s := range chain() {
		port := d.cfg.ports[s.name]
		links := fmt.Sprintf("http://localhost:%d/ready  /metrics", port)
		if s.grpc != 0 {
			links += fmt.Sprintf("  gRPC localhost:%d", d.cfg.ports["grpc"])
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", s.name, port, links, s.purpose)
	}
	_ = w.Flush()
	fmt.Fprintf(d.out, "\nlogs:         %s\ntrace viewer: http://%s/search\n", d.cfg.logDir, d.infra.uiAddr)
}

func (d *demo) traceURL(id string) string { return "http://" + d.infra.uiAddr + "/trace/" + id }

// sendAndWait posts the seeds' request to http-svc and waits until the
// viewer holds one trace with spans of all seven services.
func (d *demo) sendAndWait(ctx context.Context) (string, error) {
	body := []byte(`{"firstname":"John","lastname":"Doe"}`)
	u := fmt.Sprintf("http://127.0.0.1:%d/api", d.cfg.ports["http-svc"])
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", u, err)
	}
	respBody, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s answered %d: %s", u, resp.StatusCode, respBody)
	}
	traceID := resp.Header.Get("X-Trace-Id")
	fmt.Fprintf(d.out, "\nPOST %s -> %d (trace %s)\n", u, resp.StatusCode, traceID)
	if traceID == "" {
		return "", errors.New("http-svc did not answer with an X-Trace-Id header")
	}
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		services, err := d.traceServices(waitCtx, traceID)
		if err == nil && len(services) == len(chain()) {
			return traceID, nil
		}
		select {
		case <-waitCtx.Done():
			return "", fmt.Errorf("trace %s reached only %v within 60s; see the logs in %s: %w",
				traceID, services, d.cfg.logDir, errors.Join(err, waitCtx.Err()))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// traceServices asks the viewer's Jaeger-compatible API which services a
// trace has spans from.
func (d *demo) traceServices(ctx context.Context, traceID string) ([]string, error) {
	tr, err := fetchTrace(ctx, d.infra.uiAddr, traceID)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range tr.Processes {
		if !seen[p.ServiceName] {
			seen[p.ServiceName] = true
			out = append(out, p.ServiceName)
		}
	}
	return out, nil
}

type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		References    []struct {
			RefType string `json:"refType"`
			TraceID string `json:"traceID"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		Tags []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

func fetchTrace(ctx context.Context, uiAddr, traceID string) (*jaegerTrace, error) {
	u := "http://" + uiAddr + "/api/traces/" + url.PathEscape(traceID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var r struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", u, err)
	}
	if len(r.Data) != 1 {
		return nil, fmt.Errorf("GET %s: %d traces", u, len(r.Data))
	}
	return &r.Data[0], nil
}

func (d *demo) stop() error {
	var errs []error
	if len(d.procs) > 0 {
		errs = append(errs, stopAll(d.procs, 20*time.Second))
	}
	if d.infra != nil {
		errs = append(errs, d.infra.close())
	}
	for _, c := range d.cleanup {
		c()
	}
	return errors.Join(errs...)
}

// moduleRoot finds the directory of Patron's go.mod from the working
// directory, so the launcher runs from the repository root or below it.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/patron-go/patron\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the demo from Patron's repository (no go.mod of github.com/patron-go/patron above the working directory)")
		}
		dir = parent
	}
}
