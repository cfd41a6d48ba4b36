package traceview

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"unsafe"

	"github.com/patron-go/patron/internal/option"

	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

const (
	// DefaultMaxMetricPoints is the metric store's capacity in data points
	// when no other is given: a service exporting 50 series every 10 s
	// fills it in about 11 hours.
	DefaultMaxMetricPoints = 200_000

	// DefaultMaxMetricBytes bounds the memory of the stored data points.
	DefaultMaxMetricBytes = 64 << 20

	// DefaultPointsPerSeries is how many of a series' latest points the
	// instruments API returns unless asked otherwise.
	DefaultPointsPerSeries = 120
)

// Instrument types, as the API names them.
const (
	InstrumentSum                  = "sum"
	InstrumentGauge                = "gauge"
	InstrumentHistogram            = "histogram"
	InstrumentExponentialHistogram = "exponential_histogram"
	InstrumentSummary              = "summary"
)

type instrumentKey struct {
	service, scope, name, typ string
}

type instrument struct {
	key         instrumentKey
	description string
	unit        string
	monotonic   bool
	temporality string
	series      map[string]*series
}

type series struct {
	inst   *instrument
	key    string
	attrs  []attr
	points []*point // ascending arrival
}

type exemplar struct {
	time    int64
	value   float64
	traceID traceID
	spanID  spanID
	attrs   []attr
}

type point struct {
	series *series
	start  int64
	time   int64
	value  float64 // sums and gauges; histograms and summaries carry sum
	count  uint64
	min    float64
	max    float64
	hasMin bool
	hasMax bool
	bounds []float64 // histogram upper bounds; exponential ones converted
	counts []uint64
	quants []Quantile
	exs    []exemplar
}

