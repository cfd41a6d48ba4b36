package traceview

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// demoLog is a log record of the demo-shaped trace: which span logged it
// (an index into demoApp's spans), when after the trace's start, and what.
type demoLog struct {
	span  int
	at    time.Duration
	sev   logspb.SeverityNumber
	text  string
	body  string
	attrs []*commonpb.KeyValue
}

// demoAppLogs are the records the demo's services would log for one request.
var demoAppLogs = []demoLog{
	{span: 0, at: 1 * time.Millisecond, sev: logspb.SeverityNumber_SEVERITY_NUMBER_INFO, text: "INFO", body: "request received", attrs: []*commonpb.KeyValue{kv("http.route", "/api")}},
	{span: 2, at: 4 * time.Millisecond, sev: logspb.SeverityNumber_SEVERITY_NUMBER_DEBUG, text: "DEBUG", body: "cache miss", attrs: []*commonpb.KeyValue{kv("cache.key", "greeting:ann")}},
	{span: 8, at: 61 * time.Millisecond, sev: logspb.SeverityNumber_SEVERITY_NUMBER_INFO, text: "INFO", body: "user stored", attrs: []*commonpb.KeyValue{kv("user.id", "u-42")}},
	{span: 10, at: 101 * time.Millisecond, sev: logspb.SeverityNumber_SEVERITY_NUMBER_WARN, text: "WARN", body: "publish retried", attrs: []*commonpb.KeyValue{kvInt("attempt", 2)}},
	{span: 18, at: 160 * time.Millisecond, sev: logspb.SeverityNumber_SEVERITY_NUMBER_ERROR, text: "ERROR", body: "greeting template missing, using the default", attrs: []*commonpb.KeyValue{kv("user.id", "u-42")}},
}

// postLogs sends the demo trace's records to the viewer over OTLP/HTTP, one
// resource per service, as the services' SDKs would.
func postLogs(t *testing.T, addr string, rss []*tracepb.ResourceSpans, n uint64, now time.Time, logs []demoLog) {
	t.Helper()
	type spanRef struct {
		service         string
		traceID, spanID []byte
	}
	spans := map[int]spanRef{}
	for _, rs := range rss {
		svc := rs.Resource.Attributes[0].Value.GetStringValue()
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				for i := range 64 {
					if bytes.Equal(sp.SpanId, sid(0x100*n+0x6000+uint64(i))) {
						spans[i] = spanRef{svc, sp.TraceId, sp.SpanId}
					}
				}
			}
		}
	}
	byService := map[string]*logspb.ScopeLogs{}
	req := &collogspb.ExportLogsServiceRequest{}
	for _, l := range logs {
		sp := spans[l.span]
		sl := byService[sp.service]
		if sl == nil {
			sl = &logspb.ScopeLogs{Scope: &commonpb.InstrumentationScope{Name: "github.com/patron-go/patron"}}
			byService[sp.service] = sl
			req.ResourceLogs = append(req.ResourceLogs, &logspb.ResourceLogs{
				Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", sp.service)}},
				ScopeLogs: []*logspb.ScopeLogs{sl},
			})
		}
		sl.LogRecords = append(sl.LogRecords, &logspb.LogRecord{
			TimeUnixNano: uint64(now.Add(l.at).UnixNano()), ObservedTimeUnixNano: uint64(now.Add(l.at).UnixNano()),
			SeverityNumber: l.sev, SeverityText: l.text,
			Body:       &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: l.body}},
			Attributes: l.attrs, TraceId: sp.traceID, SpanId: sp.spanID,
		})
	}
	postOTLP(t, "http://"+addr+"/v1/logs", req)
}

func postOTLP(t *testing.T, url string, m proto.Message) {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/x-protobuf", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", url, resp.Status)
	}
}

