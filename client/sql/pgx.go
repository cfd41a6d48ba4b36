package sql

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/observability"
)

// PgxTracer traces pgx connections used directly or through pgxpool, with
// the same span names, attributes and duration metric as Open: set it on
// pgxpool.Config.ConnConfig.Tracer (or pgx.ConnConfig.Tracer). It implements
// pgx.QueryTracer, pgx.BatchTracer, pgx.PrepareTracer, pgx.CopyFromTracer and
// pgx.ConnectTracer. Transactions appear as their BEGIN, COMMIT and ROLLBACK
// statements; a query's span lasts until its rows are closed.
type PgxTracer struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
	in       *instrumentation
	base     []attribute.KeyValue // options' attributes and db.system.name
	fixed    bool                 // WithServer/WithNamespace given: ignore the conn's config
}

var (
	_ pgx.QueryTracer    = (*PgxTracer)(nil)
	_ pgx.BatchTracer    = (*PgxTracer)(nil)
	_ pgx.PrepareTracer  = (*PgxTracer)(nil)
	_ pgx.CopyFromTracer = (*PgxTracer)(nil)
	_ pgx.ConnectTracer  = (*PgxTracer)(nil)
)

// NewPgxTracer returns a tracer for pgx. Server address, port and database
// name are read from each connection's configuration unless WithServer or
// WithNamespace set them.
func NewPgxTracer(opts ...Option) (*PgxTracer, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.system.Key == "" {
		cfg.system = semconv.DBSystemNamePostgreSQL
	}
	d, err := observability.DurationHistogram(observability.Meter(cfg.meterProvider, scope),
		"db.client.operation.duration", "Duration of database client operations.")
	if err != nil {
		return nil, fmt.Errorf("sql: pgx tracer: %w", err)
	}
	return &PgxTracer{
		tracer:   observability.Tracer(cfg.tracerProvider, scope),
		duration: d,
		in:       newInstrumentation(cfg, dialectStandard),
		base:     append([]attribute.KeyValue{cfg.system}, cfg.commonAttributes()...),
		fixed:    cfg.host != "" || cfg.namespace != "",
	}, nil
}

// connAttrsKey caches a connection's attributes in its CustomData, so that
// they are computed once per connection, not per query.
const connAttrsKey = "patron.client.sql.attrs"

func (t *PgxTracer) connAttributes(conn *pgx.Conn) []attribute.KeyValue {
	if t.fixed || conn == nil {
		return t.base
	}
	data := conn.PgConn().CustomData()
	if attrs, ok := data[connAttrsKey].([]attribute.KeyValue); ok {
		return attrs
	}
	attrs := t.configAttributes(conn.Config())
	data[connAttrsKey] = attrs
	return attrs
}

func (t *PgxTracer) configAttributes(c *pgx.ConnConfig) []attribute.KeyValue {
	attrs := append(make([]attribute.KeyValue, 0, len(t.base)+3), t.base...)
	if t.fixed || c == nil {
		return attrs
	}
	if c.Database != "" {
		attrs = append(attrs, semconv.DBNamespace(c.Database))
	}
	if c.Host != "" {
		attrs = append(attrs, semconv.ServerAddress(c.Host))
		if c.Port != 0 {
			attrs = append(attrs, semconv.ServerPort(int(c.Port)))
		}
	}
	return attrs
}

// pgxCall is what a start hook hands to its end hook through the context.
type pgxCall struct {
	span   trace.Span
	start  time.Time
	attrs  []attribute.KeyValue // metric attributes
	parent context.Context
}

type pgxCallKey struct{}

func (t *PgxTracer) start(ctx context.Context, connAttrs []attribute.KeyValue, name, op, text, collection string, extra ...attribute.KeyValue) context.Context {
	metricAttrs := append(make([]attribute.KeyValue, 0, len(connAttrs)+3), connAttrs...)
	if op != "" {
		metricAttrs = append(metricAttrs, semconv.DBOperationName(op))
	}
	if op != "" && name != op {
		metricAttrs = append(metricAttrs, semconv.DBQuerySummary(name))
	}
	if collection != "" {
		metricAttrs = append(metricAttrs, semconv.DBCollectionName(collection))
	}
	call := &pgxCall{start: time.Now(), attrs: metricAttrs, parent: ctx}
	spanCtx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(metricAttrs...)
		if text != "" {
			span.SetAttributes(semconv.DBQueryText(text))
		}
		span.SetAttributes(extra...)
	}
	call.span = span
	return context.WithValue(spanCtx, pgxCallKey{}, call)
}