// Instrument is a received metric instrument of one service, with its
// series (one per attribute set) as the API returns it.
type Instrument struct {
	Service     string `json:"service"`
	Scope       string `json:"scope"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Unit        string `json:"unit"`
	// Type is sum, gauge, histogram, exponential_histogram or summary.
	Type        string   `json:"type"`
	Monotonic   bool     `json:"monotonic"`
	Temporality string   `json:"temporality"` // cumulative, delta or empty
	Series      []Series `json:"series"`
}

// Series is one attribute set of an instrument and its latest points.
type Series struct {
	Attributes []KeyValue `json:"attributes"`
	Points     []Point    `json:"points"`
}

// Point is one data point. Timestamps are microseconds since the epoch.
// Value is the number of a sum or gauge, and the sum of a histogram or
// summary. Histograms have Count, Bounds (upper bounds, the last bucket
// unbounded) and Counts; exponential histograms are given in the same form.
type Point struct {
	StartTimestamp int64      `json:"startTimestamp,omitempty"`
	Timestamp      int64      `json:"timestamp"`
	Value          float64    `json:"value"`
	Count          uint64     `json:"count,omitempty"`
	Min            *float64   `json:"min,omitempty"`
	Max            *float64   `json:"max,omitempty"`
	Bounds         []float64  `json:"bounds,omitempty"`
	Counts         []uint64   `json:"counts,omitempty"`
	Quantiles      []Quantile `json:"quantiles,omitempty"`
	Exemplars      []Exemplar `json:"exemplars,omitempty"`
}

// Quantile is a summary's value at a quantile.
type Quantile struct {
	Quantile float64 `json:"quantile"`
	Value    float64 `json:"value"`
}

// Exemplar is a measurement sampled with its trace: TraceID and SpanID link
// to the span it was recorded in.
type Exemplar struct {
	Timestamp  int64      `json:"timestamp"`
	Value      float64    `json:"value"`
	TraceID    string     `json:"traceID,omitempty"`
	SpanID     string     `json:"spanID,omitempty"`
	Attributes []KeyValue `json:"attributes"`
}

// MetricStore is a bounded, in-memory store of received metric data
// points, by service, instrument and attribute set. It evicts the oldest
// points (by arrival) beyond its maximum number of points or bytes. It is
// safe for concurrent use.
type MetricStore struct {
	maxPoints int
	maxBytes  int64
	in        *interner

	mu    sync.RWMutex
	insts map[instrumentKey]*instrument
	order []*point // all points by arrival, for eviction
	bytes int64
}

// MetricStoreOption configures a MetricStore.
type MetricStoreOption func(*MetricStore) error

// WithMetricStoreMaxBytes bounds the store by the estimated memory of its
// points (default DefaultMaxMetricBytes).
func WithMetricStoreMaxBytes(n int64) MetricStoreOption {
	return func(s *MetricStore) error {
		if n <= 0 {
			return fmt.Errorf("traceview: max metric bytes must be positive, got %d", n)
		}
		s.maxBytes = n
		return nil
	}
}

// NewMetricStore returns an empty store that keeps at most maxPoints data
// points.
func NewMetricStore(maxPoints int, opts ...MetricStoreOption) (*MetricStore, error) {
	if maxPoints <= 0 {
		return nil, fmt.Errorf("traceview: max metric points must be positive, got %d", maxPoints)
	}
	s := &MetricStore{maxPoints: maxPoints, maxBytes: DefaultMaxMetricBytes, in: newInterner(), insts: make(map[instrumentKey]*instrument)}
	if err := option.Apply("traceview", s, opts); err != nil {
		return nil, err
	}
	return s, nil
}

// Len returns the number of data points held now.
func (s *MetricStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.order)
}

// Bytes returns the estimated memory of the points held now.
func (s *MetricStore) Bytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bytes
}

const (
	pointStructBytes    = int64(unsafe.Sizeof(point{})) + 16
	exemplarStructBytes = int64(unsafe.Sizeof(exemplar{}))
)

func pointBytes(p *point) int64 {
	n := pointStructBytes + int64(len(p.bounds))*8 + int64(len(p.counts))*8 + int64(len(p.quants))*16
	for _, e := range p.exs {
		n += exemplarStructBytes + attrsBytes(e.attrs)
	}
	return n
}

func temporalityName(t metricspb.AggregationTemporality) string {
	switch t {
	case metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA:
		return "delta"
	case metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE:
		return "cumulative"
	default:
		return ""
	}
}

// pending is a converted point before it is placed in its series.
type pending struct {
	key   instrumentKey
	desc  string
	unit  string
	mono  bool
	temp  string
	attrs []attr
	p     *point
}

// Ingest adds the data points of OTLP resource metrics, and returns how
// many it took.
func (s *MetricStore) Ingest(rms []*metricspb.ResourceMetrics) int {
	var ps []pending
	in := s.in
	for _, rm := range rms {
		r := in.resource(rm.GetResource())
		for _, sm := range rm.GetScopeMetrics() {
			scope := in.str(sm.GetScope().GetName())
			for _, m := range sm.GetMetrics() {
				base := pending{key: instrumentKey{service: r.service, scope: scope, name: in.str(m.GetName())},
					desc: in.str(m.GetDescription()), unit: in.str(m.GetUnit())}
				add := func(typ string, attrs []attr, p *point) {
					pd := base
					pd.key.typ, pd.attrs, pd.p = typ, attrs, p
					ps = append(ps, pd)
				}
				switch {
				case m.GetSum() != nil:
					base.mono = m.GetSum().GetIsMonotonic()
					base.temp = temporalityName(m.GetSum().GetAggregationTemporality())
					for _, dp := range m.GetSum().GetDataPoints() {
						add(InstrumentSum, in.attrs(dp.GetAttributes(), nil), in.numberPoint(dp))
					}
				case m.GetGauge() != nil:
					for _, dp := range m.GetGauge().GetDataPoints() {
						add(InstrumentGauge, in.attrs(dp.GetAttributes(), nil), in.numberPoint(dp))
					}
				case m.GetHistogram() != nil:
					base.temp = temporalityName(m.GetHistogram().GetAggregationTemporality())
					for _, dp := range m.GetHistogram().GetDataPoints() {
						p := &point{start: clampNanos(dp.GetStartTimeUnixNano()), time: clampNanos(dp.GetTimeUnixNano()),
							value: dp.GetSum(), count: dp.GetCount(), min: dp.GetMin(), max: dp.GetMax(),
							hasMin: dp.Min != nil, hasMax: dp.Max != nil,
							bounds: slices.Clone(dp.GetExplicitBounds()), counts: slices.Clone(dp.GetBucketCounts())}
						p.exs = in.exemplars(dp.GetExemplars())
						add(InstrumentHistogram, in.attrs(dp.GetAttributes(), nil), p)
					}
				case m.GetExponentialHistogram() != nil:
					base.temp = temporalityName(m.GetExponentialHistogram().GetAggregationTemporality())
					for _, dp := range m.GetExponentialHistogram().GetDataPoints() {
						p := &point{start: clampNanos(dp.GetStartTimeUnixNano()), time: clampNanos(dp.GetTimeUnixNano()),
							value: dp.GetSum(), count: dp.GetCount(), min: dp.GetMin(), max: dp.GetMax(),
							hasMin: dp.Min != nil, hasMax: dp.Max != nil}
						p.bounds, p.counts = expBuckets(dp)
						p.exs = in.exemplars(dp.GetExemplars())
						add(InstrumentExponentialHistogram, in.attrs(dp.GetAttributes(), nil), p)
					}
				case m.GetSummary() != nil:
					for _, dp := range m.GetSummary().GetDataPoints() {
						p := &point{start: clampNanos(dp.GetStartTimeUnixNano()), time: clampNanos(dp.GetTimeUnixNano()),
							value: dp.GetSum(), count: dp.GetCount()}
						for _, q := range dp.GetQuantileValues() {
							p.quants = append(p.quants, Quantile{Quantile: q.GetQuantile(), Value: q.GetValue()})
						}
						add(InstrumentSummary, in.attrs(dp.GetAttributes(), nil), p)
					}
				}
			}
		}
	}
	s.add(ps)
	return len(ps)
}

func (in *interner) numberPoint(dp *metricspb.NumberDataPoint) *point {
	p := &point{start: clampNanos(dp.GetStartTimeUnixNano()), time: clampNanos(dp.GetTimeUnixNano())}
	switch v := dp.GetValue().(type) {
	case *metricspb.NumberDataPoint_AsDouble:
		p.value = v.AsDouble
	case *metricspb.NumberDataPoint_AsInt:
		p.value = float64(v.AsInt)
	}
	p.exs = in.exemplars(dp.GetExemplars())
	return p
}

func (in *interner) exemplars(exs []*metricspb.Exemplar) []exemplar {
	if len(exs) == 0 {
		return nil
	}
	out := make([]exemplar, len(exs))
	for i, e := range exs {
		x := &out[i]
		x.time = clampNanos(e.GetTimeUnixNano())
		switch v := e.GetValue().(type) {
		case *metricspb.Exemplar_AsDouble:
			x.value = v.AsDouble
		case *metricspb.Exemplar_AsInt:
			x.value = float64(v.AsInt)
		}
		if id := e.GetTraceId(); len(id) == 16 {
			copy(x.traceID[:], id)
		}
		if id := e.GetSpanId(); len(id) == 8 {
			copy(x.spanID[:], id)
		}
		x.attrs = in.attrs(e.GetFilteredAttributes(), nil)
	}
	return out
}

// maxExpBuckets bounds the buckets of one exponential histogram point the
// store converts, whatever offsets the sender claims.
const maxExpBuckets = 512

// expBuckets converts an exponential histogram's buckets into upper bounds
// and counts, the form of explicit histograms: negative buckets (largest
// magnitude first), the zero bucket, then positive ones.
func expBuckets(dp *metricspb.ExponentialHistogramDataPoint) ([]float64, []uint64) {
	base := math.Exp2(math.Exp2(-float64(min(max(dp.GetScale(), -10), 20))))
	var (
		bounds []float64
		counts []uint64
	)
	neg := dp.GetNegative().GetBucketCounts()
	neg = neg[:min(len(neg), maxExpBuckets)]
	off := float64(dp.GetNegative().GetOffset())
	for i := len(neg) - 1; i >= 0; i-- {
		// Bucket i covers (-base^(off+i+1), -base^(off+i)]: its upper bound
		// is -base^(off+i).
		bounds = append(bounds, -math.Pow(base, off+float64(i)))
		counts = append(counts, neg[i])
	}
	bounds = append(bounds, dp.GetZeroThreshold())
	counts = append(counts, dp.GetZeroCount())
	pos := dp.GetPositive().GetBucketCounts()
	pos = pos[:min(len(pos), maxExpBuckets)]
	off = float64(dp.GetPositive().GetOffset())
	for i := range pos {
		if i < len(pos)-1 {
			bounds = append(bounds, math.Pow(base, off+float64(i)+1))
		}
		counts = append(counts, pos[i])
	}
	if len(pos) == 0 {
		// The zero bucket's bound closes it; an empty unbounded bucket ends
		// the list as explicit histograms do.
		counts = append(counts, 0)
	}
	return bounds, counts
}

func (s *MetricStore) add(ps []pending) {
	if len(ps) == 0 {
		return
	}
	keys := make([]string, len(ps))
	sizes := make([]int64, len(ps))
	for i := range ps {
		keys[i] = attrsKey(ps[i].attrs)
		sizes[i] = pointBytes(ps[i].p) + attrsBytes(ps[i].attrs)/4 // attribute sets are shared by a series' points
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range ps {
		pd := &ps[i]
		inst := s.insts[pd.key]
		if inst == nil {
			inst = &instrument{key: pd.key, series: make(map[string]*series)}
			s.insts[pd.key] = inst
		}
		inst.description, inst.unit, inst.monotonic, inst.temporality = pd.desc, pd.unit, pd.mono, pd.temp
		se := inst.series[keys[i]]
		if se == nil {
			se = &series{inst: inst, key: keys[i], attrs: pd.attrs}
			inst.series[keys[i]] = se
		}
		pd.p.series = se
		se.points = append(se.points, pd.p)
		s.order = append(s.order, pd.p)
		s.bytes += sizes[i]
	}
	for (len(s.order) > s.maxPoints || s.bytes > s.maxBytes) && len(s.order) > 0 {
		s.evictOldest()
	}
}

func (s *MetricStore) evictOldest() {
	p := s.order[0]
	s.order[0] = nil
	s.order = s.order[1:]
	if cap(s.order) > 1024 && len(s.order) < cap(s.order)/4 {
		s.order = append(make([]*point, 0, len(s.order)*2), s.order...)
	}
	s.bytes -= pointBytes(p) + attrsBytes(p.series.attrs)/4
	se := p.series
	// The oldest point overall is the oldest of its series.
	se.points[0] = nil
	se.points = se.points[1:]
	if len(se.points) == 0 {
		delete(se.inst.series, se.key)
		if len(se.inst.series) == 0 {
			delete(s.insts, se.inst.key)
		}
	}
}

// attrsKey is a fingerprint of an attribute set, independent of order.
func attrsKey(attrs []attr) string {
	if len(attrs) == 0 {
		return ""
	}
	sorted := slices.Clone(attrs)
	slices.SortFunc(sorted, func(a, b attr) int { return cmp.Compare(a.key, b.key) })
	var buf []byte
	for _, a := range sorted {
		buf = append(buf, a.key...)
		buf = append(buf, 0, byte(a.typ))
		buf = a.appendValue(buf)
		buf = append(buf, 0)
	}
	return string(buf)
}

// InstrumentQuery selects instruments: of Service and named Name when set,
// with at most Points of each series' latest points (DefaultPointsPerSeries
// when 0).
type InstrumentQuery struct {
	Service string
	Name    string
	Points  int
}

// Instruments returns the received instruments that match q, sorted by
// service and name, with their series and latest points.
func (s *MetricStore) Instruments(q InstrumentQuery) []Instrument {
	n := q.Points
	if n <= 0 {
		n = DefaultPointsPerSeries
	}
	s.mu.RLock()
	var out []Instrument
	for k, inst := range s.insts {
		if (q.Service != "" && k.service != q.Service) || (q.Name != "" && k.name != q.Name) {
			continue
		}
		oi := Instrument{Service: k.service, Scope: k.scope, Name: k.name, Description: inst.description, Unit: inst.unit,
			Type: k.typ, Monotonic: inst.monotonic, Temporality: inst.temporality, Series: make([]Series, 0, len(inst.series))}
		for _, se := range inst.series {
			pts := se.points[max(0, len(se.points)-n):]
			os := Series{Attributes: toKeyValues(se.attrs), Points: make([]Point, len(pts))}
			for i, p := range pts {
				os.Points[i] = p.toAPI()
			}
			oi.Series = append(oi.Series, os)
		}
		slices.SortFunc(oi.Series, func(a, b Series) int { return cmp.Compare(seriesLabel(a), seriesLabel(b)) })
		out = append(out, oi)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Instrument) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.Type, b.Type))
	})
	return out
}

func seriesLabel(s Series) string {
	var b []byte
	for _, kv := range s.Attributes {
		b = fmt.Appendf(b, "%s=%v,", kv.Key, kv.Value)
	}
	return string(b)
}

// finite keeps a JSON response valid: encoding/json cannot write NaN or
// infinities, which OTLP allows.
func finite(f float64) float64 {
	switch {
	case math.IsNaN(f):
		return 0
	case math.IsInf(f, 1):
		return math.MaxFloat64
	case math.IsInf(f, -1):
		return -math.MaxFloat64
	}
	return f
}

func (p *point) toAPI() Point {
	out := Point{StartTimestamp: p.start / 1000, Timestamp: p.time / 1000, Value: finite(p.value), Count: p.count,
		Counts: p.counts, Quantiles: p.quants}
	if p.hasMin {
		m := finite(p.min)
		out.Min = &m
	}
	if p.hasMax {
		m := finite(p.max)
		out.Max = &m
	}
	if len(p.bounds) > 0 {
		out.Bounds = make([]float64, len(p.bounds))
		for i, b := range p.bounds {
			out.Bounds[i] = finite(b)
		}
	}
	if len(p.quants) > 0 {
		out.Quantiles = make([]Quantile, len(p.quants))
		for i, q := range p.quants {
			out.Quantiles[i] = Quantile{Quantile: finite(q.Quantile), Value: finite(q.Value)}
		}
	}
	for _, e := range p.exs {
		x := Exemplar{Timestamp: e.time / 1000, Value: finite(e.value), Attributes: toKeyValues(e.attrs)}
		if !e.traceID.isZero() {
			x.TraceID = e.traceID.String()
		}
		if !e.spanID.isZero() {
			x.SpanID = e.spanID.String()
		}
		out.Exemplars = append(out.Exemplars, x)
	}
	return out
}
