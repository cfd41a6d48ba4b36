// Package sql opens database/sql handles whose connections are traced and
// measured the Patron way: a CLIENT span per query, exec, prepare,
// transaction step and result-set iteration, the db.client.operation.duration
// histogram, and connection pool metrics, all with the OpenTelemetry database
// semantic conventions. The instrumentation is github.com/XSAM/otelsql at the
// driver level, so the result is a plain *sql.DB and any code written against
// database/sql is traced without change.
//
// Span names follow the conventions' {db.query.summary}: "SELECT users",
// "INSERT orders", or the operation alone ("SELECT") when no single table is
// named; transaction steps are "BEGIN", "COMMIT" and "ROLLBACK"; a prepare is
// "PREPARE SELECT users"; iterating a result set is "FETCH" (a child of its
// query span); a new connection is "CONNECT". Query text is sanitised by
// default: literals become ?, comments are dropped (see Sanitize).
//
// PostgreSQL is reached through pgx (driver name "pgx", registered by this
// package's import of github.com/jackc/pgx/v5/stdlib), MySQL and MariaDB
// through github.com/go-sql-driver/mysql (driver name "mysql"); the first
// connection's server version tells MariaDB from MySQL for db.system.name.
// Users of pgxpool get the same spans from NewPgxTracer. ReadyCheck offers
// a ping for patron.WithReadyCheck.
package sql

import (
	"context"
	stdsql "database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/XSAM/otelsql"
	"github.com/go-sql-driver/mysql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/observability"
)

// scope is the instrumentation scope of the spans and metrics.
const scope = observability.ModulePath + "/client/sql"

// Open opens a database like database/sql.Open, with traced connections.
// driverName is a registered driver ("pgx", "mysql", "sqlite", ...); the
// server address, port and database name are read from dsn for the pgx and
// MySQL drivers (never the password). As with database/sql, no connection is
// made until one is needed: use PingContext to check the server.
func Open(driverName, dsn string, opts ...Option) (*stdsql.DB, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	probe, err := stdsql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("sql: open %q: %w", driverName, err)
	}
	drv := probe.Driver()
	_ = probe.Close() // no connection is made by Open
	var conn driver.Connector
	if dc, ok := drv.(driver.DriverContext); ok {
		if conn, err = dc.OpenConnector(dsn); err != nil {
			return nil, fmt.Errorf("sql: open %q: %w", driverName, err)
		}
	} else {
		conn = dsnConnector{dsn: dsn, driver: drv}
	}
	t := targetFromDSN(driverName, drv, dsn)
	return openDB(conn, cfg, t)
}

