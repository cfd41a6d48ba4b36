package traceview

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Limits per export request. The body limit alone is not enough: a 16 MB
// body holds 8 million empty spans (two bytes each on the wire, hundreds of
// bytes each once decoded), so a 16 KB gzip request could make the viewer
// allocate gigabytes. These caps bound what one request can make the
// decoders allocate, whatever its shape.
const (
	// DefaultMaxExportItems caps the spans, log records or metric data points
	// of one export request. SDK batch processors send 512.
	DefaultMaxExportItems = 100_000

	// DefaultMaxExportAttrBytes caps the attribute data of one export
	// request, counted as it is held once decoded: keys and values plus a
	// fixed overhead for every attribute, event, link, log body and nested
	// value, so that many empty attributes cost what they really take.
	DefaultMaxExportAttrBytes = 32 << 20

	// nodeCost is the memory a decoded message or attribute takes beyond its
	// bytes on the wire (roughly a generated message struct, or an attr with
	// its posting).
	nodeCost = 64

	// attrCost is what the fast decoder charges for an attribute: the attr
	// in the request's arena, its copy in the scratch slice of the span
	// being decoded (which grows by doubling), and its tag posting.
	attrCost = 128

	// maxScanDepth bounds the recursion of the wire scan; deeper values are
	// charged as if every byte were a node.
	maxScanDepth = 32
)

// errTooLarge marks a request over a per-request limit: HTTP 413, gRPC
// ResourceExhausted.
var errTooLarge = errors.New("export too large")

// limits are the per-request caps of a receiver; zero fields mean the
// defaults.
type limits struct {
	maxItems int
	maxCost  int64
}

func (l limits) budget() budget {
	if l.maxItems <= 0 {
		l.maxItems = DefaultMaxExportItems
	}
	if l.maxCost <= 0 {
		l.maxCost = DefaultMaxExportAttrBytes
	}
	return budget{limits: l}
}

func defaultLimits() limits {
	return limits{maxItems: DefaultMaxExportItems, maxCost: DefaultMaxExportAttrBytes}
}

// budget tracks one request against its limits.
type budget struct {
	limits
	items int
	cost  int64
}

func (b *budget) addItem(what string) error {
	b.items++
	if b.items > b.maxItems {
		return fmt.Errorf("%w: more than %d %s in one request", errTooLarge, b.maxItems, what)
	}
	return nil
}

func (b *budget) addCost(n int64) error {
	b.cost += n
	if b.cost > b.maxCost {
		return fmt.Errorf("%w: attributes over %d bytes in one request", errTooLarge, b.maxCost)
	}
	return nil
}

// msgKind names the OTLP messages the wire scan descends into.
type msgKind uint8

const (
	kLeaf msgKind = iota // a string, bytes or packed scalars: charged by size
	kAny
	kArray
	kKVList
	kKV
	kResource
	kScope
	kTraceRequest
	kResourceSpans
	kScopeSpans
	kSpan
	kEvent
	kLink
	kLogsRequest
	kResourceLogs
	kScopeLogs
	kLogRecord
	kMetricsRequest
	kResourceMetrics
	kScopeMetrics
	kMetric
	kNumberSeries // Gauge and Sum
	kHistogram
	kExpHistogram
	kSummary
	kNumberPoint
	kHistogramPoint
	kExpHistogramPoint
	kBuckets
	kSummaryPoint
	kExemplar
)

