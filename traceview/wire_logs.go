package traceview

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
)

// The OTLP logs fast path, on the model of the traces one (wire.go): it
// reads an ExportLogsServiceRequest straight into stored records, sharing
// the interner, the attribute decoding and the limits, and gives up on
// anything unusual so that the reference path (proto.Unmarshal and
// convertLogs) decides. FuzzDecodeLogs checks that both store the same.

// Field numbers of the OTLP logs protos. The request, resource and scope
// levels use the numbers of the traces protos (1, then 2, then 2), so
// countSpans counts log records too.
const (
	fLogTime        = 1
	fLogSeverity    = 2
	fLogSevText     = 3
	fLogBody        = 5
	fLogAttributes  = 6
	fLogTraceID     = 9
	fLogSpanID      = 10
	fLogObserved    = 11
	fLogEventName   = 12
	fScopeLogsLogs  = 2
	fResourceLogsSL = 2
)

// decodeLogs decodes an encoded ExportLogsServiceRequest, or returns
// errGiveUp when the reference path must decide, or an error wrapping
// errTooLarge.
func (in *interner) decodeLogs(b []byte, lim limits) ([]*logRecord, error) {
	n, err := countSpans(b)
	if err != nil {
		return nil, err
	}
	d := &wireDecoder{in: in, bud: lim.budget(), left: n}
	if n > d.bud.maxItems {
		return nil, fmt.Errorf("%w: %d log records in one request, at most %d", errTooLarge, n, d.bud.maxItems)
	}
	ld := logDecoder{wireDecoder: d, out: make([]*logRecord, 0, min(n, 512))}
	err = eachField(b, fRequestResourceSpans, func(rl []byte) error {
		r, err := d.resourceOf(rl)
		if err != nil {
			return err
		}
		return eachField(rl, fResourceLogsSL, func(sl []byte) error {
			sc, err := d.scopeOf(sl)
			if err != nil {
				return err
			}
			return eachField(sl, fScopeLogsLogs, func(lb []byte) error { return ld.record(lb, r, sc) })
		})
	})
	if err != nil {
		return nil, err
	}
	return ld.out, nil
}

type logDecoder struct {
	*wireDecoder
	block []logRecord
	out   []*logRecord
}

func (d *logDecoder) record(b []byte, r *spanResource, sc *spanScope) error {
	var (
		t, obs          uint64
		sev             int32
		sevText, body   []byte
		traceID, spanID []byte
		nbody           int
	)
	d.attrs = d.attrs[:0]
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		switch {
		case f.is(fLogTime, protowire.Fixed64Type):
			t = f.u
		case f.is(fLogObserved, protowire.Fixed64Type):
			obs = f.u
		case f.is(fLogSeverity, protowire.VarintType):
			sev = int32(f.u)
		case f.is(fLogSevText, protowire.BytesType):
			sevText = f.b
		case f.is(fLogBody, protowire.BytesType):
			body = f.b
			nbody++
		case f.is(fLogAttributes, protowire.BytesType):
			a, err := d.attr(f.b)
			if err != nil {
				return err
			}
			d.attrs = append(d.attrs, a)
		case f.is(fLogTraceID, protowire.BytesType):
			traceID = f.b
		case f.is(fLogSpanID, protowire.BytesType):
			spanID = f.b
		case f.is(fLogEventName, protowire.BytesType):
			if !utf8.Valid(f.b) { // not kept, but protobuf requires UTF-8
				return errGiveUp
			}
		}
	}
	if nbody > 1 {
		return errGiveUp // protobuf would merge the bodies
	}
	d.left--
	if len(d.block) == 0 {
		d.block = make([]logRecord, min(d.left+1, 512))
	}
	rec := &d.block[0]
	d.block = d.block[1:]
	rec.time = clampNanos(t)
	if rec.time == 0 {
		rec.time = clampNanos(obs)
	}
	rec.severity = uint8(min(max(sev, 0), 24))
	var ok bool
	if rec.sevText, ok = d.str(sevText); !ok {
		return errGiveUp
	}
	if nbody == 1 {
		var err error
		if rec.body, err = d.bodyText(body); err != nil {
			return err
		}
	}
	if len(traceID) == 16 {
		copy(rec.traceID[:], traceID)
	}
	if len(spanID) == 8 {
		copy(rec.spanID[:], spanID)
	}
	rec.attrs = d.keep(d.attrs)
	rec.res, rec.scope = r, sc
	d.out = append(d.out, rec)
	return nil
}

// bodyText is a log body as text: a plain string from the wire, anything
// else through the generated types and appendAnyValue, as convertLogs.
func (d *logDecoder) bodyText(b []byte) (string, error) {
	if err := d.bud.addCost(nodeCost + int64(len(b))); err != nil {
		return "", err
	}
	if f, rest, err := nextField(b); err == nil && len(rest) == 0 && f.is(fAnyString, protowire.BytesType) {
		s, ok := d.str(f.b)
		if !ok {
			return "", errGiveUp
		}
		return s, nil
	}
	if len(b) == 0 {
		return "", nil
	}
	if err := d.bud.scan(b, kAny, 0); err != nil {
		return "", err
	}
	av := &commonpb.AnyValue{}
	if err := proto.Unmarshal(b, av); err != nil {
		return "", errGiveUp
	}
	return d.in.str(string(appendAnyValue(nil, av, 0))), nil
}

// ingestProto adds the records of an encoded ExportLogsServiceRequest,
// with the fast path first and the reference one when it gives up.
func (s *LogStore) ingestProto(body []byte, lim limits) (int, error) {
	recs, err := s.in.decodeLogs(body, lim)
	if errors.Is(err, errTooLarge) {
		return 0, err
	}
	if err != nil {
		req := &collogspb.ExportLogsServiceRequest{}
		if err := decodeSignal(lim, false, body, req, kLogsRequest, "log records"); err != nil {
			return 0, err
		}
		return s.Ingest(req.GetResourceLogs()), nil
	}
	s.add(recs)
	return len(recs), nil
}
