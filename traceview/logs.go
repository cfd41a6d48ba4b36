package traceview

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/patron-go/patron/internal/option"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
)

const (
	// DefaultMaxLogRecords is the log store's capacity when no other is
	// given, as many records as the span store holds spans.
	DefaultMaxLogRecords = 200_000

	// DefaultMaxLogBytes bounds the memory of the stored log records.
	DefaultMaxLogBytes = 128 << 20

	// DefaultLogQueryLimit and MaxLogQueryLimit bound a log search.
	DefaultLogQueryLimit = 100
	MaxLogQueryLimit     = 5000
)

// logRecord is the stored form of an OTLP log record; immutable once
// stored.
type logRecord struct {
	time     int64 // unix nanoseconds: the record's time, else when it was observed
	severity uint8 // OTLP SeverityNumber, 0 when unset
	sevText  string
	body     string
	attrs    []attr
	traceID  traceID
	spanID   spanID
	res      *spanResource
	scope    *spanScope
}

// LogRecord is a log record as the API returns it. Timestamp is in
// microseconds since the epoch, as span times in the Jaeger model; TraceID
// and SpanID are hex, empty when the record was logged outside a span.
type LogRecord struct {
	Timestamp  int64      `json:"timestamp"`
	Severity   string     `json:"severity"`
	Body       string     `json:"body"`
	Attributes []KeyValue `json:"attributes"`
	TraceID    string     `json:"traceID"`
	SpanID     string     `json:"spanID"`
	Service    string     `json:"service"`
}

// severityName is the record's severity text, or the name of its severity
// number's range when the sender set no text.
func severityName(n uint8, text string) string {
	if text != "" {
		return text
	}
	switch {
	case n == 0:
		return ""
	case n <= 4:
		return "TRACE"
	case n <= 8:
		return "DEBUG"
	case n <= 12:
		return "INFO"
	case n <= 16:
		return "WARN"
	case n <= 20:
		return "ERROR"
	default:
		return "FATAL"
	}
}

// ParseSeverity reads a minimum severity for a log search: a name (trace,
// debug, info, warn or warning, error, fatal; any case) or an OTLP severity
// number 1..24. It returns the lowest severity number it admits.
func ParseSeverity(s string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return 0, nil
	case "trace":
		return 1, nil
	case "debug":
		return 5, nil
	case "info":
		return 9, nil
	case "warn", "warning":
		return 13, nil
	case "error":
		return 17, nil
	case "fatal":
		return 21, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 24 {
		return 0, fmt.Errorf("traceview: severity %q: want trace, debug, info, warn, error, fatal or 1..24", s)
	}
	return n, nil
}

func (r *logRecord) toAPI() LogRecord {
	out := LogRecord{
		Timestamp:  r.time / 1000,
		Severity:   severityName(r.severity, r.sevText),
		Body:       r.body,
		Attributes: toKeyValues(r.attrs),
		Service:    r.res.service,
	}
	if !r.traceID.isZero() {
		out.TraceID = r.traceID.String()
	}
	if !r.spanID.isZero() {
		out.SpanID = r.spanID.String()
	}
	return out
}

const logStructBytes = int64(unsafe.Sizeof(logRecord{})) + 8

func logBytes(r *logRecord) int64 {
	n := logStructBytes + attrsBytes(r.attrs)
	if len(r.body) > internMaxLen {
		n += int64(len(r.body))
	}
	return n
}

// LogStore is a bounded, in-memory store of log records, indexed by trace.
// It evicts the oldest records (by arrival) once it holds more than its
// maximum number of records or bytes. It is safe for concurrent use.
type LogStore struct {
	maxRecords int
	maxBytes   int64
	in         *interner

	mu sync.RWMutex
	// recs holds records by sequence number: recs[i] has sequence base+i.
	recs     []*logRecord
	base     uint64
	bytes    int64
	byTrace  map[traceID][]uint64 // ascending sequence numbers
	services map[string]int       // records per service
}

// LogStoreOption configures a LogStore.
type LogStoreOption func(*LogStore) error

// WithLogStoreMaxBytes bounds the store by the estimated memory of its
// records (default DefaultMaxLogBytes).
func WithLogStoreMaxBytes(n int64) LogStoreOption {
	return func(s *LogStore) error {
		if n <= 0 {
			return fmt.Errorf("traceview: max log bytes must be positive, got %d", n)
		}
		s.maxBytes = n
		return nil
	}
}

