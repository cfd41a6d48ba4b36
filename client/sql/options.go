package sql

import (
	"errors"
	"log/slog"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Option configures Open, OpenDB and NewPgxTracer.
type Option func(*config) error

type config struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	propagator     propagation.TextMapPropagator
	logger         *slog.Logger

	rawQuery   bool
	commenter  bool
	noRowSpans bool

	system    attribute.KeyValue
	detect    bool // system not given: tell MariaDB from MySQL on connect
	namespace string
	host      string
	port      int
	poolName  string
	attrs     []attribute.KeyValue
}

func newConfig(opts []Option) (*config, error) {
	c := &config{}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("sql: nil option")
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c, nil
}

// WithTracerProvider sets the provider of the spans; the default is the
// OpenTelemetry global one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("sql: nil tracer provider")
		}
		c.tracerProvider = tp
		return nil
	}
}

// WithMeterProvider sets the provider of the operation duration and
// connection pool metrics; the default is the OpenTelemetry global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("sql: nil meter provider")
		}
		c.meterProvider = mp
		return nil
	}
}

// WithPropagator sets the propagator used by WithSQLCommenter; the default
// is the OpenTelemetry global one.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("sql: nil propagator")
		}
		c.propagator = p
		return nil
	}
}

// WithLogger sets the logger for the rare problems the instrumentation
// itself meets (a metric that cannot be unregistered); the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("sql: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithRawQueryText puts query text on spans as the application wrote it.
// By default literals are replaced by ? (see Sanitize), because queries that
// are not parameterised carry user data; only use this when every query
// passes values as parameters.
func WithRawQueryText() Option {
	return func(c *config) error {
		c.rawQuery = true
		return nil
	}
}

// WithSQLCommenter appends the trace context to each statement as an SQL
// comment (sqlcommenter format), so that database-side logs can be joined to
// traces. It is off by default: it makes every statement text unique, which
// defeats server-side statement caches keyed by text.
func WithSQLCommenter() Option {
	return func(c *config) error {
		c.commenter = true
		return nil
	}
}

// WithoutRowSpans stops creating a FETCH span for each result set's
// iteration; queries are still traced.
func WithoutRowSpans() Option {
	return func(c *config) error {
		c.noRowSpans = true
		return nil
	}
}

// WithSystem overrides the db.system.name detected from the driver (and,
// for the MySQL driver, from the server's version, which tells MariaDB from
// MySQL on the first connection; until then spans say mysql). It must be a
// db.system.name attribute.
func WithSystem(system attribute.KeyValue) Option {
	return func(c *config) error {
		if system.Key != semconv.DBSystemNameKey || system.Value.AsString() == "" {
			return errors.New("sql: WithSystem wants a db.system.name attribute, such as semconv.DBSystemNameMariaDB")
		}
		c.system = system
		return nil
	}
}

// WithNamespace sets db.namespace (the database name) when it cannot be read
// from the DSN, as with OpenDB.
func WithNamespace(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("sql: empty namespace")
		}
		c.namespace = name
		return nil
	}
}

// WithServer sets server.address and server.port when they cannot be read
// from the DSN, as with OpenDB. A port of 0 leaves server.port out.
func WithServer(address string, port int) Option {
	return func(c *config) error {
		if address == "" || port < 0 || port > 65535 {
			return errors.New("sql: WithServer wants an address and a port in 0..65535")
		}
		c.host, c.port = address, port
		return nil
	}
}

// WithPoolName sets db.client.connection.pool.name on the pool metrics;
// the default is "address:port/namespace".
func WithPoolName(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("sql: empty pool name")
		}
		c.poolName = name
		return nil
	}
}

// WithAttributes adds attributes to every span and measurement. Keep them
// low-cardinality: they become metric dimensions.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *config) error {
		for _, a := range attrs {
			if !a.Valid() {
				return errors.New("sql: invalid attribute")
			}
		}
		c.attrs = append(c.attrs, attrs...)
		return nil
	}
}

// commonAttributes are on every span and measurement, besides
// db.system.name (which the server's version may still change: see
// detectMariaDB).
func (c *config) commonAttributes() []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 3+len(c.attrs))
	if c.namespace != "" {
		attrs = append(attrs, semconv.DBNamespace(c.namespace))
	}
	if c.host != "" {
		attrs = append(attrs, semconv.ServerAddress(c.host))
		if c.port > 0 {
			attrs = append(attrs, semconv.ServerPort(c.port))
		}
	}
	return append(attrs, c.attrs...)
}