// OpenDB opens a database from a connector like database/sql.OpenDB, with
// traced connections. A connector does not reveal its DSN, so pass
// WithServer and WithNamespace for those attributes.
func OpenDB(c driver.Connector, opts ...Option) (*stdsql.DB, error) {
	if c == nil {
		return nil, errors.New("sql: nil connector")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return openDB(c, cfg, targetFromDriver("", c.Driver()))
}

// target is what the driver and DSN say about the database.
type target struct {
	system    attribute.KeyValue
	dialect   dialect
	namespace string
	host      string
	port      int
	// skipArgConnCalls is set for the MySQL driver without
	// interpolateParams: it answers driver.ErrSkip to any conn-level query
	// with arguments, and database/sql retries with a prepared statement, so
	// tracing the first attempt would add an empty span to every such query.
	skipArgConnCalls bool
}

func targetFromDriver(driverName string, drv driver.Driver) target {
	switch drv.(type) {
	case *stdlib.Driver:
		return target{system: semconv.DBSystemNamePostgreSQL}
	case *mysql.MySQLDriver:
		return target{system: semconv.DBSystemNameMySQL, dialect: dialectMySQL, skipArgConnCalls: true}
	}
	switch driverName {
	case "sqlite", "sqlite3":
		return target{system: semconv.DBSystemNameSQLite}
	case "postgres", "postgresql":
		return target{system: semconv.DBSystemNamePostgreSQL}
	}
	return target{system: semconv.DBSystemNameOtherSQL}
}

func targetFromDSN(driverName string, drv driver.Driver, dsn string) target {
	t := targetFromDriver(driverName, drv)
	switch drv.(type) {
	case *stdlib.Driver:
		if pc, err := pgx.ParseConfig(dsn); err == nil {
			t.namespace, t.host, t.port = pc.Database, pc.Host, int(pc.Port)
		}
	case *mysql.MySQLDriver:
		if mc, err := mysql.ParseDSN(dsn); err == nil {
			t.namespace = mc.DBName
			t.skipArgConnCalls = !mc.InterpolateParams
			if host, port, err := net.SplitHostPort(mc.Addr); err == nil {
				t.host = host
				t.port, _ = strconv.Atoi(port)
			} else {
				t.host = mc.Addr // a unix socket path
			}
		}
	}
	return t
}

// resolve fills what options did not set from what the DSN said.
func (c *config) resolve(t target) {
	if c.system.Key == "" {
		c.system = t.system
		c.detect = t.dialect == dialectMySQL
	}
	if c.namespace == "" {
		c.namespace = t.namespace
	}
	if c.host == "" {
		c.host, c.port = t.host, t.port
	}
	if c.poolName == "" {
		c.poolName = c.host
		if c.port > 0 {
			c.poolName = net.JoinHostPort(c.host, strconv.Itoa(c.port))
		}
		if c.namespace != "" {
			c.poolName += "/" + c.namespace
		}
	}
}

func openDB(c driver.Connector, cfg *config, t target) (*stdsql.DB, error) {
	cfg.resolve(t)
	in := newInstrumentation(cfg, t.dialect)
	meter := observability.Meter(cfg.meterProvider, scope)
	pool, err := newPoolMetrics(meter, cfg)
	if err != nil {
		return nil, err
	}
	cc := &closingConnector{Connector: c, pool: pool}
	if cfg.detect {
		cc.detect = &mariaDBDetector{onMariaDB: func() {
			in.setSystem(semconv.DBSystemNameMariaDB)
			pool.setSystem(semconv.DBSystemNameMariaDB)
		}}
	}
	db := otelsql.OpenDB(cc, in.otelsqlOptions(cfg, t)...)
	if err := pool.register(db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// closingConnector ends the pool metrics when database/sql closes the
// connector, which DB.Close does; otelsql forwards Close to it. With detect,
// it also asks new connections for the server's version.
type closingConnector struct {
	driver.Connector
	pool   *poolMetrics
	detect *mariaDBDetector // nil: the system is known
}

// Connect is below otelsql's CONNECT span: the version query of detect
// is not traced.
func (c *closingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err == nil && c.detect != nil {
		c.detect.detect(ctx, conn)
	}
	return conn, err
}

// mariaDBDetector tells MariaDB from MySQL, which speak one protocol
// through one driver, by the server's version ("10.11.6-MariaDB-..."): the
// MySQL driver keeps the handshake's version to itself, so the first
// connection that answers SELECT VERSION() is asked, once. Until then (the
// first CONNECT span included) the system is reported as mysql.
type mariaDBDetector struct {
	done      atomic.Bool
	onMariaDB func()
}

func (d *mariaDBDetector) detect(ctx context.Context, conn driver.Conn) {
	if d.done.Load() {
		return
	}
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		d.done.Store(true)
		return
	}
	rows, err := q.QueryContext(ctx, "SELECT VERSION()", nil)
	if err != nil {
		return // the next connection asks again
	}
	defer func() { _ = rows.Close() }()
	v := make([]driver.Value, 1)
	if rows.Next(v) != nil {
		return
	}
	var version string
	switch s := v[0].(type) {
	case []byte:
		version = string(s)
	case string:
		version = s
	}
	if d.done.Swap(true) {
		return
	}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		d.onMariaDB()
	}
}

func (c *closingConnector) Close() error {
	err := c.pool.unregister()
	if closer, ok := c.Connector.(io.Closer); ok {
		err = errors.Join(err, closer.Close())
	}
	return err
}

// dsnConnector is the connector of drivers that only implement Open.
type dsnConnector struct {
	dsn    string
	driver driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.driver.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.driver }

// instrumentation holds what otelsql's callbacks need.
type instrumentation struct {
	dialect  dialect
	rawQuery bool
	// system is db.system.name, set at start and changed at most once, when
	// the server turns out to be MariaDB; the attribute getters add it,
	// since otelsql's own attributes are fixed when the DB opens.
	system atomic.Pointer[attribute.KeyValue]
	// described caches what a query text says: applications send the same
	// few statements over and over, and otelsql asks for the span name,
	// span attributes and metric attributes of each call separately.
	described *lru.Cache[string, *described]
}

// described is the outcome of describe for one query text.
type described struct {
	op, summary string
	st          statement
	text        string // db.query.text: sanitised unless raw
}

// describedCacheSize bounds the cache; queries with inline literals are all
// different and would otherwise grow it without end.
const describedCacheSize = 1024

func newInstrumentation(cfg *config, d dialect) *instrumentation {
	c, _ := lru.New[string, *described](describedCacheSize) // fails only for size <= 0
	in := &instrumentation{dialect: d, rawQuery: cfg.rawQuery, described: c}
	in.setSystem(cfg.system)
	return in
}

func (in *instrumentation) setSystem(kv attribute.KeyValue) { in.system.Store(&kv) }

func (in *instrumentation) systemAttr() attribute.KeyValue { return *in.system.Load() }

func (in *instrumentation) systemName() string { return in.systemAttr().Value.AsString() }

// statementOf describes a statement-bearing call, through the cache.
func (in *instrumentation) statementOf(query string) *described {
	if d, ok := in.described.Get(query); ok {
		return d
	}
	st := parseStatement(query, in.dialect)
	d := &described{op: st.operation, summary: st.summary(), st: st, text: query}
	if !in.rawQuery {
		d.text = sanitize(query, in.dialect)
	}
	in.described.Add(query, d)
	return d
}

func (in *instrumentation) otelsqlOptions(cfg *config, t target) []otelsql.Option {
	spanOpts := otelsql.SpanOptions{
		DisableErrSkip:       true,
		DisableQuery:         true, // db.query.text comes sanitised from attributes below
		OmitConnResetSession: true,
		OmitRows:             cfg.noRowSpans,
		RowsChildOfQuery:     true,
	}
	if t.skipArgConnCalls {
		spanOpts.SpanFilter = func(_ context.Context, m otelsql.Method, _ string, args []driver.NamedValue) bool {
			return len(args) == 0 || (m != otelsql.MethodConnQuery && m != otelsql.MethodConnExec)
		}
	}
	opts := []otelsql.Option{
		otelsql.WithTracerProvider(scopedTracerProvider{tp: cfg.tracerProvider, redact: t.dialect == dialectMySQL}),
		otelsql.WithMeterProvider(scopedMeterProvider{mp: cfg.meterProvider}),
		otelsql.WithAttributes(cfg.commonAttributes()...),
		otelsql.WithSpanOptions(spanOpts),
		otelsql.WithSpanNameFormatter(in.spanName),
		otelsql.WithAttributesGetter(in.spanAttributes),
		otelsql.WithInstrumentAttributesGetter(in.metricAttributes),
		otelsql.WithSpanErrorAttributesGetter(errorAttributes),
		otelsql.WithInstrumentErrorAttributesGetter(statusCodeAttributes),
		otelsql.WithDisableSkipErrMeasurement(true),
	}
	if cfg.commenter {
		opts = append(opts, otelsql.WithSQLCommenter(true),
			otelsql.WithTextMapPropagator(observability.Propagator(cfg.propagator)))
	}
	return opts
}

// Operation names of the steps that have no statement text.
const (
	opBegin    = "BEGIN"
	opCommit   = "COMMIT"
	opRollback = "ROLLBACK"
	opPrepare  = "PREPARE"
	opFetch    = "FETCH"
	opConnect  = "CONNECT"
	opPing     = "PING"
	opReset    = "RESET"
)

// describe names one otelsql call: its operation, summary (the span name)
// and statement.
func (in *instrumentation) describe(method otelsql.Method, query string) (op, summary string, st statement) {
	switch method {
	case otelsql.MethodConnQuery, otelsql.MethodConnExec, otelsql.MethodStmtQuery, otelsql.MethodStmtExec:
		d := in.statementOf(query)
		op, summary, st = d.op, d.summary, d.st
	case otelsql.MethodConnPrepare:
		d := in.statementOf(query)
		op, summary, st = opPrepare, opPrepare, d.st
		if d.summary != "" {
			summary += " " + d.summary
		}
	case otelsql.MethodConnBeginTx:
		op = opBegin
	case otelsql.MethodTxCommit:
		op = opCommit
	case otelsql.MethodTxRollback:
		op = opRollback
	case otelsql.MethodRows:
		op = opFetch
	case otelsql.MethodConnectorConnect:
		op = opConnect
	case otelsql.MethodConnPing:
		op = opPing
	case otelsql.MethodConnResetSession:
		op = opReset
	default:
		op = string(method)
	}
	if summary == "" {
		summary = op
	}
	if summary == "" {
		summary = in.systemName()
	}
	return op, summary, st
}

func (in *instrumentation) spanName(_ context.Context, method otelsql.Method, query string) string {
	_, summary, _ := in.describe(method, query)
	return summary
}

func (in *instrumentation) spanAttributes(_ context.Context, method otelsql.Method, query string, _ []driver.NamedValue) []attribute.KeyValue {
	op, summary, st := in.describe(method, query)
	sys := in.systemAttr()
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, sys)
	if op != "" {
		attrs = append(attrs, semconv.DBOperationName(op))
	}
	if summary != "" && summary != sys.Value.AsString() {
		attrs = append(attrs, semconv.DBQuerySummary(summary))
	}
	if st.collection != "" {
		attrs = append(attrs, semconv.DBCollectionName(st.collection))
	}
	if query != "" {
		attrs = append(attrs, semconv.DBQueryText(in.statementOf(query).text))
	}
	return attrs
}

