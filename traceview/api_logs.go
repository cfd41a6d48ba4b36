package traceview

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// traceLogs serves GET /api/traces/{traceID}/logs: the trace's log
// records in time order.
func (a *api) traceLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("traceID")
	if _, ok := parseTraceID(id); !ok {
		a.fail(w, http.StatusBadRequest, fmt.Errorf("malformed trace ID %q: want up to 32 hex digits", id))
		return
	}
	recs := a.logs.TraceLogs(id)
	a.ok(w, recs, len(recs))
}

// findLogs serves GET /api/logs?service=&severity=&q=&traceID=&start=&end=&limit=
// (and tag=key:value or tags={json}, as /api/traces): the matching records,
// newest first. start and end are microseconds since the epoch; severity is
// a minimum (see ParseSeverity).
func (a *api) findLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var (
		lq  = LogQuery{Service: strings.TrimSpace(q.Get("service")), Text: q.Get("q"), TraceID: strings.TrimSpace(q.Get("traceID"))}
		err error
	)
	if lq.MinSeverity, err = ParseSeverity(q.Get("severity")); err != nil {
		a.fail(w, http.StatusBadRequest, fmt.Errorf("parameter 'severity': %w", err))
		return
	}
	if lq.Tags, err = parseTags(q["tags"], q["tag"]); err != nil {
		a.fail(w, http.StatusBadRequest, err)
		return
	}
	if lq.Start, err = parseMicros(q.Get("start")); err != nil {
		a.fail(w, http.StatusBadRequest, fmt.Errorf("parameter 'start': %w", err))
		return
	}
	if lq.End, err = parseMicros(q.Get("end")); err != nil {
		a.fail(w, http.StatusBadRequest, fmt.Errorf("parameter 'end': %w", err))
		return
	}
	if v := q.Get("limit"); v != "" {
		if lq.Limit, err = strconv.Atoi(v); err != nil || lq.Limit < 0 {
			a.fail(w, http.StatusBadRequest, fmt.Errorf("parameter 'limit' must be a non-negative integer, got %q", v))
			return
		}
	}
	recs, err := a.logs.FindLogs(lq)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrInvalidQuery) {
			code = http.StatusBadRequest
		}
		a.fail(w, code, err)
		return
	}
	a.ok(w, recs, len(recs))
}
