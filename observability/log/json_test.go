package log

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/patron-go/patron/correlation"
)

// slogReference is what New produced before the fast JSON path: slog's own
// JSONHandler behind the ID-adding Handler, with durations as strings. The
// fast path must match it byte for byte.
func slogReference(buf *bytes.Buffer, level slog.Leveler) *slog.Logger {
	return slog.New(NewHandler(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level, ReplaceAttr: durationString})))
}

type logCase struct {
	name string
	log  func(ctx context.Context, l *slog.Logger)
}

var when = time.Date(2026, 11, 23, 9, 30, 1, 123456789, time.FixedZone("X", 5*3600+1800))

func logCases() []logCase {
	return []logCase{
		{"plain", func(ctx context.Context, l *slog.Logger) { l.InfoContext(ctx, "hello") }},
		{"kinds", func(ctx context.Context, l *slog.Logger) {
			l.LogAttrs(ctx, slog.LevelWarn, "kinds",
				slog.String("s", "v"), slog.Int("i", -42), slog.Uint64("u", math.MaxUint64),
				slog.Bool("b", true), slog.Duration("d", 1500*time.Millisecond), slog.Time("t", when),
				slog.Int64("min", math.MinInt64), slog.String("empty", ""))
		}},
		{"escapes", func(ctx context.Context, l *slog.Logger) {
			l.ErrorContext(ctx, "q\"uo\\te\n\r\t\x00\x1f\x7f <&> é ✓ \u2028\u2029 \xff\xfe",
				"k\"ey\n", "v\x01\u2029\xc3", "😀", "\U0001F600")
		}},
		{"levels", func(ctx context.Context, l *slog.Logger) {
			l.Log(ctx, slog.LevelInfo+2, "custom level")
			l.Log(ctx, slog.LevelError+7, "very bad")
		}},
		{"with attrs", func(ctx context.Context, l *slog.Logger) {
			l.With("service", "svc", "port", 8080).With(slog.Bool("ready", false)).InfoContext(ctx, "x", "n", 1)
		}},
		{"float goes slow", func(ctx context.Context, l *slog.Logger) {
			l.InfoContext(ctx, "f", "pi", 3.14159, "tiny", 1e-9, "s", "after")
		}},
		{"any goes slow", func(ctx context.Context, l *slog.Logger) {
			l.InfoContext(ctx, "a", "err", errors.New("boom"), "m", map[string]int{"a": 1}, "nil", nil)
		}},
		{"group goes slow", func(ctx context.Context, l *slog.Logger) {
			l.WithGroup("req").With("id", 7).InfoContext(ctx, "g", slog.Group("inner", "a", 1), "b", 2)
			l.InfoContext(ctx, "g2", slog.Group("", "inline", 1), slog.Group("empty"))
		}},
		{"with float goes slow", func(ctx context.Context, l *slog.Logger) {
			l.With("ratio", 0.5).InfoContext(ctx, "x", "n", 1)
		}},
		{"empty key goes slow", func(ctx context.Context, l *slog.Logger) {
			l.InfoContext(ctx, "e", slog.String("", ""), slog.Any("", nil), slog.Int("", 3))
		}},
		{"log valuer goes slow", func(ctx context.Context, l *slog.Logger) {
			l.InfoContext(ctx, "lv", "v", valuer{})
		}},
		{"year out of range goes slow", func(ctx context.Context, l *slog.Logger) {
			l.InfoContext(ctx, "y", "t", time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC))
		}},
		{"record without time", func(ctx context.Context, l *slog.Logger) {
			r := slog.NewRecord(time.Time{}, slog.LevelInfo, "no time", 0)
			r.AddAttrs(slog.Int("a", 1))
			_ = l.Handler().Handle(ctx, r)
		}},
		{"many attrs", func(ctx context.Context, l *slog.Logger) {
			r := slog.NewRecord(when, slog.LevelInfo, "many", 0)
			for i := range 12 {
				r.AddAttrs(slog.Int("a", i))
			}
			_ = l.Handler().Handle(ctx, r)
		}},
		{"below level", func(ctx context.Context, l *slog.Logger) { l.DebugContext(ctx, "hidden") }},
	}
}

type valuer struct{}

func (valuer) LogValue() slog.Value { return slog.StringValue("resolved") }