// operationKey carries the operation name from metricAttributes to the
// duration histogram, because otelsql appends its own method name as
// db.operation.name after the getter's attributes (see operationHistogram).
const operationKey = attribute.Key("patron.internal.db.operation.name")

func (in *instrumentation) metricAttributes(_ context.Context, method otelsql.Method, query string, _ []driver.NamedValue) []attribute.KeyValue {
	op, summary, st := in.describe(method, query)
	sys := in.systemAttr()
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, sys, operationKey.String(op))
	if summary != "" && summary != sys.Value.AsString() {
		attrs = append(attrs, semconv.DBQuerySummary(summary))
	}
	if st.collection != "" {
		attrs = append(attrs, semconv.DBCollectionName(st.collection))
	}
	return attrs
}

// errorAttributes adds error.type (as on the duration metric) and the
// database's status code to a failed span.
func errorAttributes(err error) []attribute.KeyValue {
	return append(statusCodeAttributes(err), semconv.ErrorTypeKey.String(errorType(err)))
}

// statusCodeAttributes reads db.response.status_code: the SQLSTATE for
// PostgreSQL, the error number for MySQL.
func statusCodeAttributes(err error) []attribute.KeyValue {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return []attribute.KeyValue{semconv.DBResponseStatusCode(pgErr.Code)}
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return []attribute.KeyValue{semconv.DBResponseStatusCode(strconv.Itoa(int(myErr.Number)))}
	}
	return nil
}

