package telemetry

import (
	"context"
	"log/slog"
	"math"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"

	"github.com/patron-go/patron/correlation"
	patronlog "github.com/patron-go/patron/observability/log"
)

// logHandler is the slog handler behind LogHandler. It produces the records
// the contrib slog bridge (otelslog) produces, plus the context's
// correlation ID as attribute correlation_id (the JSON output has it too),
// at a fraction of the bridge's cost for the records services log on every
// request: attributes of the scalar kinds are converted into a fixed-size
// array, WithAttrs attributes are converted once, at With time, and keys are
// made unique here, by a scan that needs no map, so that the SDK can be told
// to skip its own deduplication (a sync.Pool and two maps per attribute,
// which cost more than all the rest of a record).
//
// Anything else (groups, values of kind Any other than an error, LogValuers
// that resolve to them, empty keys) goes to the bridge itself, which has had
// the same WithAttrs and WithGroup calls and emits through a logger that
// deduplicates, so the exported record is the same either way.
type logHandler struct {
	logger otellog.Logger // emits without deduplicating keys
	slow   slog.Handler   // the bridge, with this handler's attributes and groups
	attrs  []attribute.KeyValue
	err    error // the last error among the WithAttrs values (the bridge's Err)
	fast   bool  // false once a WithGroup or a WithAttrs value the fast path does not convert
}

// inlineAttrs is the number of attributes a record with repeated keys
// converts without allocating.
const inlineAttrs = 16

// newLogHandler returns a handler that emits through fast, a logger whose
// provider allows duplicate keys (they never reach it), and hands the
// records it does not convert itself to the bridge on dedup, a logger of the
// same pipeline that deduplicates them. fast and dedup may be the same
// logger (the provider of OTEL_CONFIG_FILE is used as it is).
func newLogHandler(fast otellog.Logger, dedup otellog.LoggerProvider) *logHandler {
	return &logHandler{
		logger: fast,
		slow:   otelslog.NewHandler(logScope, otelslog.WithLoggerProvider(correlatedProvider{dedup})),
		fast:   true,
	}
}

// Enabled reports whether the pipeline takes records of level, as the
// bridge does. (The service's Tee asks its JSON handler instead, so that
// one level applies to both.)
func (h *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.logger.Enabled(ctx, otellog.EnabledParameters{Severity: severity(level)})
}

// Handle converts r and emits it; the SDK takes the trace and span IDs from
// ctx.
func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.fast {
		return h.slow.Handle(ctx, r)
	}
	// The usual record repeats no key: its attributes go straight into
	// rec, each checked against those before it, and the first repeated
	// key sends the record to handleRepeated.
	var rec otellog.Record
	rec.AddAttributes(h.attrs...)
	err := h.err
	next := nextFast
	r.Attrs(func(a slog.Attr) bool {
		if e, isErr := errorValue(a); isErr {
			err = e // the bridge's kvBuffer: an error value is the record's Err
			return true
		}
		kv, ok := convertAttr(a)
		switch {
		case !ok:
			next = nextBridge
		case hasKey(&rec, kv.Key):
			next = nextRepeated
		default:
			rec.AddAttributes(kv)
			return true
		}
		return false
	})
	if next == nextFast {
		if id, found := correlation.FromContext(ctx); found {
			if hasKey(&rec, patronlog.CorrelationIDKey) {
				next = nextRepeated
			} else {
				rec.AddAttributes(attribute.String(patronlog.CorrelationIDKey, id))
			}
		}
	}
	switch next {
	case nextBridge:
		return h.slow.Handle(ctx, r)
	case nextRepeated:
		return h.handleRepeated(ctx, r)
	}
	h.emit(ctx, &rec, r, err)
	return nil
}

// What Handle does with a record once its attributes are converted.
const (
	nextFast     = iota // emit it
	nextRepeated        // a key is repeated: handleRepeated
	nextBridge          // a value only the bridge converts: the bridge
)

// handleRepeated converts a record whose keys repeat (all its values of
// the kinds convertAttr takes) into a buffer where a repeated key's value
// replaces the first one's, as the SDK's deduplication does.
func (h *logHandler) handleRepeated(ctx context.Context, r slog.Record) error {
	var buf [inlineAttrs]attribute.KeyValue
	kvs := append(buf[:0], h.attrs...)
	err := h.err
	r.Attrs(func(a slog.Attr) bool {
		if e, isErr := errorValue(a); isErr {
			err = e
			return true
		}
		kv, _ := convertAttr(a)
		kvs = setAttr(kvs, kv)
		return true
	})
	if id, found := correlation.FromContext(ctx); found {
		kvs = setAttr(kvs, attribute.String(patronlog.CorrelationIDKey, id))
	}
	var rec otellog.Record
	rec.AddAttributes(kvs...)
	h.emit(ctx, &rec, r, err)
	return nil
}

