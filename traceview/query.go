package traceview

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Query selects traces. A trace matches when one of its spans matches every
// given criterion at once, as in Jaeger: that span is of Service, named
// Operation, carries all Tags (span attributes, resource attributes, or the
// derived span.kind, error, otel.status_code, otel.status_description and
// otel.scope.name tags), lasts between MinDuration and MaxDuration, and
// starts between Start and End. Zero values mean "any".
type Query struct {
	Service     string
	Operation   string
	Tags        map[string]string
	Start, End  time.Time
	MinDuration time.Duration
	MaxDuration time.Duration
	// Limit is the most traces to return: DefaultQueryLimit when 0, at most
	// MaxQueryLimit.
	Limit int
}

// ErrInvalidQuery is wrapped by the errors FindTraces returns for queries
// that cannot match anything by construction.
var ErrInvalidQuery = errors.New("traceview: invalid query")

type matcher struct {
	Query
	start, end int64
	minDur     int64
	maxDur     int64
}

// FindTraces returns the traces that match q, the most recently received
// first, as Jaeger JSON model values.
func (s *Store) FindTraces(q Query) ([]Trace, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("%w: negative limit %d", ErrInvalidQuery, q.Limit)
	}
	if q.MinDuration < 0 || q.MaxDuration < 0 || (q.MaxDuration > 0 && q.MinDuration > q.MaxDuration) {
		return nil, fmt.Errorf("%w: duration range %v..%v", ErrInvalidQuery, q.MinDuration, q.MaxDuration)
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return nil, fmt.Errorf("%w: end %v before start %v", ErrInvalidQuery, q.End, q.Start)
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultQueryLimit
	}
	limit = min(limit, MaxQueryLimit)
	m := matcher{Query: q, start: minInt64, end: maxInt64, minDur: int64(q.MinDuration), maxDur: maxInt64}
	if !q.Start.IsZero() {
		m.start = q.Start.UnixNano()
	}
	if !q.End.IsZero() {
		m.end = q.End.UnixNano()
	}
	if q.MaxDuration > 0 {
		m.maxDur = int64(q.MaxDuration)
	}

	found := s.find(&m, limit)
	out := make([]Trace, len(found))
	for i, f := range found {
		out[i] = toJaegerTrace(f.id, f.spans)
	}
	slices.SortStableFunc(out, func(a, b Trace) int { return cmp.Compare(traceStart(b), traceStart(a)) })
	return out, nil
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)

func traceStart(t Trace) int64 {
	if len(t.Spans) == 0 {
		return 0
	}
	st := t.Spans[0].StartTime
	for _, sp := range t.Spans[1:] {
		st = min(st, sp.StartTime)
	}
	return st
}

// snapshot is a trace's spans as of a read: the slice header was copied under
// the read lock, and the spans it covers are immutable.
type snapshot struct {
	id    traceID
	spans []*span
}

func (s *Store) find(m *matcher, limit int) []snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()

	// Pick the shortest posting list among the criteria that have one.
	var best *posting
	consider := func(p *posting) {
		if best == nil || p.size() < best.size() {
			best = p
		}
	}
	if m.Service != "" {
		svc := s.services[m.Service]
		if svc == nil {
			return nil
		}
		consider(&svc.post)
		if m.Operation != "" {
			op := s.ops[opKey{m.Service, m.Operation}]
			if op == nil {
				return nil
			}
			consider(op)
		}
	}
	for k, v := range m.Tags {
		consider(&s.tags[s.tagHash(k, []byte(v))])
	}

	var out []snapshot
	check := func(t *storedTrace) bool {
		if t == nil || t.maxDur < m.minDur || t.maxEnd < m.start || t.minStart > m.end {
			return false
		}
		for _, sp := range t.spans {
			if s.spanMatches(m, sp) {
				out = append(out, snapshot{id: t.id, spans: t.spans[:len(t.spans):len(t.spans)]})
				return len(out) >= limit
			}
		}
		return false
	}
	if best == nil {
		for i := len(s.order) - 1; i >= 0; i-- {
			if check(s.order[i]) {
				break
			}
		}
		return out
	}
	seen := make(map[uint64]struct{})
	for i := len(best.seqs) - 1; i >= best.head; i-- {
		seq := best.seqs[i]
		if seq < s.base {
			continue
		}
		if _, dup := seen[seq]; dup {
			continue
		}
		seen[seq] = struct{}{}
		if check(s.traceBySeq(seq)) {
			break
		}
	}
	return out
}

