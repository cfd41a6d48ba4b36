package traceview

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

//go:embed web
var webFS embed.FS

// response is jaeger-query's envelope.
type response struct {
	Data   any        `json:"data"`
	Total  int        `json:"total"`
	Limit  int        `json:"limit"`
	Offset int        `json:"offset"`
	Errors []apiError `json:"errors"`
}

type apiError struct {
	Code    int    `json:"code"`
	Msg     string `json:"msg"`
	TraceID string `json:"traceID,omitempty"`
}

// stores are what the API reads.
type stores struct {
	spans   *Store
	logs    *LogStore
	metrics *MetricStore
}

// api serves the Jaeger-compatible query API and the web UI.
type api struct {
	store   *Store
	logs    *LogStore
	metrics *MetricStore
	log     *slog.Logger
	now     func() time.Time
}

func newUIHandler(st stores, log *slog.Logger) (http.Handler, error) {
	if st.logs == nil { // a handler over spans alone, as tests build it
		st.logs, _ = NewLogStore(1)
	}
	if st.metrics == nil {
		st.metrics, _ = NewMetricStore(1)
	}
	a := &api{store: st.spans, logs: st.logs, metrics: st.metrics, log: log, now: time.Now}
	static, err := fs.Sub(webFS, "web")
	if err != nil {
		return nil, fmt.Errorf("traceview: embedded web files: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/services", a.services)
	mux.HandleFunc("GET /api/services/{service}/operations", a.serviceOperations)
	mux.HandleFunc("GET /api/operations", a.operations)
	mux.HandleFunc("GET /api/traces", a.traces)
	mux.HandleFunc("GET /api/traces/{traceID}", a.trace)
	mux.HandleFunc("GET /api/dependencies", a.dependencies)
	mux.HandleFunc("GET /api/traces/{traceID}/logs", a.traceLogs)
	mux.HandleFunc("GET /api/logs", a.findLogs)
	mux.HandleFunc("GET /api/metrics/{metric}", a.redMetrics)
	mux.HandleFunc("GET /api/instruments", a.instruments)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, http.StatusNotFound, fmt.Errorf("no API endpoint %s %s", r.Method, r.URL.Path))
	})

	files := http.FileServerFS(static)
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheControl(files)))
	index := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "index.html")
	}
	mux.HandleFunc("GET /search", index)
	mux.HandleFunc("GET /trace/{id}", index)
	mux.HandleFunc("GET /dependencies", index)
	for _, page := range []string{"/compare", "/logs", "/monitor", "/metrics"} {
		mux.HandleFunc("GET "+page, index)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/search", http.StatusFound)
	})
	return securityHeaders(mux), nil
}

func cacheControl(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders forbids everything the UI does not need: it loads nothing
// from elsewhere, so a hostile attribute value rendered by mistake still
// cannot pull in or send out anything.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

func (a *api) write(w http.ResponseWriter, code int, resp response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(resp); err != nil {
		a.log.Debug("traceview: writing API response", "error", err)
	}
}

func (a *api) ok(w http.ResponseWriter, data any, total int) {
	a.write(w, http.StatusOK, response{Data: data, Total: total})
}

func (a *api) fail(w http.ResponseWriter, code int, err error) {
	a.write(w, code, response{Errors: []apiError{{Code: code, Msg: err.Error()}}})
}

func (a *api) services(w http.ResponseWriter, _ *http.Request) {
	s := a.store.Services()
	a.ok(w, s, len(s))
}

// serviceOperations is the legacy endpoint the Jaeger UI used: names only.
func (a *api) serviceOperations(w http.ResponseWriter, r *http.Request) {
	ops := a.store.Operations(r.PathValue("service"), "")
	names := make([]string, 0, len(ops))
	for i, o := range ops {
		if i == 0 || ops[i-1].Name != o.Name {
			names = append(names, o.Name)
		}
	}
	a.ok(w, names, len(names))
}

func (a *api) operations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	svc := q.Get("service")
	if svc == "" {
		a.fail(w, http.StatusBadRequest, errors.New("parameter 'service' is required"))
		return
	}
	ops := a.store.Operations(svc, q.Get("spanKind"))
	a.ok(w, ops, len(ops))
}

func (a *api) trace(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("traceID")
	if _, ok := parseTraceID(id); !ok {
		a.fail(w, http.StatusBadRequest, fmt.Errorf("malformed trace ID %q: want up to 32 hex digits", id))
		return
	}
	t, ok := a.store.Trace(id)
	if !ok {
		a.fail(w, http.StatusNotFound, errors.New("trace not found"))
		return
	}
	a.ok(w, []Trace{t}, 1)
}