func (t *PgxTracer) end(ctx context.Context, err error) {
	call, ok := ctx.Value(pgxCallKey{}).(*pgxCall)
	if !ok {
		return
	}
	attrs := call.attrs
	if err != nil {
		errAttrs := append(statusCodeAttributes(err), semconv.ErrorTypeKey.String(errorType(err)))
		attrs = append(attrs[:len(attrs):len(attrs)], errAttrs...)
		if call.span.IsRecording() {
			call.span.RecordError(err)
			call.span.SetStatus(codes.Error, "")
			call.span.SetAttributes(errAttrs...)
		}
	}
	call.span.End()
	t.duration.Record(call.parent, time.Since(call.start).Seconds(), metric.WithAttributes(attrs...))
}

// TraceQueryStart is part of pgx.QueryTracer.
func (t *PgxTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	d := t.in.statementOf(data.SQL)
	name := d.summary
	if name == "" {
		name = t.in.systemName()
	}
	return t.start(ctx, t.connAttributes(conn), name, d.op, d.text, d.st.collection)
}

// TraceQueryEnd is part of pgx.QueryTracer.
func (t *PgxTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	t.end(ctx, data.Err)
}

// TraceBatchStart is part of pgx.BatchTracer. A batch is one span, named
// "BATCH SELECT users" when all its statements share that summary and
// "BATCH" otherwise, with db.operation.batch.size.
func (t *PgxTracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	var (
		op, summary, collection string
		same                    = true
		n                       int
	)
	if data.Batch != nil {
		n = len(data.Batch.QueuedQueries)
		for i, q := range data.Batch.QueuedQueries {
			d := t.in.statementOf(q.SQL)
			if i == 0 {
				op, summary, collection = d.op, d.summary, d.st.collection
			} else if d.summary != summary {
				same = false
			}
		}
	}
	name, opName := "BATCH", "BATCH"
	if same && summary != "" {
		name, opName = "BATCH "+summary, "BATCH "+op
	} else {
		collection = ""
	}
	return t.start(ctx, t.connAttributes(conn), name, opName, "", collection, semconv.DBOperationBatchSize(n))
}

// TraceBatchQuery is part of pgx.BatchTracer: a failed statement is
// recorded on the batch span.
func (t *PgxTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if data.Err == nil {
		return
	}
	if call, ok := ctx.Value(pgxCallKey{}).(*pgxCall); ok && call.span.IsRecording() {
		call.span.RecordError(data.Err)
	}
}

// TraceBatchEnd is part of pgx.BatchTracer.
func (t *PgxTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	t.end(ctx, data.Err)
}

// TracePrepareStart is part of pgx.PrepareTracer.
func (t *PgxTracer) TracePrepareStart(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	d := t.in.statementOf(data.SQL)
	name := opPrepare
	if d.summary != "" {
		name += " " + d.summary
	}
	return t.start(ctx, t.connAttributes(conn), name, opPrepare, d.text, d.st.collection)
}

// TracePrepareEnd is part of pgx.PrepareTracer.
func (t *PgxTracer) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareEndData) {
	t.end(ctx, data.Err)
}

// TraceCopyFromStart is part of pgx.CopyFromTracer: "COPY <table>".
func (t *PgxTracer) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	table := data.TableName.Sanitize()
	return t.start(ctx, t.connAttributes(conn), "COPY "+table, "COPY", "", table)
}

// TraceCopyFromEnd is part of pgx.CopyFromTracer.
func (t *PgxTracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromEndData) {
	t.end(ctx, data.Err)
}

// TraceConnectStart is part of pgx.ConnectTracer.
func (t *PgxTracer) TraceConnectStart(ctx context.Context, data pgx.TraceConnectStartData) context.Context {
	return t.start(ctx, t.configAttributes(data.ConnConfig), opConnect, opConnect, "", "")
}

// TraceConnectEnd is part of pgx.ConnectTracer.
func (t *PgxTracer) TraceConnectEnd(ctx context.Context, data pgx.TraceConnectEndData) {
	t.end(ctx, data.Err)
	if data.Conn != nil {
		t.connAttributes(data.Conn) // warm the cache while the conn is new
	}
}