func (s *Store) spanMatches(m *matcher, sp *span) bool {
	if m.Service != "" && sp.res.service != m.Service {
		return false
	}
	if m.Operation != "" && sp.name != m.Operation {
		return false
	}
	if d := sp.duration(); d < m.minDur || d > m.maxDur {
		return false
	}
	if sp.start < m.start || sp.start > m.end {
		return false
	}
	if len(m.Tags) == 0 {
		return true
	}
	var synth [8]attr
	syn := sp.syntheticAttrs(synth[:0])
	for k, v := range m.Tags {
		if !hasTag(sp.attrs, k, v) && !hasTag(sp.res.attrs, k, v) && !hasTag(syn, k, v) {
			return false
		}
	}
	return true
}

func hasTag(attrs []attr, k, v string) bool {
	for _, a := range attrs {
		if a.key == k && a.valueEquals(v) {
			return true
		}
	}
	return false
}

// Trace returns the trace with the given hex ID (32 hex digits, or fewer for
// Jaeger's 64-bit IDs).
func (s *Store) Trace(id string) (Trace, bool) {
	tid, ok := parseTraceID(id)
	if !ok {
		return Trace{}, false
	}
	s.mu.RLock()
	t := s.traces[tid]
	var spans []*span
	if t != nil {
		spans = t.spans[:len(t.spans):len(t.spans)]
	}
	s.mu.RUnlock()
	if t == nil {
		return Trace{}, false
	}
	return toJaegerTrace(tid, spans), true
}

// Services returns the names of the services with stored spans, sorted.
func (s *Store) Services() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.services))
}

// Operations returns the span names of a service with their kinds, sorted.
// A non-empty spanKind (server, client, producer, consumer, internal) keeps
// only operations of that kind.
func (s *Store) Operations(service, spanKind string) []Operation {
	s.mu.RLock()
	svc := s.services[service]
	var out []Operation
	if svc != nil {
		out = make([]Operation, 0, len(svc.ops))
		for o := range svc.ops {
			if spanKind == "" || o.SpanKind == spanKind {
				out = append(out, o)
			}
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Operation) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.SpanKind, b.SpanKind))
	})
	return out
}

// Dependencies returns the calls between services seen in spans that start
// within [end-lookback, end]: one edge per parent/child span pair whose
// services differ, counted. A zero end means now; a zero lookback means all
// stored spans.
func (s *Store) Dependencies(end time.Time, lookback time.Duration) []Dependency {
	hi, lo := int64(maxInt64), int64(minInt64)
	if !end.IsZero() {
		hi = end.UnixNano()
	}
	if lookback > 0 {
		if end.IsZero() {
			end = time.Now()
			hi = end.UnixNano()
		}
		lo = end.Add(-lookback).UnixNano()
	}
	type edge struct{ parent, child string }
	counts := make(map[edge]uint64)
	byID := make(map[spanID]string)

	s.mu.RLock()
	for _, t := range s.order {
		if t.maxEnd < lo || t.minStart > hi {
			continue
		}
		clear(byID)
		for _, sp := range t.spans {
			byID[sp.spanID] = sp.res.service
		}
		for _, sp := range t.spans {
			if sp.parentID.isZero() || sp.start < lo || sp.start > hi {
				continue
			}
			if parent, ok := byID[sp.parentID]; ok && parent != sp.res.service {
				counts[edge{parent, sp.res.service}]++
			}
		}
	}
	s.mu.RUnlock()

	out := make([]Dependency, 0, len(counts))
	for e, n := range counts {
		out = append(out, Dependency{Parent: e.parent, Child: e.child, CallCount: n})
	}
	slices.SortFunc(out, func(a, b Dependency) int {
		return cmp.Or(cmp.Compare(a.Parent, b.Parent), cmp.Compare(a.Child, b.Child))
	})
	return out
}