func (a *api) traces(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// Jaeger lets a search be a list of trace IDs instead.
	if ids := q["traceID"]; len(ids) > 0 {
		out := make([]Trace, 0, len(ids))
		var errs []apiError
		for _, id := range ids {
			if t, ok := a.store.Trace(id); ok {
				out = append(out, t)
			} else {
				errs = append(errs, apiError{Code: http.StatusNotFound, Msg: "trace not found", TraceID: id})
			}
		}
		a.write(w, http.StatusOK, response{Data: out, Total: len(out), Errors: errs})
		return
	}
	query, err := a.parseQuery(q)
	if err != nil {
		a.fail(w, http.StatusBadRequest, err)
		return
	}
	traces, err := a.store.FindTraces(query)
	if err != nil {
		a.fail(w, http.StatusBadRequest, err)
		return
	}
	a.ok(w, traces, len(traces))
}

func (a *api) parseQuery(q map[string][]string) (Query, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	query := Query{Service: get("service"), Operation: get("operation")}
	if query.Operation == "all" { // what older Jaeger UIs send for "any"
		query.Operation = ""
	}
	var err error
	if query.Tags, err = parseTags(q["tags"], q["tag"]); err != nil {
		return query, err
	}
	if query.MinDuration, err = parseDuration(get("minDuration")); err != nil {
		return query, fmt.Errorf("parameter 'minDuration': %w", err)
	}
	if query.MaxDuration, err = parseDuration(get("maxDuration")); err != nil {
		return query, fmt.Errorf("parameter 'maxDuration': %w", err)
	}
	if v := get("limit"); v != "" {
		if query.Limit, err = strconv.Atoi(v); err != nil || query.Limit < 0 {
			return query, fmt.Errorf("parameter 'limit' must be a non-negative integer, got %q", v)
		}
	}
	if query.Start, err = parseMicros(get("start")); err != nil {
		return query, fmt.Errorf("parameter 'start': %w", err)
	}
	if query.End, err = parseMicros(get("end")); err != nil {
		return query, fmt.Errorf("parameter 'end': %w", err)
	}
	if lb := get("lookback"); lb != "" && lb != "custom" && query.Start.IsZero() {
		d, err := parseDuration(lb)
		if err != nil {
			return query, fmt.Errorf("parameter 'lookback': %w", err)
		}
		end := query.End
		if end.IsZero() {
			end = a.now()
		}
		query.Start = end.Add(-d)
	}
	return query, nil
}

// parseTags reads tags as Jaeger does: a JSON object in 'tags' and/or
// repeated 'tag=key:value'. Non-string JSON values match their text form.
func parseTags(jsonTags, kvTags []string) (map[string]string, error) {
	out := map[string]string{}
	for _, js := range jsonTags {
		if strings.TrimSpace(js) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			return nil, fmt.Errorf("parameter 'tags' must be a JSON object of strings: %w", err)
		}
		for k, v := range m {
			switch x := v.(type) {
			case string:
				out[k] = x
			case nil:
				out[k] = ""
			default:
				b, _ := json.Marshal(x)
				out[k] = string(b)
			}
		}
	}
	for _, kv := range kvTags {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			return nil, fmt.Errorf("parameter 'tag' must be key:value, got %q", kv)
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseDuration reads Go durations ("1.2s", "100ms"); Jaeger's UI also sends
// a bare number of microseconds for custom durations, and lookbacks in days
// ("2d"), which Go's parser lacks.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Duration(n) * time.Microsecond, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w", s, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

func parseMicros(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("want microseconds since the epoch, got %q", s)
	}
	return time.UnixMicro(n), nil
}

func (a *api) dependencies(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	end, err := parseMillisOrMicros(q.Get("endTs"))
	if err != nil {
		a.fail(w, http.StatusBadRequest, fmt.Errorf("parameter 'endTs': %w", err))
		return
	}
	var lookback time.Duration
	if v := q.Get("lookback"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			lookback = time.Duration(n) * time.Millisecond // Jaeger: milliseconds
		} else if lookback, err = parseDuration(v); err != nil {
			a.fail(w, http.StatusBadRequest, fmt.Errorf("parameter 'lookback': %w", err))
			return
		}
	}
	if end.IsZero() && lookback > 0 {
		end = a.now()
	}
	deps := a.store.Dependencies(end, lookback)
	a.ok(w, deps, len(deps))
}

// parseMillisOrMicros reads endTs, which jaeger-query takes in milliseconds;
// values too large to be milliseconds of this era are taken as microseconds.
func parseMillisOrMicros(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("want milliseconds since the epoch, got %q", s)
	}
	if n > 1e14 {
		return time.UnixMicro(n), nil
	}
	return time.UnixMilli(n), nil
}