// NewLogStore returns an empty log store that keeps at most maxRecords
// records.
func NewLogStore(maxRecords int, opts ...LogStoreOption) (*LogStore, error) {
	if maxRecords <= 0 {
		return nil, fmt.Errorf("traceview: max log records must be positive, got %d", maxRecords)
	}
	s := &LogStore{maxRecords: maxRecords, maxBytes: DefaultMaxLogBytes, in: newInterner(),
		byTrace: make(map[traceID][]uint64), services: make(map[string]int)}
	if err := option.Apply("traceview", s, opts); err != nil {
		return nil, err
	}
	return s, nil
}

// Len returns the number of records held now.
func (s *LogStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.recs)
}

// Bytes returns the estimated memory of the records held now.
func (s *LogStore) Bytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bytes
}

// MaxRecords returns the store's capacity.
func (s *LogStore) MaxRecords() int { return s.maxRecords }

// Ingest adds the records of OTLP resource logs to the store.
func (s *LogStore) Ingest(rls []*logspb.ResourceLogs) int {
	recs := s.in.convertLogs(rls)
	s.add(recs)
	return len(recs)
}

// convertLogs turns OTLP resource logs into stored records. A trace or span
// ID of the wrong length is dropped (the record stays, unlinked), as the
// OTLP spec asks of receivers.
func (in *interner) convertLogs(rls []*logspb.ResourceLogs) []*logRecord {
	n := 0
	for _, rl := range rls {
		for _, sl := range rl.GetScopeLogs() {
			n += len(sl.GetLogRecords())
		}
	}
	block := make([]logRecord, n)
	out := make([]*logRecord, 0, n)
	for _, rl := range rls {
		r := in.resource(rl.GetResource())
		for _, sl := range rl.GetScopeLogs() {
			is := sl.GetScope()
			sc := in.scope(in.str(is.GetName()), in.str(is.GetVersion()))
			for _, pl := range sl.GetLogRecords() {
				rec := &block[len(out)]
				rec.time = clampNanos(pl.GetTimeUnixNano())
				if rec.time == 0 {
					rec.time = clampNanos(pl.GetObservedTimeUnixNano())
				}
				rec.severity = uint8(min(max(pl.GetSeverityNumber(), 0), 24))
				rec.sevText = in.str(pl.GetSeverityText())
				if b := pl.GetBody(); b != nil {
					rec.body = in.str(string(appendAnyValue(nil, b, 0)))
				}
				rec.attrs = in.attrs(pl.GetAttributes(), nil)
				if id := pl.GetTraceId(); len(id) == 16 {
					copy(rec.traceID[:], id)
				}
				if id := pl.GetSpanId(); len(id) == 8 {
					copy(rec.spanID[:], id)
				}
				rec.res, rec.scope = r, sc
				out = append(out, rec)
			}
		}
	}
	return out
}

