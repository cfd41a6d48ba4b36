package traceview

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

const (
	// DefaultMaxSpans is the store's capacity when no other is given: enough
	// for a long local debugging session, small enough (a few hundred MB at
	// most) for a laptop.
	DefaultMaxSpans = 200_000

	// DefaultQueryLimit is the number of traces a search returns when the
	// query does not say, as in jaeger-query.
	DefaultQueryLimit = 100

	// MaxQueryLimit caps a search so one request cannot build a response of
	// the whole store.
	MaxQueryLimit = 5000

	// tagBuckets is the size of the hashed tag index. Tags hash into a fixed
	// number of buckets instead of one posting list per distinct value, so
	// high-cardinality attributes (URLs, message IDs) cost 8 bytes per
	// occurrence and no map entry; a collision only adds candidates that the
	// exact span filter then rejects.
	tagBuckets = 1 << 15
)

// Store is a bounded, in-memory trace store. It assembles spans into traces
// whatever order and from whichever services they arrive, indexes them by
// service, operation and tag, and evicts the oldest traces (by first arrival)
// once it holds more than its maximum number of spans. It is safe for
// concurrent use.
type Store struct {
	maxSpans int
	in       *interner
	seed     maphash.Seed

	mu        sync.RWMutex
	spanCount int
	traces    map[traceID]*storedTrace
	// order holds live traces by sequence number: order[i] has sequence
	// base+i. Eviction pops from the front, so every index can refer to a
	// trace by sequence number and detect eviction by comparing with base.
	order    []*storedTrace
	base     uint64
	services map[string]*serviceIndex
	ops      map[opKey]*posting
	tags     []posting
	evicted  int // spans evicted since the last sweep of dead index entries
}

// storedTrace is an assembled trace. Its span slice only grows by appending under
// the store's write lock, so a reader may keep a copy of the slice header
// and read those spans after unlocking.
type storedTrace struct {
	id       traceID
	seq      uint64
	spans    []*span
	minStart int64
	maxEnd   int64
	maxDur   int64 // longest span, to skip traces a minDuration rules out
}

type serviceIndex struct {
	spans int
	ops   map[Operation]int
	post  posting
}

type opKey struct{ service, name string }

// posting is a list of trace sequence numbers, appended in arrival order.
// Because eviction removes the lowest sequences first, dead entries gather at
// the front and are trimmed as the list grows.
type posting struct {
	seqs []uint64
	head int
	max  uint64
}

func (p *posting) add(seq, base uint64) {
	if n := len(p.seqs); n > p.head && p.seqs[n-1] == seq {
		return // consecutive spans of one trace: the common case
	}
	p.trim(base)
	p.seqs = append(p.seqs, seq)
	p.max = max(p.max, seq)
}

func (p *posting) trim(base uint64) {
	for p.head < len(p.seqs) && p.seqs[p.head] < base {
		p.head++
	}
	if p.head > 16 && p.head*2 >= len(p.seqs) {
		live := len(p.seqs) - p.head
		if cap(p.seqs) > 64 && live*4 < cap(p.seqs) {
			p.seqs = append(make([]uint64, 0, live*2), p.seqs[p.head:]...)
		} else {
			n := copy(p.seqs, p.seqs[p.head:])
			p.seqs = p.seqs[:n]
		}
		p.head = 0
	}
}

func (p *posting) size() int { return len(p.seqs) - p.head }

// NewStore returns an empty store that keeps at most maxSpans spans.
func NewStore(maxSpans int) (*Store, error) {
	if maxSpans <= 0 {
		return nil, fmt.Errorf("traceview: max spans must be positive, got %d", maxSpans)
	}
	return &Store{
		maxSpans: maxSpans,
		in:       newInterner(),
		seed:     maphash.MakeSeed(),
		traces:   make(map[traceID]*storedTrace),
		services: make(map[string]*serviceIndex),
		ops:      make(map[opKey]*posting),
		tags:     make([]posting, tagBuckets),
	}, nil
}

// MaxSpans returns the store's capacity.
func (s *Store) MaxSpans() int { return s.maxSpans }

// SpanCount returns the number of spans held now.
func (s *Store) SpanCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.spanCount
}

// TraceCount returns the number of traces held now.
func (s *Store) TraceCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.traces)
}

// IngestResult says how much of an export the store took. Rejected spans
// (invalid IDs) are reported to OTLP senders as a partial success.
type IngestResult struct {
	Accepted int
	Rejected int
	// Reason explains the last rejection, empty when none.
	Reason string
}

// Ingest adds the spans of OTLP resource spans to the store. Conversion
// happens before the store's lock is taken, so concurrent exports only
// serialise on the short indexing step.
func (s *Store) Ingest(rss []*tracepb.ResourceSpans) IngestResult {
	conv := s.in.convert(rss)
	s.add(conv.spans)
	return IngestResult{Accepted: len(conv.spans), Rejected: conv.rejected, Reason: conv.reason}
}

// ingestProto adds the spans of an encoded OTLP ExportTraceServiceRequest.
// It decodes with the fast path and falls back to the generated types when
// that gives up; an error means the payload is malformed.
func (s *Store) ingestProto(body []byte) (IngestResult, error) {
	conv, err := s.in.decodeProto(body)
	if err != nil {
		req, err := decodeOTLPProto(body)
		if err != nil {
			return IngestResult{}, err
		}
		return s.Ingest(req.GetResourceSpans()), nil
	}
	s.add(conv.spans)
	return IngestResult{Accepted: len(conv.spans), Rejected: conv.rejected, Reason: conv.reason}, nil
}