// emit completes rec, which has its attributes, from r and emits it.
func (h *logHandler) emit(ctx context.Context, rec *otellog.Record, r slog.Record, err error) {
	rec.SetTimestamp(r.Time)
	if !r.Time.IsZero() {
		// slog stamped the record in this same call: that is when it was
		// observed, and the SDK need not read the clock again (the data
		// model's "typically equal to Timestamp" for records that
		// originate in the process).
		rec.SetObservedTimestamp(r.Time)
	}
	rec.SetBody(attribute.StringValue(r.Message))
	rec.SetSeverity(severity(r.Level))
	rec.SetSeverityText(r.Level.String())
	if err != nil {
		rec.SetErr(err)
	}
	h.logger.Emit(ctx, *rec)
}

// hasKey reports whether rec has an attribute named key.
func hasKey(rec *otellog.Record, key attribute.Key) bool {
	found := false
	rec.WalkAttributes(func(kv attribute.KeyValue) bool {
		found = kv.Key == key
		return !found
	})
	return found
}

// WithAttrs returns a handler with attrs converted once, or, for values
// only the bridge converts, one that leaves every record to the bridge.
func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.slow = h.slow.WithAttrs(attrs)
	if !h.fast {
		return &h2
	}
	kvs := make([]attribute.KeyValue, len(h.attrs), len(h.attrs)+len(attrs))
	copy(kvs, h.attrs)
	for _, a := range attrs {
		if e, isErr := errorValue(a); isErr {
			h2.err = e
			continue
		}
		kv, ok := convertAttr(a)
		if !ok {
			h2.fast, h2.attrs, h2.err = false, nil, nil
			return &h2
		}
		kvs = setAttr(kvs, kv)
	}
	h2.attrs = kvs
	return &h2
}

// WithGroup returns a handler that leaves every record to the bridge, whose
// groups nest attributes into maps.
func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &logHandler{logger: h.logger, slow: h.slow.WithGroup(name)}
}

// errorValue returns a's value when it is an error, which the bridge makes
// the record's Err rather than an attribute.
func errorValue(a slog.Attr) (error, bool) {
	if a.Value.Kind() != slog.KindAny {
		return nil, false
	}
	e, ok := a.Value.Any().(error)
	return e, ok
}

// setAttr adds kv to kvs, or, when kvs already has its key, puts its value
// there: the SDK's deduplication (the first position, the last value).
func setAttr(kvs []attribute.KeyValue, kv attribute.KeyValue) []attribute.KeyValue {
	for i := range kvs {
		if kvs[i].Key == kv.Key {
			kvs[i].Value = kv.Value
			return kvs
		}
	}
	return append(kvs, kv)
}

// convertAttr converts a the way the bridge does, for the kinds it can
// without the bridge's reflection; ok is false for the others.
func convertAttr(a slog.Attr) (kv attribute.KeyValue, ok bool) {
	if a.Key == "" {
		return kv, false
	}
	v := a.Value
	if v.Kind() == slog.KindLogValuer {
		v = v.Resolve()
	}
	kv.Key = attribute.Key(a.Key)
	switch v.Kind() {
	case slog.KindString:
		kv.Value = attribute.StringValue(v.String())
	case slog.KindInt64:
		kv.Value = attribute.Int64Value(v.Int64())
	case slog.KindUint64:
		if u := v.Uint64(); u > math.MaxInt64 {
			kv.Value = attribute.Float64Value(float64(u))
		} else {
			kv.Value = attribute.Int64Value(int64(u))
		}
	case slog.KindFloat64:
		kv.Value = attribute.Float64Value(v.Float64())
	case slog.KindBool:
		kv.Value = attribute.BoolValue(v.Bool())
	case slog.KindDuration:
		kv.Value = attribute.Int64Value(v.Duration().Nanoseconds())
	case slog.KindTime:
		kv.Value = attribute.Int64Value(v.Time().UnixNano())
	default:
		return kv, false
	}
	return kv, true
}

// severity maps a slog level to an OpenTelemetry severity as the bridge
// does: DEBUG is 5, INFO 9, WARN 13, ERROR 17, levels in between in between.
func severity(l slog.Level) otellog.Severity {
	const offset = slog.Level(otellog.SeverityDebug) - slog.LevelDebug
	return otellog.Severity(l + offset)
}

// correlatedProvider hands the bridge loggers that add the context's
// correlation ID to each record, as the fast path does.
type correlatedProvider struct{ otellog.LoggerProvider }

func (p correlatedProvider) Logger(name string, opts ...otellog.LoggerOption) otellog.Logger {
	return correlatedLogger{p.LoggerProvider.Logger(name, opts...)}
}

type correlatedLogger struct{ otellog.Logger }

func (l correlatedLogger) Emit(ctx context.Context, r otellog.Record) {
	if id, ok := correlation.FromContext(ctx); ok {
		r.AddAttributes(attribute.String(patronlog.CorrelationIDKey, id))
	}
	l.Logger.Emit(ctx, r)
}
