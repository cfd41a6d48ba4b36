package traceview

import (
	"math"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// redSpans returns n SERVER spans of one operation, one per trace, started
// a second apart from t0, lasting 1..n ms; every tenth fails.
func redSpans(service string, first, n int, t0 time.Time) []*tracepb.ResourceSpans {
	ss := &tracepb.ScopeSpans{}
	for i := range n {
		sp := &tracepb.Span{TraceId: tid(uint64(first + i)), SpanId: sid(uint64(first + i)), Name: "GET /x",
			Kind:              tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: uint64(t0.Add(time.Duration(i) * time.Second).UnixNano()),
			EndTimeUnixNano:   uint64(t0.Add(time.Duration(i)*time.Second + time.Duration(i+1)*time.Millisecond).UnixNano())}
		if i%10 == 9 {
			sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR}
		}
		ss.Spans = append(ss.Spans, sp)
	}
	return []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", service)}},
		ScopeSpans: []*tracepb.ScopeSpans{ss},
	}}
}

func lastValue(t *testing.T, fam MetricFamily) float64 {
	t.Helper()
	if len(fam.Metrics) != 1 || len(fam.Metrics[0].MetricPoints) == 0 {
		t.Fatalf("family %s: %+v", fam.Name, fam)
	}
	pts := fam.Metrics[0].MetricPoints
	return pts[len(pts)-1].GaugeValue.DoubleValue
}

func TestREDFromSpans(t *testing.T) {
	s := newTestStore(t, 1000)
	t0 := time.Unix(1_700_000_000, 0)
	s.Ingest(redSpans("api", 0, 100, t0))
	end := t0.Add(100 * time.Second)
	q := REDQuery{Services: []string{"api"}, End: end, Lookback: 100 * time.Second, Step: 100 * time.Second, RatePer: 100 * time.Second}

	calls, err := s.RED(REDCalls, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := lastValue(t, calls); math.Abs(got-1) > 1e-9 {
		t.Errorf("call rate = %v/s, want 1", got)
	}
	errs, _ := s.RED(REDErrors, q)
	if got := lastValue(t, errs); math.Abs(got-0.1) > 1e-9 {
		t.Errorf("error rate = %v, want 0.1", got)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 50}, {0.95, 95}, {0.99, 99}} {
		q.Quantile = c.q
		lat, _ := s.RED(REDLatencies, q)
		if got := lastValue(t, lat); math.Abs(got-c.want)/c.want > 0.12 {
			t.Errorf("p%v = %vms, want %vms ±12%%", c.q*100, got, c.want)
		}
	}
	// Client spans are not counted by default, and a kind filter finds
	// none of them here.
	q.SpanKinds = []string{"client"}
	if fam, _ := s.RED(REDCalls, q); len(fam.Metrics) != 0 {
		t.Errorf("client calls: %+v", fam)
	}
	for _, bad := range []REDQuery{{Quantile: 1.5}, {Step: time.Millisecond, Lookback: 24 * time.Hour * 365}, {SpanKinds: []string{"sideways"}}} {
		if _, err := s.RED(REDLatencies, bad); err == nil {
			t.Errorf("RED accepted %+v", bad)
		}
	}
	if _, err := s.RED("saturation", REDQuery{}); err == nil {
		t.Error("RED accepted an unknown metric")
	}
}

