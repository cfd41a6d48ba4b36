package patron

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	patronhttp "github.com/patron-go/patron/component/http"
	patronlog "github.com/patron-go/patron/observability/log"
	"github.com/patron-go/patron/observability/observabilitytest"
	"github.com/patron-go/patron/observability/telemetry"
)

// keepSlogDefault restores slog's and the log package's defaults after a
// test that lets New replace them.
func keepSlogDefault(t *testing.T) {
	prev, w, flags := slog.Default(), log.Writer(), log.Flags()
	t.Cleanup(func() {
		slog.SetDefault(prev)
		log.SetOutput(w)
		log.SetFlags(flags)
	})
}

// Issue 15.2: a handler mounted with WithRoutes logs with the trace and
// correlation IDs, through the logger of its context and through slog's
// default, also when the service's logger is the user's (WithLogger).
func TestHandlersLogWithIDs(t *testing.T) {
	keepSlogDefault(t)
	kit := observabilitytest.New(t)
	logs := &observabilitytest.LogBuffer{}
	user := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	route, err := patronhttp.NewRoute("GET /work", func(w http.ResponseWriter, r *http.Request) {
		patronlog.FromContext(r.Context()).InfoContext(r.Context(), "from the context's logger")
		slog.InfoContext(r.Context(), "from slog's default")
		_, _ = io.WriteString(w, "done")
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{WithRoutes(route), WithLogger(user),
		WithTracerProvider(kit.TracerProvider), WithMeterProvider(kit.MeterProvider), WithPropagator(kit.Propagator),
		WithObservability(telemetry.WithoutGlobals())})
	if code, _ := do(t, http.MethodGet, r.base+"/work", "", "X-Correlation-Id", "corr-15-2"); code != http.StatusOK {
		t.Fatalf("GET /work = %d", code)
	}
	span := kit.WaitForSpanCount(t, waitTimeout, "GET /work", 1)[0]
	for _, msg := range []string{"from the context's logger", "from slog's default"} {
		rec := logs.WaitRecord(t, waitTimeout, func(m map[string]any) bool { return m["msg"] == msg })
		if rec[patronlog.TraceIDKey] != span.SpanContext().TraceID().String() ||
			rec[patronlog.SpanIDKey] != span.SpanContext().SpanID().String() ||
			rec[patronlog.CorrelationIDKey] != "corr-15-2" {
			t.Errorf("record %q lacks the request's IDs: %v", msg, rec)
		}
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
}

// The default logger (no WithLogger) is the one handlers find in their
// context, and slog's default after New; WithoutSlogDefault keeps slog's.
func TestServiceLoggerIsTheHandlersAndSlogsDefault(t *testing.T) {
	keepSlogDefault(t)
	got := make(chan *slog.Logger, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- patronlog.FromContext(r.Context())
	})
	ctx, cancel := context.WithCancel(t.Context())
	svc, err := New("svc", "1", WithHTTPAddr("127.0.0.1:0"), WithLogLevel(slog.LevelError), WithHandler(h), WithObservability())
	if err != nil {
		t.Fatal(err)
	}
	if slog.Default() != svc.Logger() {
		t.Error("New did not make the service's logger slog's default")
	}
	if _, ok := svc.Logger().Handler().(*patronlog.Handler); !ok {
		t.Errorf("service logger's handler is %T, want the ID-adding observability/log handler", svc.Logger().Handler())
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	addr, err := svc.HTTPAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	get(t, "http://"+addr.String()+"/anything")
	if l := within(t, got, "the handler"); l != svc.Logger() {
		t.Error("the handler's context carries another logger than the service's")
	}
	cancel()
	if err := within(t, done, "Run to return"); err != nil {
		t.Fatal(err)
	}

	before := slog.Default()
	if _, err := New("svc", "1", WithLogger(quietLogger()), WithoutSlogDefault(), WithObservability()); err != nil {
		t.Fatal(err)
	}
	if slog.Default() != before {
		t.Error("WithoutSlogDefault: slog's default changed")
	}
}

func TestUsersLoggerKeepsItsLevelAndIsNotWrappedTwice(t *testing.T) {
	keepSlogDefault(t)
	logs := &observabilitytest.LogBuffer{}
	wrapped := slog.New(patronlog.NewHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	svc, err := New("svc", "1", WithLogger(wrapped), WithObservability())
	if err != nil {
		t.Fatal(err)
	}
	if svc.level.Level() != slog.LevelDebug {
		t.Errorf("level = %s, want debug (the lowest the user's handler takes)", svc.level.Level())
	}
	if lh, ok := svc.Logger().Handler().(*levelHandler); !ok {
		t.Errorf("handler %T, want the level filter straight around the user's ID-adding handler", svc.Logger().Handler())
	} else if _, ok := lh.inner.(*patronlog.Handler); !ok {
		t.Errorf("inner handler %T", lh.inner)
	}
	// An explicit level below the user's handler's is raised to it.
	t.Setenv("PATRON_LOG_LEVEL", "debug")
	info := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err = New("svc", "1", WithLogger(info), WithObservability())
	if err != nil {
		t.Fatal(err)
	}
	if svc.level.Level() != slog.LevelInfo {
		t.Errorf("level = %s, want info", svc.level.Level())
	}
}

// Issue 20: the default logger buffers its JSON on the way to stderr, and
// Run's end writes the buffer out: the last records of a clean stop are in
// stderr when Run returns, and records logged afterwards go straight
// through.
func TestDefaultLoggerFlushedWhenRunEnds(t *testing.T) {
	keepSlogDefault(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	prev := os.Stderr
	os.Stderr = f
	t.Cleanup(func() { os.Stderr = prev })
	svc, err := New("flush-svc", "1.0.0", WithHTTPAddr("127.0.0.1:0"), WithoutDebugEndpoints(),
		WithObservability(telemetry.WithoutGlobals()))
	os.Stderr = prev // the logger holds the file now
	if err != nil {
		t.Fatal(err)
	}
	if svc.logOut == nil {
		t.Fatal("the default JSON logger is not buffered")
	}
	contains := func(msg string) bool {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(string(b), msg)
	}
	// Before Run nothing is buffered: a set-up failure followed by
	// os.Exit keeps its record.
	svc.Logger().Info("before run")
	if !contains(`"msg":"before run"`) {
		t.Fatal("a record logged before Run was buffered")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	if _, err := svc.HTTPAddr(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The log package's lines (log.Fatal exits right after its write) are
	// flushed as they are written, also while Run buffers.
	log.Print("legacy line")
	if !contains(`"msg":"legacy line"`) {
		t.Fatal("a log package line waits in the buffer")
	}
	cancel()
	if err := within(t, done, "Run to return"); err != nil {
		t.Fatal(err)
	}
	svc.Logger().Info("after run")
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{`"msg":"service started"`, `"msg":"service stopped"`, `"msg":"after run"`} {
		if !strings.Contains(string(b), msg) {
			t.Errorf("stderr lacks %s when Run has returned:\n%s", msg, b)
		}
	}
}
