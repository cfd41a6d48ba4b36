package sql

import (
	"context"
	stdsql "database/sql"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
)

// Pool metric names that the semantic conventions do not define: database/sql
// only exposes cumulative wait totals, not the per-wait durations of
// db.client.connection.wait_time.
const (
	metricWaitCount    = "db.sql.connection.wait.count"
	metricWaitDuration = "db.sql.connection.wait.duration"
	metricClosed       = "db.sql.connection.closed"
)

// poolMetrics observes sql.DB.Stats on each collection:
// db.client.connection.count (state idle or used), db.client.connection.max,
// and the cumulative wait count, wait time and closed connections.
type poolMetrics struct {
	meter                      metric.Meter
	count, max                 metric.Int64ObservableUpDownCounter
	waits, closed              metric.Int64ObservableCounter
	waitTime                   metric.Float64ObservableCounter
	pool, idle, used           metric.MeasurementOption
	closedIdle, closedIdleTime metric.MeasurementOption
	closedLifetime             metric.MeasurementOption
	base                       []attribute.KeyValue // without db.system.name
	mu                         sync.Mutex           // guards reg and the measurement options
	reg                        metric.Registration
}

func newPoolMetrics(m metric.Meter, cfg *config) (*poolMetrics, error) {
	p := &poolMetrics{meter: m}
	count, err := dbconv.NewClientConnectionCountObservable(m)
	if err != nil {
		return nil, fmt.Errorf("sql: pool metrics: %w", err)
	}
	maxConns, err := dbconv.NewClientConnectionMaxObservable(m)
	if err != nil {
		return nil, fmt.Errorf("sql: pool metrics: %w", err)
	}
	p.count, p.max = count.Inst(), maxConns.Inst()
	if p.waits, err = m.Int64ObservableCounter(metricWaitCount, metric.WithUnit("{wait}"),
		metric.WithDescription("Total number of times a connection was waited for.")); err != nil {
		return nil, fmt.Errorf("sql: pool metrics: %w", err)
	}
	if p.waitTime, err = m.Float64ObservableCounter(metricWaitDuration, metric.WithUnit("s"),
		metric.WithDescription("Total time blocked waiting for a connection.")); err != nil {
		return nil, fmt.Errorf("sql: pool metrics: %w", err)
	}
	if p.closed, err = m.Int64ObservableCounter(metricClosed, metric.WithUnit("{connection}"),
		metric.WithDescription("Total connections closed by the pool limits, by reason.")); err != nil {
		return nil, fmt.Errorf("sql: pool metrics: %w", err)
	}
	p.base = append(cfg.commonAttributes(), semconv.DBClientConnectionPoolName(cfg.poolName))
	p.setSystem(cfg.system)
	return p, nil
}

// setSystem builds the measurement options with system as db.system.name:
// at start, and again when the server turned out to be MariaDB.
func (p *poolMetrics) setSystem(system attribute.KeyValue) {
	with := func(extra ...attribute.KeyValue) metric.MeasurementOption {
		attrs := append(append([]attribute.KeyValue{system}, p.base...), extra...)
		return metric.WithAttributeSet(attribute.NewSet(attrs...))
	}
	reason := attribute.Key("db.sql.connection.close.reason")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pool, p.idle, p.used = with(), with(semconv.DBClientConnectionStateIdle), with(semconv.DBClientConnectionStateUsed)
	p.closedIdle, p.closedIdleTime, p.closedLifetime = with(reason.String("max_idle")), with(reason.String("max_idle_time")), with(reason.String("max_lifetime"))
}

func (p *poolMetrics) register(db *stdsql.DB) error {
	reg, err := p.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := db.Stats()
		p.mu.Lock()
		defer p.mu.Unlock()
		o.ObserveInt64(p.count, int64(s.Idle), p.idle)
		o.ObserveInt64(p.count, int64(s.InUse), p.used)
		o.ObserveInt64(p.max, int64(s.MaxOpenConnections), p.pool)
		o.ObserveInt64(p.waits, s.WaitCount, p.pool)
		o.ObserveFloat64(p.waitTime, s.WaitDuration.Seconds(), p.pool)
		o.ObserveInt64(p.closed, s.MaxIdleClosed, p.closedIdle)
		o.ObserveInt64(p.closed, s.MaxIdleTimeClosed, p.closedIdleTime)
		o.ObserveInt64(p.closed, s.MaxLifetimeClosed, p.closedLifetime)
		return nil
	}, p.count, p.max, p.waits, p.waitTime, p.closed)
	if err != nil {
		return fmt.Errorf("sql: pool metrics: %w", err)
	}
	p.mu.Lock()
	p.reg = reg
	p.mu.Unlock()
	return nil
}

// unregister stops observing; the DB is closing.
func (p *poolMetrics) unregister() error {
	p.mu.Lock()
	reg := p.reg
	p.reg = nil
	p.mu.Unlock()
	if reg == nil {
		return nil
	}
	if err := reg.Unregister(); err != nil {
		return fmt.Errorf("sql: pool metrics: %w", err)
	}
	return nil
}