// Evicted spans leave the RED index: after the store evicts the first
// 100 spans, the window covering them is empty.
func TestREDFollowsEviction(t *testing.T) {
	s := newTestStore(t, 100)
	t0 := time.Unix(1_700_000_000, 0)
	s.Ingest(redSpans("api", 0, 100, t0))
	s.Ingest(redSpans("api", 100, 100, t0.Add(time.Hour)))
	q := REDQuery{End: t0.Add(100 * time.Second), Lookback: 100 * time.Second, Step: 100 * time.Second, RatePer: 100 * time.Second}
	fam, err := s.RED(REDCalls, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(fam.Metrics) != 0 {
		t.Errorf("evicted spans still counted: %+v", fam)
	}
	q.End = t0.Add(time.Hour + 100*time.Second)
	fam, _ = s.RED(REDCalls, q)
	if got := lastValue(t, fam); got != 1 {
		t.Errorf("call rate of the stored hour = %v, want 1", got)
	}
	total := 0
	for _, se := range s.red {
		for _, b := range se.buckets {
			total += int(b.calls)
		}
	}
	if total != s.SpanCount() {
		t.Errorf("RED index counts %d spans, store holds %d", total, s.SpanCount())
	}
}

func TestLatIdxMonotonic(t *testing.T) {
	prev := latIdx(0)
	for ns := int64(1); ns < int64(time.Hour); ns = ns*17/16 + 1 {
		idx := latIdx(ns)
		if idx < prev {
			t.Fatalf("latIdx(%d) = %d < %d", ns, idx, prev)
		}
		if ns >= 1000 {
			if v := latValue(idx) * 1e6; math.Abs(v-float64(ns))/float64(ns) > 0.13 {
				t.Fatalf("latValue(latIdx(%dns)) = %vns", ns, v)
			}
		}
		prev = idx
	}
}

func logRequest(service string, first, n int, traceOf func(i int) uint64) []*logspb.ResourceLogs {
	sl := &logspb.ScopeLogs{}
	for i := range n {
		r := &logspb.LogRecord{TimeUnixNano: uint64(1_700_000_000_000_000_000 + (first+i)*1000),
			SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
			Body:           &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "record"}}}
		if tr := traceOf(first + i); tr != 0 {
			r.TraceId, r.SpanId = tid(tr), sid(uint64(first+i))
		}
		sl.LogRecords = append(sl.LogRecords, r)
	}
	return []*logspb.ResourceLogs{{
		Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", service)}},
		ScopeLogs: []*logspb.ScopeLogs{sl},
	}}
}

func TestLogStoreBounded(t *testing.T) {
	s, err := NewLogStore(100)
	if err != nil {
		t.Fatal(err)
	}
	byTen := func(i int) uint64 { return uint64(i/10 + 1) } // ten records per trace
	for i := 0; i < 1000; i += 50 {
		s.Ingest(logRequest("api", i, 50, byTen))
	}
	if s.Len() != 100 {
		t.Fatalf("store holds %d records, want 100", s.Len())
	}
	if got := s.TraceLogs(hexTID(1)); len(got) != 0 {
		t.Errorf("evicted trace still has %d records", len(got))
	}
	if got := s.TraceLogs(hexTID(100)); len(got) != 10 {
		t.Errorf("last trace has %d records, want 10", len(got))
	}
	if len(s.byTrace) != 10 {
		t.Errorf("trace index holds %d traces, want 10", len(s.byTrace))
	}
	if got := s.LogServices(); len(got) != 1 || got[0] != "api" {
		t.Errorf("services %v", got)
	}

	big, err := NewLogStore(1000, WithLogStoreMaxBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	rl := logRequest("api", 0, 1, func(int) uint64 { return 0 })
	rl[0].ScopeLogs[0].LogRecords[0].Body = &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: string(make([]byte, 64<<10))}}
	for range 100 {
		big.Ingest(rl)
	}
	if big.Bytes() > 1<<20 || big.Len() > 16 {
		t.Errorf("64 KB records: %d bytes in %d records, bound 1 MiB", big.Bytes(), big.Len())
	}
	if _, err := NewLogStore(0); err == nil {
		t.Error("NewLogStore(0) succeeded")
	}
	if _, err := NewLogStore(1, nil); err == nil {
		t.Error("NewLogStore accepted a nil option")
	}
}

func TestMetricStoreBounded(t *testing.T) {
	s, err := NewMetricStore(10)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		s.Ingest(sampleMetrics().GetResourceMetrics())
	}
	if s.Len() != 10 {
		t.Errorf("store holds %d points, want 10", s.Len())
	}
	insts := s.Instruments(InstrumentQuery{Service: "fuzz"})
	points := 0
	for _, in := range insts {
		for _, se := range in.Series {
			points += len(se.Points)
		}
	}
	if points != 10 {
		t.Errorf("instruments list %d points, want 10", points)
	}
	var exp Instrument
	for _, in := range insts {
		if in.Type == InstrumentExponentialHistogram {
			exp = in
		}
	}
	if len(exp.Series) != 1 {
		t.Fatalf("exponential histogram missing: %+v", insts)
	}
	p := exp.Series[0].Points[0]
	if len(p.Counts) != len(p.Bounds)+1 {
		t.Errorf("exponential histogram as buckets: bounds %v, counts %v", p.Bounds, p.Counts)
	}
}
