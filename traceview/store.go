package traceview

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"unsafe"

	"github.com/patron-go/patron/internal/option"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

const (
	// DefaultMaxSpans is the store's capacity when no other is given: enough
	// for a long local debugging session, small enough (a few hundred MB at
	// most) for a laptop.
	DefaultMaxSpans = 200_000

	// DefaultMaxStoreBytes bounds the memory of the stored spans whatever
	// their size: 200,000 spans with large attribute values would otherwise
	// hold gigabytes. Typical spans (about 1 KB here) reach DefaultMaxSpans
	// first.
	DefaultMaxStoreBytes = 256 << 20

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
	maxBytes int64
	in       *interner
	seed     maphash.Seed

	mu        sync.RWMutex
	spanCount int
	bytes     int64 // estimated memory of the stored spans, see spanBytes
	traces    map[traceID]*storedTrace
	// order holds live traces by sequence number: order[i] has sequence
	// base+i. Eviction pops from the front, so every index can refer to a
	// trace by sequence number and detect eviction by comparing with base.
	order    []*storedTrace
	base     uint64
	services map[string]*serviceIndex
	ops      map[opKey]*posting
	tags     []posting
	red      map[redKey]*redSeries // RED aggregates, see red.go
	evicted  int                   // spans evicted since the last sweep of dead index entries
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
	bytes    int64
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

// StoreOption configures a Store.
type StoreOption func(*Store) error

// WithStoreMaxBytes bounds the store by the estimated memory of its spans
// (default DefaultMaxStoreBytes): the oldest traces are evicted beyond it,
// as beyond the maximum number of spans.
func WithStoreMaxBytes(n int64) StoreOption {
	return func(s *Store) error {
		if n <= 0 {
			return fmt.Errorf("traceview: max store bytes must be positive, got %d", n)
		}
		s.maxBytes = n
		return nil
	}
}

// NewStore returns an empty store that keeps at most maxSpans spans, and at
// most DefaultMaxStoreBytes of them unless an option says otherwise.
func NewStore(maxSpans int, opts ...StoreOption) (*Store, error) {
	if maxSpans <= 0 {
		return nil, fmt.Errorf("traceview: max spans must be positive, got %d", maxSpans)
	}
	s := &Store{
		maxSpans: maxSpans,
		maxBytes: DefaultMaxStoreBytes,
		in:       newInterner(),
		seed:     maphash.MakeSeed(),
		traces:   make(map[traceID]*storedTrace),
		services: make(map[string]*serviceIndex),
		ops:      make(map[opKey]*posting),
		tags:     make([]posting, tagBuckets),
		red:      make(map[redKey]*redSeries),
	}
	if err := option.Apply("traceview", s, opts); err != nil {
		return nil, err
	}
	return s, nil
}

// MaxSpans returns the store's capacity.
func (s *Store) MaxSpans() int { return s.maxSpans }

// MaxBytes returns the store's bound on the memory of its spans.
func (s *Store) MaxBytes() int64 { return s.maxBytes }

// Bytes returns the estimated memory of the spans held now.
func (s *Store) Bytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bytes
}

// Sizes of the stored forms, for the byte bound. Strings up to internMaxLen
// are shared through the interner, whose own size is bounded, so only
// longer ones (and binary values, never interned) count for each span.
const (
	spanStructBytes  = int64(unsafe.Sizeof(span{})) + 8 // and its pointer
	attrStructBytes  = int64(unsafe.Sizeof(attr{})) + 8 // and its tag posting
	eventStructBytes = int64(unsafe.Sizeof(event{}))
	linkStructBytes  = int64(unsafe.Sizeof(link{}))
)

func attrsBytes(attrs []attr) int64 {
	n := int64(len(attrs)) * attrStructBytes
	for _, a := range attrs {
		if len(a.str) > internMaxLen || a.typ == typeBinary {
			n += int64(len(a.str))
		}
		if len(a.key) > internMaxLen {
			n += int64(len(a.key))
		}
	}
	return n
}

// spanBytes estimates the memory a stored span holds.
func spanBytes(sp *span) int64 {
	n := spanStructBytes + attrsBytes(sp.attrs) + int64(len(sp.statusMsg))
	if len(sp.name) > internMaxLen {
		n += int64(len(sp.name))
	}
	for _, e := range sp.events {
		n += eventStructBytes + attrsBytes(e.attrs)
	}
	for _, l := range sp.links {
		n += linkStructBytes + attrsBytes(l.attrs)
	}
	return n
}

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
// Over lim, it returns an error wrapping errTooLarge, having allocated
// little: the fast path grows its spans only as they pass validation, and
// the reference path runs only once a scan of the wire bytes has bounded
// what it would allocate.
func (s *Store) ingestProto(body []byte, lim limits) (IngestResult, error) {
	conv, err := s.in.decodeProto(body, lim)
	if errors.Is(err, errTooLarge) {
		return IngestResult{}, err
	}
	if err != nil {
		if err := lim.check(body, kTraceRequest); err != nil {
			return IngestResult{}, err
		}
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
		size := spanBytes(sp)
		t.bytes += size
		s.bytes += size
		t.minStart = min(t.minStart, sp.start)
		t.maxEnd = max(t.maxEnd, sp.end)
		t.maxDur = max(t.maxDur, sp.duration())
		s.spanCount++
		from := int32(0)
		if i > 0 {
			from = ends[i-1]
		}
		s.index(t, sp, buckets[from:ends[i]])
		s.redAdd(sp)
		lastTrace = t
	}
	for (s.spanCount > s.maxSpans || s.bytes > s.maxBytes) && len(s.order) > 0 {
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
	s.bytes -= t.bytes
	s.evicted += len(t.spans)
	for _, sp := range t.spans {
		s.redRemove(sp)
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