// errorType names err's class the way otelsql names it on the duration
// metric, so that spans and metrics can be joined on error.type.
func errorType(err error) string {
	switch {
	case errors.Is(err, driver.ErrBadConn):
		return "database/sql/driver.ErrBadConn"
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	case errors.Is(err, context.Canceled):
		return "context.Canceled"
	}
	return fmt.Sprintf("%T", err)
}

// scopedTracerProvider gives otelsql Patron's tracer, so that its spans
// carry Patron's instrumentation scope and semconv schema.
type scopedTracerProvider struct {
	trace.TracerProvider // nil: only to satisfy the interface's embedded type
	tp                   trace.TracerProvider
	redact               bool
}

func (p scopedTracerProvider) Tracer(string, ...trace.TracerOption) trace.Tracer {
	t := observability.Tracer(p.tp, scope)
	if p.redact {
		return redactingTracer{Tracer: t}
	}
	return t
}

// redactingTracer hands out spans that sanitise MySQL error messages before
// recording them: MySQL quotes values into its messages ("Duplicate entry
// 'alice@example.com' for key 'email'"), and those must not reach spans.
type redactingTracer struct{ trace.Tracer }

func (t redactingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	ctx, span := t.Tracer.Start(ctx, name, opts...)
	if !span.IsRecording() {
		return ctx, span
	}
	return ctx, redactingSpan{Span: span}
}