// TestJSONMatchesSlog proves the fast path writes exactly what slog's
// JSONHandler (with Handler's IDs) writes, for records it formats itself and
// for those it hands to slog, with and without a span and a correlation ID.
func TestJSONMatchesSlog(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	spanCtx, span := tp.Tracer("t").Start(t.Context(), "op")
	t.Cleanup(func() { span.End() })
	ctxs := map[string]context.Context{
		"no ids":      t.Context(),
		"span":        spanCtx,
		"correlation": correlation.ContextWithID(t.Context(), `c"1`),
		"both":        correlation.ContextWithID(spanCtx, "corr-1"),
	}
	for _, c := range logCases() {
		for cname, ctx := range ctxs {
			t.Run(c.name+"/"+cname, func(t *testing.T) {
				var got, want bytes.Buffer
				c.log(ctx, New(&got, FormatJSON, slog.LevelInfo))
				c.log(ctx, slogReference(&want, slog.LevelInfo))
				// slog stamps records with time.Now: compare with the
				// times masked where the case did not set them.
				g, w := maskTimes(got.Bytes()), maskTimes(want.Bytes())
				if !bytes.Equal(g, w) {
					t.Fatalf("fast path differs from slog\n got: %s\nwant: %s", g, w)
				}
			})
		}
	}
}

// maskTimes replaces the value of every top-level "time" field with "T"
// (RFC 3339 with nanoseconds trims trailing zeros, so lengths vary).
func maskTimes(b []byte) []byte {
	const key = `{"time":"`
	var out []byte
	for {
		j := bytes.Index(b, []byte(key))
		if j < 0 {
			return append(out, b...)
		}
		out = append(out, b[:j+len(key)]...)
		b = b[j+len(key):]
		end := bytes.IndexByte(b, '"')
		if end < 0 {
			return append(out, b...)
		}
		out = append(out, 'T')
		b = b[end:]
	}
}

// TestDurationsAreStrings: a duration reads as Go writes it ("30s"), on
// the fast path and in a group (slow path), never as integer nanoseconds.
func TestDurationsAreStrings(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, FormatJSON, slog.LevelInfo)
	l.Info("fast", "timeout", 30*time.Second, "elapsed", 1500*time.Microsecond)
	l.Info("slow", slog.Group("g", "d", 2*time.Minute), "f", 1.5)
	out := buf.String()
	for _, want := range []string{`"timeout":"30s"`, `"elapsed":"1.5ms"`, `"g":{"d":"2m0s"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	for _, d := range []time.Duration{0, 1, 999, 1000, 1001, 1500 * time.Microsecond, time.Second, 90 * time.Minute,
		-time.Nanosecond, -61 * time.Second, math.MaxInt64, math.MinInt64, 36*time.Hour + 7*time.Millisecond} {
		if got := string(appendDuration(nil, d)); got != d.String() {
			t.Errorf("appendDuration(%d) = %q, want %q", int64(d), got, d.String())
		}
	}
}

// FuzzJSONMatchesSlog checks arbitrary keys, values and messages.
func FuzzJSONMatchesSlog(f *testing.F) {
	f.Add("msg", "key", "value", int64(1))
	f.Add("\xff\u2028", "k\"\n", "\x00\\", int64(-1))
	f.Fuzz(func(t *testing.T, msg, key, value string, n int64) {
		ctx := correlation.ContextWithID(context.Background(), value)
		var got, want bytes.Buffer
		log := func(l *slog.Logger) {
			r := slog.NewRecord(when, slog.LevelInfo, msg, 0)
			r.AddAttrs(slog.String(key, value), slog.Int64(key+"n", n), slog.Duration("d", time.Duration(n)))
			_ = l.With(key, value).Handler().Handle(ctx, r)
		}
		log(New(&got, FormatJSON, slog.LevelInfo))
		log(slogReference(&want, slog.LevelInfo))
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("fast path differs from slog\n got: %q\nwant: %q", got.Bytes(), want.Bytes())
		}
	})
}

// TestJSONConcurrentWriters: loggers derived from one New share one writer
// and never interleave lines, whichever path formats them.
func TestJSONConcurrentWriters(t *testing.T) {
	var buf bytes.Buffer
	base := New(&buf, FormatJSON, slog.LevelInfo)
	fast, slow := base.With("a", 1), base.WithGroup("g")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			l := fast
			if i%2 == 1 {
				l = slow
			}
			for range 100 {
				l.Info("line", "i", i)
			}
		})
	}
	wg.Wait()
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	for _, l := range lines {
		if !bytes.HasPrefix(l, []byte(`{"time":`)) || !bytes.HasSuffix(l, []byte("}")) {
			t.Fatalf("interleaved line %q", l)
		}
	}
}