// TestBrowserTraceLogs opens the demo-shaped trace after its services sent
// their logs: the spans that logged are marked, a span's details list its
// records, and the Logs tab has the whole trace's records in time order,
// each leading to its span.
func TestBrowserTraceLogs(t *testing.T) {
	v, addrs := startViewer(t)
	now := time.Now().Add(-time.Minute)
	rss, trace, _, _ := demoApp(now, 1)
	if res := v.Store().Ingest(rss); res.Rejected != 0 {
		t.Fatalf("ingest: %+v", res)
	}
	postLogs(t, addrs.OTLPHTTP, rss, 1, now, demoAppLogs)
	id := hex.EncodeToString(trace)
	span := func(i int) string { return hex.EncodeToString(sid(0x100 + 0x6000 + uint64(i))) }
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate("http://"+addrs.UI+"/trace/"+id), chromedp.WaitVisible(chromedp.CSS(`.wf-row .log-badge`)))
	marked, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".wf-row")].filter((r) => r.querySelector(".log-badge")).map((r) => r.dataset.spanId)`))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range demoAppLogs {
		want = append(want, span(l.span))
	}
	slices.Sort(marked)
	slices.Sort(want)
	if !slices.Equal(marked, want) {
		t.Errorf("spans marked as having logged: %v, want %v", marked, want)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".wf-row .span-log.sev-error").length`)); n != 1 {
		t.Errorf("%d error marks on the bars, want 1", n)
	}
	// The details of kafka-svc's INSERT list its record.
	do(t, ctx, chromedp.Click(chromedp.CSS(`.wf-row[data-span-id="`+span(8)+`"]`)), chromedp.WaitVisible(chromedp.CSS(`.detail .span-logs .log-rec`)))
	rec, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.detail .span-logs`)))
	for _, w := range []string{"INFO", "user stored", "user.id", "u-42", "+61ms"} {
		if !strings.Contains(rec, w) {
			t.Errorf("span details' logs %q do not say %q", rec, w)
		}
	}
	noFontGlyphs(t, ctx)
	screenshotDocs(t, ctx, "trace-logs.png")

	// The Logs tab: every record, in time order; one leads to its span.
	do(t, ctx, chromedp.Click(chromedp.ID("tab-logs")), chromedp.WaitVisible(chromedp.CSS(`#trace-logs .log-rec`)))
	bodies, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#trace-logs .log-rec .log-body")].map((b) => b.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	var wantBodies []string
	for _, l := range demoAppLogs {
		wantBodies = append(wantBodies, l.body)
	}
	if !slices.Equal(bodies, wantBodies) {
		t.Errorf("Logs tab shows %q, want %q", bodies, wantBodies)
	}
	if tab, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("tab-logs"))); tab != "Logs (5)" {
		t.Errorf("tab says %q", tab)
	}
	noFontGlyphs(t, ctx)
	screenshot(t, ctx, "traceview-trace-logs-tab.png")
	do(t, ctx, chromedp.Click(chromedp.CSS(`#trace-logs .log-rec[data-sev="ERROR"] .log-span`)),
		chromedp.WaitVisible(chromedp.CSS(`.wf-row.selected[data-span-id="`+span(18)+`"]`)))

	// ?tab=logs opens the Logs tab, which leads to the Logs page for the trace.
	do(t, ctx, chromedp.Navigate("http://"+addrs.UI+"/trace/"+id+"?tab=logs"), chromedp.WaitVisible(chromedp.CSS(`#trace-logs .trace-logs-head a`)),
		chromedp.Click(chromedp.CSS(`#trace-logs .trace-logs-head a`)), chromedp.WaitVisible(chromedp.CSS(`#log-list .log-rec`)))
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#log-list .log-rec").length`)); n != len(demoAppLogs) {
		t.Errorf("the Logs page for the trace lists %d records, want %d", n, len(demoAppLogs))
	}
}