// childOf says what length-delimited field num of a message of kind k
// holds: the kind to descend into, whether it is one of the request's items,
// and for leaves how many bytes each wire byte can become (8 for packed
// varints decoded into []uint64).
func childOf(k msgKind, num protowire.Number) (child msgKind, item bool, mult int64) {
	type key struct {
		k   msgKind
		num protowire.Number
	}
	switch (key{k, num}) {
	case key{kAny, 5}:
		return kArray, false, 1
	case key{kAny, 6}:
		return kKVList, false, 1
	case key{kArray, 1}:
		return kAny, false, 1
	case key{kKVList, 1}, key{kResource, 1}, key{kScope, 3}, key{kSpan, 9}, key{kEvent, 3}, key{kLink, 4},
		key{kLogRecord, 6}, key{kMetric, 12}, key{kNumberPoint, 7}, key{kHistogramPoint, 9},
		key{kExpHistogramPoint, 1}, key{kSummaryPoint, 7}, key{kExemplar, 7}:
		return kKV, false, 1
	case key{kKV, 2}, key{kLogRecord, 5}:
		return kAny, false, 1
	case key{kTraceRequest, 1}:
		return kResourceSpans, false, 1
	case key{kResourceSpans, 1}, key{kResourceLogs, 1}, key{kResourceMetrics, 1}:
		return kResource, false, 1
	case key{kResourceSpans, 2}:
		return kScopeSpans, false, 1
	case key{kScopeSpans, 1}, key{kScopeLogs, 1}, key{kScopeMetrics, 1}:
		return kScope, false, 1
	case key{kScopeSpans, 2}:
		return kSpan, true, 1
	case key{kSpan, 11}:
		return kEvent, false, 1
	case key{kSpan, 13}:
		return kLink, false, 1
	case key{kLogsRequest, 1}:
		return kResourceLogs, false, 1
	case key{kResourceLogs, 2}:
		return kScopeLogs, false, 1
	case key{kScopeLogs, 2}:
		return kLogRecord, true, 1
	case key{kMetricsRequest, 1}:
		return kResourceMetrics, false, 1
	case key{kResourceMetrics, 2}:
		return kScopeMetrics, false, 1
	case key{kScopeMetrics, 2}:
		return kMetric, false, 1
	case key{kMetric, 5}, key{kMetric, 7}:
		return kNumberSeries, false, 1
	case key{kMetric, 9}:
		return kHistogram, false, 1
	case key{kMetric, 10}:
		return kExpHistogram, false, 1
	case key{kMetric, 11}:
		return kSummary, false, 1
	case key{kNumberSeries, 1}:
		return kNumberPoint, true, 1
	case key{kHistogram, 1}:
		return kHistogramPoint, true, 1
	case key{kExpHistogram, 1}:
		return kExpHistogramPoint, true, 1
	case key{kSummary, 1}:
		return kSummaryPoint, true, 1
	case key{kNumberPoint, 5}, key{kHistogramPoint, 8}, key{kExpHistogramPoint, 11}:
		return kExemplar, false, 1
	case key{kExpHistogramPoint, 8}, key{kExpHistogramPoint, 9}:
		return kBuckets, false, 1
	case key{kBuckets, 2}:
		return kLeaf, false, 8
	case key{kSummaryPoint, 6}:
		return kLeaf, false, 2 // ValueAtQuantile: 18 wire bytes, a pointer and 16 bytes decoded
	}
	return kLeaf, false, 1
}

// check walks an encoded request of kind k without allocating and returns
// an errTooLarge error when decoding it would exceed the limits. Malformed
// input is not its concern: it stops there, having counted everything a
// decoder could allocate before failing on the same bytes.
func (l limits) check(b []byte, k msgKind) error {
	bud := l.budget()
	err := bud.scan(b, k, 0)
	if errors.Is(err, errTooLarge) {
		return err
	}
	return nil
}

func (b *budget) scan(buf []byte, k msgKind, depth int) error {
	if depth > maxScanDepth {
		return b.addCost(int64(len(buf)) * nodeCost / 2)
	}
	if err := b.addCost(nodeCost); err != nil {
		return err
	}
	for len(buf) > 0 {
		f, rest, err := nextField(buf)
		if err != nil {
			return err
		}
		buf = rest
		if f.typ != protowire.BytesType {
			continue
		}
		child, item, mult := childOf(k, f.num)
		if item {
			if err := b.addItem(itemName(k)); err != nil {
				return err
			}
		}
		if child == kLeaf {
			err = b.addCost(int64(len(f.b)) * mult)
		} else {
			err = b.scan(f.b, child, depth+1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func itemName(k msgKind) string {
	switch k {
	case kScopeSpans:
		return "spans"
	case kScopeLogs:
		return "log records"
	default:
		return "data points"
	}
}

// checkJSON bounds an OTLP/JSON request before protojson decodes it: every
// JSON object becomes a message, and the elements of the arrays named by
// itemKeys are the request's items. It scans the bytes once and allocates
// only its stack of open arrays.
func (l limits) checkJSON(in []byte, what string, itemKeys ...string) error {
	bud := l.budget()
	if err := bud.addCost(int64(len(in))); err != nil {
		return err
	}
	// stack holds, for every open container, whether it is an item array.
	var (
		stack   []bool
		lastKey bool // the previous token was an item key and its colon
		isKey   bool
	)
	for i := 0; i < len(in); i++ {
		switch c := in[i]; c {
		case '"':
			end, esc := scanString(in, i)
			if end < 0 {
				return nil // unterminated: protojson will say so
			}
			isKey = false
			if !esc {
				j := skipSpace(in, end+1)
				if j < len(in) && in[j] == ':' {
					for _, k := range itemKeys {
						if string(in[i+1:end]) == k { // no allocation: compared only
							isKey = true
						}
					}
				}
			}
			i = end
			lastKey = isKey
			continue
		case ':', ' ', '\t', '\n', '\r':
			continue
		case '[':
			stack = append(stack, lastKey)
		case '{':
			if n := len(stack); n > 0 && stack[n-1] {
				if err := bud.addItem(what); err != nil {
					return err
				}
			}
			if err := bud.addCost(nodeCost); err != nil {
				return err
			}
			stack = append(stack, false)
		case ']', '}':
			if n := len(stack); n > 0 {
				stack = stack[:n-1]
			}
		}
		lastKey = false
	}
	return nil
}