func (s *LogStore) add(recs []*logRecord) {
	if len(recs) == 0 {
		return
	}
	sizes := make([]int64, len(recs))
	for i, r := range recs {
		sizes[i] = logBytes(r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range recs {
		seq := s.base + uint64(len(s.recs))
		s.recs = append(s.recs, r)
		s.bytes += sizes[i]
		s.services[r.res.service]++
		if !r.traceID.isZero() {
			s.byTrace[r.traceID] = append(s.byTrace[r.traceID], seq)
		}
	}
	for (len(s.recs) > s.maxRecords || s.bytes > s.maxBytes) && len(s.recs) > 0 {
		s.evictOldest()
	}
}

func (s *LogStore) evictOldest() {
	r := s.recs[0]
	s.recs[0] = nil
	s.recs = s.recs[1:]
	s.base++
	if cap(s.recs) > 1024 && len(s.recs) < cap(s.recs)/4 {
		s.recs = append(make([]*logRecord, 0, len(s.recs)*2), s.recs...)
	}
	s.bytes -= logBytes(r)
	if s.services[r.res.service]--; s.services[r.res.service] <= 0 {
		delete(s.services, r.res.service)
	}
	if r.traceID.isZero() {
		return
	}
	// The oldest record is the first of its trace's list.
	seqs := s.byTrace[r.traceID]
	for len(seqs) > 0 && seqs[0] < s.base {
		seqs = seqs[1:]
	}
	if len(seqs) == 0 {
		delete(s.byTrace, r.traceID)
	} else {
		s.byTrace[r.traceID] = seqs
	}
}

// TraceLogs returns the records logged in the trace with the given hex ID,
// in time order.
func (s *LogStore) TraceLogs(id string) []LogRecord {
	tid, ok := parseTraceID(id)
	if !ok {
		return nil
	}
	s.mu.RLock()
	seqs := s.byTrace[tid]
	recs := make([]*logRecord, 0, len(seqs))
	for _, seq := range seqs {
		if seq >= s.base {
			recs = append(recs, s.recs[seq-s.base])
		}
	}
	s.mu.RUnlock()
	slices.SortStableFunc(recs, func(a, b *logRecord) int { return cmp.Compare(a.time, b.time) })
	out := make([]LogRecord, len(recs))
	for i, r := range recs {
		out[i] = r.toAPI()
	}
	return out
}

// LogQuery selects log records. A record matches when it is of Service, at
// least MinSeverity (an OTLP severity number; see ParseSeverity), contains
// Text in its body or an attribute value (case-insensitive), carries all
// Tags (record or resource attributes), belongs to TraceID, and has a time
// between Start and End. Zero values mean "any".
type LogQuery struct {
	Service     string
	MinSeverity int
	Text        string
	TraceID     string
	Tags        map[string]string
	Start, End  time.Time
	// Limit is the most records to return: DefaultLogQueryLimit when 0, at
	// most MaxLogQueryLimit.
	Limit int
}

// FindLogs returns the records that match q, the newest first.
func (s *LogStore) FindLogs(q LogQuery) ([]LogRecord, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("%w: negative limit %d", ErrInvalidQuery, q.Limit)
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return nil, fmt.Errorf("%w: end %v before start %v", ErrInvalidQuery, q.End, q.Start)
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLogQueryLimit
	}
	limit = min(limit, MaxLogQueryLimit)
	lo, hi := int64(minInt64), int64(maxInt64)
	if !q.Start.IsZero() {
		lo = q.Start.UnixNano()
	}
	if !q.End.IsZero() {
		hi = q.End.UnixNano()
	}
	var tid traceID
	if q.TraceID != "" {
		var ok bool
		if tid, ok = parseTraceID(q.TraceID); !ok {
			return nil, fmt.Errorf("%w: malformed trace ID %q", ErrInvalidQuery, q.TraceID)
		}
	}
	text := strings.ToLower(q.Text)
	match := func(r *logRecord) bool {
		if r.time < lo || r.time > hi || int(r.severity) < q.MinSeverity {
			return false
		}
		if q.Service != "" && r.res.service != q.Service {
			return false
		}
		for k, v := range q.Tags {
			if !hasTag(r.attrs, k, v) && !hasTag(r.res.attrs, k, v) {
				return false
			}
		}
		return text == "" || r.containsText(text)
	}

	var found []*logRecord
	s.mu.RLock()
	if !tid.isZero() {
		seqs := s.byTrace[tid]
		for i := len(seqs) - 1; i >= 0 && len(found) < limit; i-- {
			if seqs[i] >= s.base {
				if r := s.recs[seqs[i]-s.base]; match(r) {
					found = append(found, r)
				}
			}
		}
	} else {
		for i := len(s.recs) - 1; i >= 0 && len(found) < limit; i-- {
			if r := s.recs[i]; match(r) {
				found = append(found, r)
			}
		}
	}
	s.mu.RUnlock()
	slices.SortStableFunc(found, func(a, b *logRecord) int { return cmp.Compare(b.time, a.time) })
	out := make([]LogRecord, len(found))
	for i, r := range found {
		out[i] = r.toAPI()
	}
	return out, nil
}

// containsText reports whether the body or an attribute value contains
// text, which is lower case already. ASCII bodies, the usual case, are
// compared without allocating.
func (r *logRecord) containsText(text string) bool {
	if containsFold(r.body, text) {
		return true
	}
	var buf [64]byte
	for _, a := range r.attrs {
		if containsFold(string(a.appendValue(buf[:0])), text) {
			return true
		}
	}
	return false
}

func containsFold(s, lower string) bool {
	if len(lower) > len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return strings.Contains(strings.ToLower(s), lower)
		}
	}
	for i := 0; i+len(lower) <= len(s); i++ {
		j := 0
		for j < len(lower) {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
			j++
		}
		if j == len(lower) {
			return true
		}
	}
	return false
}

// LogServices returns the services with stored log records, sorted.
func (s *LogStore) LogServices() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.services))
}
