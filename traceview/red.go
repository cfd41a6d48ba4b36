package traceview

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"
)

// RED metrics (rate, errors, duration) computed from the stored spans, for
// the Monitor page and Jaeger's monitor API (/api/metrics/calls, errors and
// latencies), which Jaeger answers from a Prometheus fed by the
// collector's spanmetrics connector. Here the span store keeps the
// aggregate itself: per service, operation and span kind, a count of calls
// and errors and a latency histogram per 5-second bucket of span start
// times, updated as spans are stored and evicted. A query then reads a few
// hundred buckets per series instead of every span, however many the store
// holds.

// REDBucket is the time resolution of the RED index, and the smallest step
// a RED query resolves.
const REDBucket = 5 * time.Second

const redBucketNanos = int64(REDBucket)

type redKey struct {
	service, op string
	kind        uint8
}

type redSeries struct {
	buckets map[int64]*redBucket
}

type redBucket struct {
	calls, errors uint32
	cells         []latCell // sparse latency histogram, sorted by idx
}

// latCell counts spans whose duration falls in one quarter of a power of
// two of nanoseconds (see latIdx): about ±12% around the cell's middle.
type latCell struct {
	idx uint16
	n   uint32
}

// latIdx is the histogram cell of a duration: 0 for none, then four cells
// per doubling of nanoseconds (at most 252).
func latIdx(nanos int64) uint16 {
	if nanos <= 0 {
		return 0
	}
	ns := uint64(nanos)
	oct := bits.Len64(ns) - 1
	var frac uint64
	if oct >= 2 {
		frac = (ns >> (oct - 2)) & 3
	} else {
		frac = (ns << (2 - oct)) & 3
	}
	return uint16(oct*4) + uint16(frac) + 1
}

// latValue is the middle (geometric) of cell idx, in milliseconds.
func latValue(idx uint16) float64 {
	if idx == 0 {
		return 0
	}
	oct, frac := int(idx-1)/4, float64((idx-1)%4)
	lo := math.Ldexp(1+frac/4, oct) // nanoseconds
	hi := math.Ldexp(1+(frac+1)/4, oct)
	return math.Sqrt(lo*hi) / 1e6
}

func (s *Store) redAdd(sp *span) {
	k := redKey{sp.res.service, sp.name, sp.kind}
	se := s.red[k]
	if se == nil {
		se = &redSeries{buckets: make(map[int64]*redBucket)}
		s.red[k] = se
	}
	t := sp.start / redBucketNanos
	b := se.buckets[t]
	if b == nil {
		b = &redBucket{}
		se.buckets[t] = b
	}
	b.calls++
	if sp.status == statusError {
		b.errors++
	}
	idx := latIdx(sp.duration())
	i, found := slices.BinarySearchFunc(b.cells, idx, func(c latCell, idx uint16) int { return cmp.Compare(c.idx, idx) })
	if found {
		b.cells[i].n++
	} else {
		b.cells = slices.Insert(b.cells, i, latCell{idx: idx, n: 1})
	}
}

func (s *Store) redRemove(sp *span) {
	k := redKey{sp.res.service, sp.name, sp.kind}
	se := s.red[k]
	if se == nil {
		return
	}
	t := sp.start / redBucketNanos
	b := se.buckets[t]
	if b == nil {
		return
	}
	b.calls--
	if sp.status == statusError {
		b.errors--
	}
	idx := latIdx(sp.duration())
	if i, found := slices.BinarySearchFunc(b.cells, idx, func(c latCell, idx uint16) int { return cmp.Compare(c.idx, idx) }); found {
		if b.cells[i].n--; b.cells[i].n == 0 {
			b.cells = slices.Delete(b.cells, i, i+1)
		}
	}
	if b.calls == 0 {
		delete(se.buckets, t)
		if len(se.buckets) == 0 {
			delete(s.red, k)
		}
	}
}

// The metric families of Jaeger's monitor API.
const (
	REDCalls     = "calls"
	REDErrors    = "errors"
	REDLatencies = "latencies"
)

