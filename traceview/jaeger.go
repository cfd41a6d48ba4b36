package traceview

import (
	"cmp"
	"slices"
	"strconv"
)

// The types below are Jaeger's JSON model, as jaeger-query's /api returns
// it, so that existing Jaeger tooling and habits work against the viewer.

// Trace is one assembled trace.
type Trace struct {
	TraceID   string             `json:"traceID"`
	Spans     []Span             `json:"spans"`
	Processes map[string]Process `json:"processes"`
	Warnings  []string           `json:"warnings"`
}

// Span is one span. Times are in microseconds, as in Jaeger.
type Span struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	Flags         uint32      `json:"flags"`
	OperationName string      `json:"operationName"`
	References    []Reference `json:"references"`
	StartTime     int64       `json:"startTime"`
	Duration      int64       `json:"duration"`
	Tags          []KeyValue  `json:"tags"`
	Logs          []Log       `json:"logs"`
	ProcessID     string      `json:"processID"`
	Warnings      []string    `json:"warnings"`
}

// Reference ties a span to another: its parent (CHILD_OF) or a span it links
// to (FOLLOWS_FROM). A link's TraceID may name another trace.
type Reference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// Reference types.
const (
	RefChildOf     = "CHILD_OF"
	RefFollowsFrom = "FOLLOWS_FROM"
)

// KeyValue is a tag or log field. Type is string, bool, int64, float64 or
// binary, and Value has the matching JSON type (base64 text for binary).
type KeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Log is a span event: its name is the "event" field.
type Log struct {
	Timestamp int64      `json:"timestamp"`
	Fields    []KeyValue `json:"fields"`
}

// Process is the resource that produced spans: the service and its other
// resource attributes.
type Process struct {
	ServiceName string     `json:"serviceName"`
	Tags        []KeyValue `json:"tags"`
}

// Operation is a span name of a service, with its span kind.
type Operation struct {
	Name     string `json:"name"`
	SpanKind string `json:"spanKind"`
}

// Dependency is a count of calls from spans of one service to child spans
// in another.
type Dependency struct {
	Parent    string `json:"parent"`
	Child     string `json:"child"`
	CallCount uint64 `json:"callCount"`
}

func toKeyValues(attrs []attr) []KeyValue {
	out := make([]KeyValue, len(attrs))
	for i, a := range attrs {
		out[i] = KeyValue{Key: a.key, Type: a.typ.String(), Value: a.jsonValue()}
	}
	return out
}

// toJaegerTrace converts stored spans to the Jaeger model, sorted by start
// time, with processes deduplicated by resource content (p1, p2, ...).
func toJaegerTrace(id traceID, spans []*span) Trace {
	t := Trace{TraceID: id.String(), Spans: make([]Span, len(spans)), Processes: make(map[string]Process)}
	procs := make(map[string]string)
	tid := t.TraceID
	var synth [8]attr
	for i, sp := range spans {
		pid, ok := procs[sp.res.key]
		if !ok {
			pid = "p" + strconv.Itoa(len(procs)+1)
			procs[sp.res.key] = pid
			t.Processes[pid] = Process{ServiceName: sp.res.service, Tags: toKeyValues(sp.res.attrs)}
		}
		js := Span{
			TraceID:       tid,
			SpanID:        sp.spanID.String(),
			Flags:         sp.flags & 0xff,
			OperationName: sp.name,
			References:    make([]Reference, 0, len(sp.links)+1),
			StartTime:     sp.start / 1000,
			Duration:      sp.duration() / 1000,
			ProcessID:     pid,
		}
		if !sp.parentID.isZero() {
			js.References = append(js.References, Reference{RefType: RefChildOf, TraceID: tid, SpanID: sp.parentID.String()})
		}
		for _, l := range sp.links {
			js.References = append(js.References, Reference{RefType: RefFollowsFrom, TraceID: l.traceID.String(), SpanID: l.spanID.String()})
		}
		tags := toKeyValues(sp.attrs)
		tags = append(tags, toKeyValues(sp.syntheticAttrs(synth[:0]))...)
		js.Tags = tags
		js.Logs = make([]Log, len(sp.events))
		for j, e := range sp.events {
			fields := make([]KeyValue, 0, len(e.attrs)+1)
			fields = append(fields, KeyValue{Key: "event", Type: "string", Value: e.name})
			fields = append(fields, toKeyValues(e.attrs)...)
			js.Logs[j] = Log{Timestamp: e.time / 1000, Fields: fields}
		}
		t.Spans[i] = js
	}
	slices.SortStableFunc(t.Spans, func(a, b Span) int { return cmp.Compare(a.StartTime, b.StartTime) })
	return t
}