func (s *Store) add(spans []*span) {
	if len(spans) == 0 {
		return
	}
	// Hash every tag before taking the lock (the hashes depend on nothing it
	// guards), so that the lock is held only for the appends.
	buckets := make([]int32, 0, len(spans)*(len(spans[0].attrs)+len(spans[0].res.attrs)/4+4))
	ends := make([]int32, len(spans))
	var synth [8]attr
	for i, sp := range spans {
		for _, a := range sp.attrs {
			buckets = append(buckets, s.tagBucket(a))
		}
		for _, a := range sp.syntheticAttrs(synth[:0]) {
			buckets = append(buckets, s.tagBucket(a))
		}
		// Resource tags once per run of spans of one trace and resource:
		// the posting lists hold traces, so repeating them adds nothing.
		if i == 0 || sp.traceID != spans[i-1].traceID || sp.res != spans[i-1].res {
			for _, a := range sp.res.attrs {
				buckets = append(buckets, s.tagBucket(a))
			}
		}
		ends[i] = int32(len(buckets))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var lastTrace *storedTrace
	for i, sp := range spans {
		t := lastTrace
		if t == nil || t.id != sp.traceID {
			t = s.traces[sp.traceID]
			if t == nil {
				t = &storedTrace{id: sp.traceID, seq: s.base + uint64(len(s.order)), minStart: sp.start, maxEnd: sp.end}
				s.traces[t.id] = t
				s.order = append(s.order, t)
			}
		}
		t.spans = append(t.spans, sp)
		t.minStart = min(t.minStart, sp.start)
		t.maxEnd = max(t.maxEnd, sp.end)
		t.maxDur = max(t.maxDur, sp.duration())
		s.spanCount++
		from := int32(0)
		if i > 0 {
			from = ends[i-1]
		}
		s.index(t, sp, buckets[from:ends[i]])
		lastTrace = t
	}
	for s.spanCount > s.maxSpans && len(s.order) > 0 {
		s.evictOldest()
	}
	if s.evicted >= s.maxSpans {
		s.sweep()
	}
}

func (s *Store) index(t *storedTrace, sp *span, buckets []int32) {
	svc := s.services[sp.res.service]
	if svc == nil {
		svc = &serviceIndex{ops: make(map[Operation]int)}
		s.services[sp.res.service] = svc
	}
	svc.spans++
	svc.ops[Operation{Name: sp.name, SpanKind: kindName(sp.kind)}]++
	svc.post.add(t.seq, s.base)
	ok := opKey{sp.res.service, sp.name}
	op := s.ops[ok]
	if op == nil {
		op = &posting{}
		s.ops[ok] = op
	}
	op.add(t.seq, s.base)

	for _, b := range buckets {
		s.tags[b].add(t.seq, s.base)
	}
}

// tagBucket hashes an attribute's key and search value.
func (s *Store) tagBucket(a attr) int32 {
	var buf [64]byte
	return int32(s.tagHash(a.key, a.appendValue(buf[:0])))
}

func (s *Store) tagHash(key string, value []byte) int {
	h := maphash.String(s.seed, key)*31 ^ maphash.Bytes(s.seed, value)
	return int(h % tagBuckets)
}

func (s *Store) evictOldest() {
	t := s.order[0]
	s.order[0] = nil
	s.order = s.order[1:]
	s.base++
	if cap(s.order) > 1024 && len(s.order) < cap(s.order)/4 {
		s.order = append(make([]*storedTrace, 0, len(s.order)*2), s.order...)
	}
	delete(s.traces, t.id)
	s.spanCount -= len(t.spans)
	s.evicted += len(t.spans)
	for _, sp := range t.spans {
		svc := s.services[sp.res.service]
		if svc == nil {
			continue
		}
		o := Operation{Name: sp.name, SpanKind: kindName(sp.kind)}
		if svc.ops[o]--; svc.ops[o] <= 0 {
			delete(svc.ops, o)
			if !svc.hasOp(sp.name) {
				delete(s.ops, opKey{sp.res.service, sp.name})
			}
		}
		if svc.spans--; svc.spans <= 0 {
			delete(s.services, sp.res.service)
		}
	}
}

func (si *serviceIndex) hasOp(name string) bool {
	for o := range si.ops {
		if o.Name == name {
			return true
		}
	}
	return false
}

// sweep trims every tag bucket once as many spans as the store holds have
// been evicted, so buckets that stopped receiving appends do not keep dead
// entries (and their memory) forever. Its cost is amortised over those
// evictions.
func (s *Store) sweep() {
	s.evicted = 0
	for i := range s.tags {
		p := &s.tags[i]
		if p.max < s.base {
			*p = posting{}
			continue
		}
		p.trim(s.base)
	}
	for _, svc := range s.services {
		svc.post.trim(s.base)
	}
	for _, p := range s.ops {
		p.trim(s.base)
	}
}

func (s *Store) traceBySeq(seq uint64) *storedTrace {
	if seq < s.base || seq-s.base >= uint64(len(s.order)) {
		return nil
	}
	return s.order[seq-s.base]
}

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
	out := make([]string, 0, len(s.services))
	for name := range s.services {
		out = append(out, name)
	}
	s.mu.RUnlock()
	slices.Sort(out)
	return out
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