// REDQuery asks for one RED metric over time, as Jaeger's monitor API
// does. Each point at time t aggregates the spans that started in the
// RatePer before t, to REDBucket resolution.
type REDQuery struct {
	// Services to report; all services when empty.
	Services []string
	// SpanKinds (server, client, producer, consumer, internal) of the spans
	// counted; server and consumer when empty, the spans that receive work.
	SpanKinds []string
	// GroupByOperation gives one series per service and operation instead
	// of one per service.
	GroupByOperation bool
	// Quantile of the latencies, in (0, 1]; 0.95 when 0.
	Quantile float64
	// End of the range (now when zero), Lookback its length (1h when 0),
	// Step the distance of points (5s when 0; at least REDBucket), and
	// RatePer the window of each point (10m when 0), as in Jaeger.
	End      time.Time
	Lookback time.Duration
	Step     time.Duration
	RatePer  time.Duration
}

// MetricFamily is Jaeger's metrics model (api_v2/metrics) in its JSON form,
// as jaeger-query's /api/metrics endpoints return it.
type MetricFamily struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Help    string   `json:"help"`
	Metrics []Metric `json:"metrics"`
}

// Metric is one series of a MetricFamily.
type Metric struct {
	Labels       []Label       `json:"labels"`
	MetricPoints []MetricPoint `json:"metricPoints"`
}

// Label is a series label: service_name, and operation when grouped by it.
type Label struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// MetricPoint is a value at a time (RFC 3339, as protobuf's JSON writes a
// Timestamp).
type MetricPoint struct {
	GaugeValue GaugeValue `json:"gaugeValue"`
	Timestamp  string     `json:"timestamp"`
}

// GaugeValue holds a point's value.
type GaugeValue struct {
	DoubleValue float64 `json:"doubleValue"`
}

// maxREDPoints bounds the points of one series in a RED query.
const maxREDPoints = 11_000

func spanKindOf(name string) (uint8, bool) {
	switch strings.TrimPrefix(strings.ToLower(name), "span_kind_") {
	case "internal":
		return kindInternal, true
	case "server":
		return kindServer, true
	case "client":
		return kindClient, true
	case "producer":
		return kindProducer, true
	case "consumer":
		return kindConsumer, true
	case "unspecified":
		return kindUnspecified, true
	}
	return 0, false
}