// TestBrowserLogSearch searches the logs page by text, severity, service and
// attribute, and follows a record to its trace and span.
func TestBrowserLogSearch(t *testing.T) {
	v, addrs := startViewer(t)
	now := time.Now().Add(-time.Minute)
	rss, trace, _, _ := demoApp(now, 1)
	if res := v.Store().Ingest(rss); res.Rejected != 0 {
		t.Fatalf("ingest: %+v", res)
	}
	postLogs(t, addrs.OTLPHTTP, rss, 1, now, demoAppLogs)
	// Another request's logs, so the search has something to leave out.
	rss2, _, _, _ := demoApp(now.Add(-10*time.Minute), 2)
	v.Store().Ingest(rss2)
	postLogs(t, addrs.OTLPHTTP, rss2, 2, now.Add(-10*time.Minute), demoAppLogs[:3])
	id := hex.EncodeToString(trace)
	base := "http://" + addrs.UI
	ctx := browser(t)
	bodies := func() []string {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#log-list .log-rec .log-body")].map((b) => b.textContent)`))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	do(t, ctx, chromedp.Navigate(base+"/logs"), chromedp.WaitVisible(chromedp.CSS(`#log-list .log-rec`)))
	if n := len(bodies()); n != 8 {
		t.Errorf("the logs page lists %d records, want 8", n)
	}
	screenshotDocs(t, ctx, "logs.png")
	// Severity WARN and above.
	do(t, ctx, setField("log-severity", "WARN"), chromedp.Click(chromedp.ID("log-find")),
		chromedp.WaitVisible(chromedp.CSS(`#log-list .log-rec[data-sev="WARN"]`)))
	if b := bodies(); !slices.Equal(b, []string{demoAppLogs[4].body, demoAppLogs[3].body}) {
		t.Errorf("WARN and above: %q", b)
	}
	// An attribute, and a service.
	do(t, ctx, setField("log-severity", ""), setField("log-attr", "user.id=u-42"),
		setField("log-service", "kafka-svc"), chromedp.Click(chromedp.ID("log-find")),
		chromedp.WaitVisible(chromedp.CSS(`#log-list .log-rec[data-sev="INFO"]`)))
	if b := bodies(); !slices.Equal(b, []string{"user stored", "user stored"}) {
		t.Errorf("kafka-svc with user.id=u-42: %q", b)
	}
	// The API matches the attribute, so the limit counts matching records:
	// the newest record of all is another, and a page of one filtered in
	// the browser would be empty.
	do(t, ctx, setField("log-service", ""), setField("log-attr", "attempt=2"), setField("log-limit", "1"),
		chromedp.Click(chromedp.ID("log-find")),
		chromedp.WaitVisible(chromedp.CSS(`#log-list .log-rec[data-sev="WARN"]`)))
	if b := bodies(); !slices.Equal(b, []string{demoAppLogs[3].body}) {
		t.Errorf("attempt=2 with limit 1: %q", b)
	}
	do(t, ctx, setField("log-limit", "200"))
	// Text, then follow the record to its span.
	do(t, ctx, setField("log-service", ""), setField("log-attr", ""),
		setField("log-q", "template"), chromedp.Click(chromedp.ID("log-find")),
		chromedp.WaitVisible(chromedp.CSS(`#log-list .log-rec[data-sev="ERROR"]`)))
	if b := bodies(); !slices.Equal(b, []string{demoAppLogs[4].body}) {
		t.Errorf("text search: %q", b)
	}
	span := hex.EncodeToString(sid(0x100 + 0x6000 + 18))
	noFontGlyphs(t, ctx)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#log-list .log-trace`)),
		chromedp.WaitVisible(chromedp.CSS(`.wf-row.selected[data-span-id="`+span+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.detail .span-logs .log-rec[data-sev="ERROR"]`)))
	if u, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(u, "/trace/"+id+"?span="+span) {
		t.Errorf("the record led to %s", u)
	}
}

// setField sets a form field's value, as typing or picking would.
func setField(id, value string) chromedp.Action[chromedp.Void] {
	return evaluate(fmt.Sprintf(`document.getElementById(%q).value = %q`, id, value))
}

// TestBrowserMonitor draws the RED charts of the demo's seven services from
// requests spread over the last half hour, then a service's operations.
func TestBrowserMonitor(t *testing.T) {
	v, addrs := startViewer(t)
	now := time.Now()
	// A request every 45 s for half an hour; some are slower, and one in
	// five fails in grpc-svc.
	for i := range 40 {
		rss, _, _, _ := demoApp(now.Add(-time.Duration(60+i*45)*time.Second), uint64(10+i))
		for _, rs := range rss {
			svc := rs.Resource.Attributes[0].Value.GetStringValue()
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					sp.EndTimeUnixNano += uint64((i*7)%11) * (sp.EndTimeUnixNano - sp.StartTimeUnixNano) / 10
					if svc == "grpc-svc" && i%5 == 0 {
						sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "unavailable"}
					}
				}
			}
		}
		if res := v.Store().Ingest(rss); res.Rejected != 0 {
			t.Fatalf("ingest: %+v", res)
		}
	}
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate("http://"+addrs.UI+"/monitor"), chromedp.WaitVisible(chromedp.CSS(`.red-row`)))
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[map[string][]int](`Object.fromEntries([...document.querySelectorAll(".red-row")].map((r) =>
		[r.dataset.name, ["rate", "errors", "latency"].map((c) => r.querySelectorAll('[data-chart="' + c + '"] .series path').length)]))`))
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"amqp-svc", "grpc-svc", "http-cache-svc", "http-sec-svc", "http-svc", "kafka-svc", "sqs-svc"} {
		// A line for the rate, one for errors, three for p50, p95 and p99.
		if got := rows[svc]; !slices.Equal(got, []int{1, 1, 3}) {
			t.Errorf("%s: chart lines %v, want [1 1 3]", svc, got)
		}
	}
	if len(rows) != 7 {
		t.Errorf("monitor rows %v, want the seven services", rows)
	}
	noFontGlyphs(t, ctx)
	screenshotDocs(t, ctx, "monitor.png")
	do(t, ctx, chromedp.Click(chromedp.CSS(`.red-row[data-name="sqs-svc"] a`)), chromedp.WaitVisible(chromedp.CSS(`.red-row[data-name="process patron"]`)))
	ops, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".red-row")].map((r) => r.dataset.name)`))
	if !slices.Equal(ops, []string{"sqs-svc", "process patron"}) { // the client spans are not counted
		t.Errorf("sqs-svc monitor rows %v", ops)
	}
}

// TestBrowserMetrics shows the instruments a service exported, a chart each,
// and follows a histogram's exemplar to its trace.
func TestBrowserMetrics(t *testing.T) {
	v, addrs := startViewer(t)
	now := time.Now().Add(-time.Minute)
	rss, trace, _, _ := demoApp(now, 1)
	v.Store().Ingest(rss)
	root := sid(0x100 + 0x6000)
	var sums []*metricspb.NumberDataPoint
	var hps []*metricspb.HistogramDataPoint
	for i := range 6 {
		ts := uint64(now.Add(time.Duration(i-5) * 10 * time.Second).UnixNano())
		sums = append(sums, &metricspb.NumberDataPoint{TimeUnixNano: ts, Value: &metricspb.NumberDataPoint_AsInt{AsInt: int64(10 * (i + 1))},
			Attributes: []*commonpb.KeyValue{kv("http.route", "/api")}})
		hp := &metricspb.HistogramDataPoint{TimeUnixNano: ts, Count: uint64(10 * (i + 1)), Sum: proto.Float64(0.06 * float64(10*(i+1))),
			ExplicitBounds: []float64{0.01, 0.05, 0.1, 0.5}, BucketCounts: []uint64{0, uint64(3 * (i + 1)), uint64(6 * (i + 1)), uint64(i + 1), 0}}
		if i == 5 {
			hp.Exemplars = []*metricspb.Exemplar{{TimeUnixNano: ts, Value: &metricspb.Exemplar_AsDouble{AsDouble: 0.06}, TraceId: trace, SpanId: root}}
		}
		hps = append(hps, hp)
	}
	req := &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", "http-svc")}},
		ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: &commonpb.InstrumentationScope{Name: "github.com/patron-go/patron"}, Metrics: []*metricspb.Metric{
			{Name: "http.server.request.duration", Unit: "s", Description: "Duration of HTTP server requests.",
				Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE, DataPoints: hps}}},
			{Name: "http.server.requests", Unit: "{request}",
				Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{IsMonotonic: true, AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE, DataPoints: sums}}},
		}}},
	}}}
	postOTLP(t, "http://"+addrs.OTLPHTTP+"/v1/metrics", req)
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate("http://"+addrs.UI+"/metrics?service=http-svc"), chromedp.WaitVisible(chromedp.CSS(`.met-card`)))
	cards, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]int](`Object.fromEntries([...document.querySelectorAll(".met-card")].map((c) => [c.dataset.instrument, c.querySelectorAll(".series path").length]))`))
	if err != nil {
		t.Fatal(err)
	}
	if cards["http.server.request.duration"] != 1 || cards["http.server.requests"] != 1 || len(cards) != 2 {
		t.Errorf("instrument cards (chart lines): %v", cards)
	}
	noFontGlyphs(t, ctx)
	screenshotDocs(t, ctx, "metrics.png")
	do(t, ctx, chromedp.Click(chromedp.CSS(`.met-card[data-instrument="http.server.request.duration"] .exemplar-link`)),
		chromedp.WaitVisible(chromedp.CSS(`.wf-row.selected[data-span-id="`+hex.EncodeToString(root)+`"]`)))
}