type redactingSpan struct{ trace.Span }

func (s redactingSpan) RecordError(err error, opts ...trace.EventOption) {
	s.Span.RecordError(redactMySQLError(err), opts...)
}

// redactMySQLError returns err with the values in a MySQL server error
// message replaced by ?; other errors are returned as they are.
func redactMySQLError(err error) error {
	var myErr *mysql.MySQLError
	if !errors.As(err, &myErr) {
		return err
	}
	redacted := *myErr
	redacted.Message = SanitizeMySQL(myErr.Message)
	return &redacted
}

// scopedMeterProvider gives otelsql Patron's meter, whose duration
// histogram reports the statement's operation as db.operation.name.
type scopedMeterProvider struct {
	metric.MeterProvider
	mp metric.MeterProvider
}

func (p scopedMeterProvider) Meter(string, ...metric.MeterOption) metric.Meter {
	return operationMeter{Meter: observability.Meter(p.mp, scope)}
}

type operationMeter struct{ metric.Meter }

func (m operationMeter) Float64Histogram(name string, opts ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	h, err := m.Meter.Float64Histogram(name, opts...)
	if err != nil || name != (dbconv.ClientOperationDuration{}).Name() {
		return h, err
	}
	return operationHistogram{Float64Histogram: h}, nil
}

// operationHistogram replaces otelsql's db.operation.name (its method, such
// as sql.conn.query) with the operation that metricAttributes put under
// operationKey (such as SELECT).
type operationHistogram struct{ metric.Float64Histogram }

var attrPool = sync.Pool{New: func() any { s := make([]attribute.KeyValue, 0, 12); return &s }}

func (h operationHistogram) Record(ctx context.Context, v float64, opts ...metric.RecordOption) {
	set := metric.NewRecordConfig(opts).Attributes()
	op, ok := set.Value(operationKey)
	if !ok {
		h.Float64Histogram.Record(ctx, v, opts...)
		return
	}
	if op.AsString() == opReset {
		// database/sql resets a session on every checkout from the pool:
		// bookkeeping, not an operation the application asked for.
		return
	}
	p := attrPool.Get().(*[]attribute.KeyValue)
	kvs := (*p)[:0]
	for it := set.Iter(); it.Next(); {
		kv := it.Attribute()
		switch kv.Key {
		case operationKey:
		case semconv.DBOperationNameKey:
			if s := op.AsString(); s != "" {
				kvs = append(kvs, semconv.DBOperationName(s))
			}
		default:
			kvs = append(kvs, kv)
		}
	}
	h.Float64Histogram.Record(ctx, v, metric.WithAttributes(kvs...))
	*p = kvs[:0]
	attrPool.Put(p)
}