// RED computes one of the RED metrics (REDCalls, REDErrors, REDLatencies)
// from the stored spans: calls per second, the fraction of calls that
// failed, or the latency quantile in milliseconds. Points where a series
// had no calls carry 0 calls, and no error rate or latency.
func (s *Store) RED(metric string, q REDQuery) (MetricFamily, error) {
	if q.Quantile == 0 {
		q.Quantile = 0.95
	}
	if q.Quantile < 0 || q.Quantile > 1 || math.IsNaN(q.Quantile) {
		return MetricFamily{}, fmt.Errorf("%w: quantile %v not in (0, 1]", ErrInvalidQuery, q.Quantile)
	}
	if q.End.IsZero() {
		q.End = time.Now()
	}
	if q.Lookback == 0 {
		q.Lookback = time.Hour
	}
	if q.Step == 0 {
		q.Step = 5 * time.Second
	}
	if q.RatePer == 0 {
		q.RatePer = 10 * time.Minute
	}
	if q.Lookback < 0 || q.Step < 0 || q.RatePer < 0 {
		return MetricFamily{}, fmt.Errorf("%w: negative duration", ErrInvalidQuery)
	}
	q.Step = max(q.Step, REDBucket)
	if q.Lookback/q.Step >= maxREDPoints {
		return MetricFamily{}, fmt.Errorf("%w: lookback %v at step %v is over %d points", ErrInvalidQuery, q.Lookback, q.Step, maxREDPoints)
	}
	fam := MetricFamily{Type: "GAUGE"}
	switch metric {
	case REDCalls:
		fam.Name, fam.Help = "service_call_rate", "calls/sec, grouped by service"
	case REDErrors:
		fam.Name, fam.Help = "service_error_rate", "error rate, computed as a fraction of errors/sec over calls/sec, grouped by service"
	case REDLatencies:
		fam.Name, fam.Help = "service_latencies", fmt.Sprintf("%.2fth quantile latency, grouped by service", q.Quantile)
	default:
		return MetricFamily{}, fmt.Errorf("%w: unknown metric %q", ErrInvalidQuery, metric)
	}
	if q.GroupByOperation {
		fam.Name = strings.Replace(fam.Name, "service", "service_operation", 1)
		fam.Help += " & operation"
	}
	kinds := map[uint8]bool{}
	for _, k := range q.SpanKinds {
		kind, ok := spanKindOf(k)
		if !ok {
			return MetricFamily{}, fmt.Errorf("%w: unknown span kind %q", ErrInvalidQuery, k)
		}
		kinds[kind] = true
	}
	if len(kinds) == 0 {
		kinds[kindServer], kinds[kindConsumer] = true, true
	}
	services := map[string]bool{}
	for _, svc := range q.Services {
		services[svc] = true
	}

	// Buckets from the start of the first point's window to the last point.
	winBuckets := max(1, int64(q.RatePer/REDBucket))
	start := q.End.Add(-q.Lookback).UnixNano()
	end := q.End.UnixNano()
	// A point at t reads the buckets that start before t.
	firstB := floorDiv(start-1, redBucketNanos) - winBuckets + 1
	lastB := floorDiv(end-1, redBucketNanos)
	nb := lastB - firstB + 1

	type group struct {
		labels []Label
		calls  []uint32
		errs   []uint32
		cells  [][]latCell
	}
	groups := map[redKey]*group{}
	s.mu.RLock()
	for k, se := range s.red {
		if !kinds[k.kind] || (len(services) > 0 && !services[k.service]) {
			continue
		}
		gk := redKey{service: k.service}
		if q.GroupByOperation {
			gk.op = k.op
		}
		var g *group
		for t, b := range se.buckets {
			if t < firstB || t > lastB {
				continue
			}
			if g == nil {
				if g = groups[gk]; g == nil {
					g = &group{labels: []Label{{Name: "service_name", Value: k.service}}, calls: make([]uint32, nb), errs: make([]uint32, nb)}
					if q.GroupByOperation {
						g.labels = append(g.labels, Label{Name: "operation", Value: k.op})
					}
					if metric == REDLatencies {
						g.cells = make([][]latCell, nb)
					}
					groups[gk] = g
				}
			}
			i := t - firstB
			g.calls[i] += b.calls
			g.errs[i] += b.errors
			if g.cells != nil {
				g.cells[i] = append(g.cells[i], b.cells...)
			}
		}
	}
	s.mu.RUnlock()

	winSeconds := float64(winBuckets) * REDBucket.Seconds()
	for _, g := range groups {
		m := Metric{Labels: g.labels, MetricPoints: []MetricPoint{}}
		var (
			calls, errs uint64
			hist        [256 + 1]uint64
			lo, hi      = int64(0), int64(-1) // window [lo, hi] in bucket indexes
		)
		for t := start; t <= end; t += int64(q.Step) {
			b := floorDiv(t-1, redBucketNanos) - firstB
			for hi < b {
				hi++
				calls += uint64(g.calls[hi])
				errs += uint64(g.errs[hi])
				if g.cells != nil {
					for _, c := range g.cells[hi] {
						hist[min(c.idx, 256)] += uint64(c.n)
					}
				}
			}
			for lo <= b-winBuckets {
				calls -= uint64(g.calls[lo])
				errs -= uint64(g.errs[lo])
				if g.cells != nil {
					for _, c := range g.cells[lo] {
						hist[min(c.idx, 256)] -= uint64(c.n)
					}
				}
				lo++
			}
			var v float64
			switch metric {
			case REDCalls:
				v = float64(calls) / winSeconds
			case REDErrors:
				if calls == 0 {
					continue
				}
				v = float64(errs) / float64(calls)
			case REDLatencies:
				if calls == 0 {
					continue
				}
				v = histQuantile(hist[:], calls, q.Quantile)
			}
			m.MetricPoints = append(m.MetricPoints, MetricPoint{
				GaugeValue: GaugeValue{DoubleValue: v},
				Timestamp:  time.Unix(0, t).UTC().Format(time.RFC3339Nano),
			})
		}
		fam.Metrics = append(fam.Metrics, m)
	}
	slices.SortFunc(fam.Metrics, func(a, b Metric) int {
		for i := range min(len(a.Labels), len(b.Labels)) {
			if c := cmp.Compare(a.Labels[i].Value, b.Labels[i].Value); c != 0 {
				return c
			}
		}
		return 0
	})
	if fam.Metrics == nil {
		fam.Metrics = []Metric{}
	}
	return fam, nil
}

func histQuantile(hist []uint64, total uint64, q float64) float64 {
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var cum uint64
	for i, n := range hist {
		cum += n
		if cum >= rank {
			return latValue(uint16(i))
		}
	}
	return latValue(uint16(len(hist) - 1))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
