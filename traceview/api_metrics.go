package traceview

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// redMetrics serves Jaeger's monitor API, GET /api/metrics/minstep, and
// /api/metrics/calls, errors and latencies with service (repeatable), groupByOperation, quantile,
// endTs, lookback, step and ratePer (milliseconds, or Go durations) and
// spanKind (repeatable). Like jaeger-query it answers the MetricFamily
// itself, not in the data envelope.
func (a *api) redMetrics(w http.ResponseWriter, r *http.Request) {
	metric := r.PathValue("metric")
	switch metric {
	case REDCalls, REDErrors, REDLatencies:
	case "minstep":
		// The smallest step in milliseconds, in the data envelope, as
		// jaeger-query answers it; Jaeger UI asks before drawing.
		a.write(w, http.StatusOK, response{Data: REDBucket.Milliseconds()})
		return
	default:
		a.fail(w, http.StatusNotFound, fmt.Errorf("no metric %q: want calls, errors, latencies or minstep", metric))
		return
	}
	q := r.URL.Query()
	rq := REDQuery{Services: nonEmpty(q["service"]), SpanKinds: nonEmpty(q["spanKind"])}
	if v := q.Get("groupByOperation"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			a.fail(w, http.StatusBadRequest, fmt.Errorf("parameter 'groupByOperation' must be true or false, got %q", v))
			return
		}
		rq.GroupByOperation = b
	}
	if v := q.Get("quantile"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 1 {
			a.fail(w, http.StatusBadRequest, fmt.Errorf("parameter 'quantile' must be in (0, 1], got %q", v))
			return
		}
		rq.Quantile = f
	}
	var err error
	if rq.End, err = parseMillisOrMicros(q.Get("endTs")); err != nil {
		a.fail(w, http.StatusBadRequest, fmt.Errorf("parameter 'endTs': %w", err))
		return
	}
	if rq.End.IsZero() {
		rq.End = a.now()
	}
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"lookback", &rq.Lookback}, {"step", &rq.Step}, {"ratePer", &rq.RatePer}} {
		if *p.dst, err = parseMillis(q.Get(p.name)); err != nil {
			a.fail(w, http.StatusBadRequest, fmt.Errorf("parameter '%s': %w", p.name, err))
			return
		}
	}
	fam, err := a.store.RED(metric, rq)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrInvalidQuery) {
			code = http.StatusBadRequest
		}
		a.fail(w, code, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(fam); err != nil {
		a.log.Debug("traceview: writing API response", "error", err)
	}
}

// parseMillis reads a duration in milliseconds, as Jaeger's monitor API
// takes them, or a Go duration.
func parseMillis(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 || n > int64(365*24*time.Hour/time.Millisecond) {
			return 0, fmt.Errorf("want a positive number of milliseconds, got %q", s)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want milliseconds or a positive duration, got %q", s)
	}
	return d, nil
}

func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// instruments serves GET /api/instruments?service=&name=&points=: the
// received metric instruments with their series and latest points (points
// per series, default DefaultPointsPerSeries), exemplars included.
func (a *api) instruments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	iq := InstrumentQuery{Service: strings.TrimSpace(q.Get("service")), Name: strings.TrimSpace(q.Get("name"))}
	if v := q.Get("points"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 10_000 {
			a.fail(w, http.StatusBadRequest, fmt.Errorf("parameter 'points' must be in 0..10000, got %q", v))
			return
		}
		iq.Points = n
	}
	out := a.metrics.Instruments(iq)
	if out == nil {
		out = []Instrument{}
	}
	a.ok(w, out, len(out))
}
