package traceview

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/patron-go/patron/patrontest/testenv"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts a headless Chromium for the test, or skips when there is
// none (and fails instead in CI, where PATRON_INTEGRATION=1 says it must be
// there).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			path = p
		} else {
			testenv.Unavailable(t, "Chromium not installed (want "+chromiumPath+"; apt-get install chromium)")
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		bcancel()
		acancel()
	})
	// Start the browser on a context without a deadline (a deadline on the
	// first run would bound the browser's life), then bound the test.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	do(t, ctx, evaluate(`window.scrollTo(0, 0)`))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// screenshotDocs saves a screenshot in the artifact directory, and for the
// README in docs/ when PATRON_UPDATE_DOCS=1 (or the picture is missing):
// the pictures show times, so rewriting them on every run would leave every
// checkout modified.
func screenshotDocs(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	screenshot(t, ctx, name)
	if t.Failed() {
		return // keep the last good picture
	}
	if _, err := os.Stat(filepath.Join("..", "docs", name)); err == nil && os.Getenv("PATRON_UPDATE_DOCS") != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", name), png, 0o644); err != nil {
		t.Errorf("saving docs/%s: %v", name, err)
	}
}

// TestBrowserUI drives the web UI in headless Chromium: search a service,
// open a trace, check every span is on the waterfall, use the keyboard and
// follow a link to another trace.
func TestBrowserUI(t *testing.T) {
	v, addrs := startViewer(t)
	rss, checkout, nSpans := demoTraces(time.Now().Add(-90*time.Second), 1)
	if res := v.Store().Ingest(rss); res.Rejected != 0 {
		t.Fatalf("ingest: %+v", res)
	}
	// Some background traffic so the result list has more than one entry.
	more, _, _ := demoTraces(time.Now().Add(-5*time.Minute), 2)
	v.Store().Ingest(more)
	// The seven-service messaging chain, for the dependency graph.
	chain, _, _ := demoChain(time.Now().Add(-3*time.Minute), 1)
	v.Store().Ingest(chain)
	checkoutID := hex.EncodeToString(checkout)
	ctx := browser(t)
	base := "http://" + addrs.UI

	// "/" redirects to the search page, which lists the services.
	do(t, ctx, chromedp.Navigate(base+"/"),
		chromedp.WaitReady(chromedp.CSS(`#service option[value="payment"]`)))
	if u, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(u, "/search") {
		t.Errorf("/ went to %s, want /search", u)
	}
	do(t, ctx, chromedp.SetValue(chromedp.ID("service"), "payment"),
		evaluate(`document.getElementById("service").dispatchEvent(new Event("change"))`),
		chromedp.WaitReady(chromedp.CSS(`#operation option[value="POST /payments"]`)),
		chromedp.Focus(chromedp.ID("limit")),
		chromedp.KeyEvent(kb.Enter), // Enter submits
		chromedp.WaitVisible(chromedp.CSS(`.result[data-trace-id="`+checkoutID+`"]`)))
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".result").length`))
	noFontGlyphs(t, ctx)
	if err != nil || n != 2 {
		t.Errorf("result list has %d traces (err %v), want 2", n, err)
	}
	screenshot(t, ctx, "traceview-search.png")

	// Open the trace: every span must be on the waterfall.
	do(t, ctx, chromedp.Click(chromedp.CSS(`.result[data-trace-id="`+checkoutID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.wf-row`)))
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".wf-row")].map(r => r.dataset.spanId)`))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range nSpans {
		want = append(want, hex.EncodeToString(sid(0x100+uint64(i))))
	}
	slices.Sort(ids)
	if !slices.Equal(ids, want) {
		t.Errorf("waterfall shows spans %v, want %v", ids, want)
	}
	errRows, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".span-bar.error").length`))
	if errRows != 2 {
		t.Errorf("%d spans drawn as errors, want 2", errRows)
	}

	// Keyboard: the root row has focus; ↓ then Enter opens the details of
	// the second row, ← on the root collapses the tree.
	do(t, ctx, chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`.detail`)))
	detail, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.detail h3`)))
	if detail != "GET /cart" {
		t.Errorf("details opened for %q, want GET /cart", detail)
	}
	// Open the payment span's details too, for the screenshot.
	do(t, ctx, chromedp.Click(chromedp.CSS(`.wf-row[data-span-id="`+hex.EncodeToString(sid(0x106))+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.detail .events`+`, .detail .event`)))
	noFontGlyphs(t, ctx)
	screenshot(t, ctx, "traceview-trace.png")

	do(t, ctx, chromedp.Focus(chromedp.CSS(`.wf-row[data-span-id="`+hex.EncodeToString(sid(0x100))+`"]`)),
		chromedp.KeyEvent(kb.ArrowLeft))
	rows, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".wf-row").length`))
	if rows != 1 {
		t.Errorf("after collapsing the root, %d rows are shown, want 1", rows)
	}

	// Links: the shipping consumer links to the producer in the checkout
	// trace; following it lands on that span.
	do(t, ctx, chromedp.Navigate(base+"/search?service=shipping&lookback=1h&limit=20"),
		chromedp.WaitVisible(chromedp.CSS(`.result`)),
		chromedp.Click(chromedp.CSS(`.result`)),
		chromedp.WaitVisible(chromedp.CSS(`.wf-row`)),
		chromedp.Click(chromedp.CSS(`.wf-row`)),
		// The link says where it goes: another trace, and which span there
		// (looked up from the store).
		chromedp.WaitVisible(chromedp.CSS(`.detail a[data-ref="FOLLOWS_FROM"][data-same-trace="false"] .ref-target .dot`)))
	chip, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.detail a[data-ref="FOLLOWS_FROM"]`)))
	for _, want := range []string{"Link", "other trace", "frontend", "orders publish", checkoutID, hex.EncodeToString(sid(0x108))} {
		if !strings.Contains(chip, want) {
			t.Errorf("link chip %q does not say %q", chip, want)
		}
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".wf-row .link-badge.external svg").length`)); n != 1 {
		t.Errorf("%d rows show a link icon to another trace, want 1", n)
	}
	noFontGlyphs(t, ctx)
	screenshot(t, ctx, "traceview-link.png")
	do(t, ctx, chromedp.Click(chromedp.CSS(`.detail a[data-ref="FOLLOWS_FROM"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.wf-row.selected[data-span-id="`+hex.EncodeToString(sid(0x108))+`"]`)))
	if u, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(u, "/trace/"+checkoutID) {
		t.Errorf("link went to %s, want the checkout trace", u)
	}

	// The dependency graph draws every service that calls or is called.
	do(t, ctx, chromedp.Navigate(base+"/dependencies"), chromedp.WaitVisible(chromedp.CSS(`.graph svg .node`)))
	nodes, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".graph .node").length`))
	if nodes != 10 { // frontend, cart, payment, inventory; gateway, auth, orders, billing, shipping, notifier
		t.Errorf("dependency graph has %d nodes, want 10", nodes)
	}
	// Readable: the chain runs left to right, nothing overlaps, and the graph
	// fits the page without a scroll bar.
	layout, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
		const boxes = [...document.querySelectorAll(".graph .node rect:first-of-type, .graph .edge-label rect")].map((r) => r.getBoundingClientRect());
		let overlaps = 0;
		for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
			const a = boxes[i], b = boxes[j];
			if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) overlaps++;
		}
		const x = {};
		for (const g of document.querySelectorAll(".graph .node")) x[g.querySelector("title").textContent] = g.getBoundingClientRect().left;
		const panel = document.querySelector(".graph");
		return { overlaps, labels: document.querySelectorAll(".graph .edge-label").length, x, scroll: panel.scrollWidth - panel.clientWidth };
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if layout["overlaps"].(float64) != 0 || layout["labels"].(float64) != 9 || layout["scroll"].(float64) > 0 {
		t.Errorf("dependency graph layout: %v; want no overlaps, 9 edge labels, no horizontal scroll", layout)
	}
	x := layout["x"].(map[string]any)
	chainOrder := []string{"gateway", "orders", "inventory", "billing", "shipping", "notifier"}
	for i := 1; i < len(chainOrder); i++ {
		if x[chainOrder[i]].(float64) <= x[chainOrder[i-1]].(float64) {
			t.Errorf("%s is not right of %s in the dependency graph: %v", chainOrder[i], chainOrder[i-1], x)
		}
	}
	noFontGlyphs(t, ctx)
	screenshot(t, ctx, "traceview-dependencies.png")
}

// noFontGlyphs fails the test if the page shows a character that needs a
// symbol or emoji font: those render as empty boxes on machines without one
// (Debian's headless Chromium among them), so icons must be SVG or CSS.
// Latin-1 and the common punctuation (… ·) are in every font.
func noFontGlyphs(t *testing.T, ctx context.Context) {
	t.Helper()
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
		const out = [];
		const ok = (c) => c < 0x2000 || c === 0x2026 || c === 0x2013 || c === 0x2014 || c === 0x2019;
		const check = (text, where) => { for (const ch of text) if (!ok(ch.codePointAt(0))) out.push(where + ": U+" + ch.codePointAt(0).toString(16).toUpperCase()); };
		const walk = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
		for (let n = walk.nextNode(); n; n = walk.nextNode()) check(n.textContent, n.parentElement ? n.parentElement.className || n.parentElement.tagName : "?");
		for (const el of document.querySelectorAll("*")) {
			for (const a of ["title", "placeholder", "aria-label"]) if (el.getAttribute(a)) check(el.getAttribute(a), el.tagName + "[" + a + "]");
			for (const p of ["::before", "::after"]) {
				const c = getComputedStyle(el, p).content;
				if (c && c !== "none" && c !== "normal") check(c, el.tagName + p);
			}
		}
		return [...new Set(out)];
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("the page shows characters that need a symbol font: %v", bad)
	}
}

// evaluate runs JavaScript for its effect only.
func evaluate(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](js)(ctx, tg)
		return chromedp.Void{}, err
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for i, step := range steps {
		if err := chromedp.Do(ctx, step); err != nil {
			// Leave a picture of the page for whoever reads the failure.
			if png, serr := chromedp.Run(context.WithoutCancel(ctx), chromedp.FullScreenshot(100)); serr == nil {
				p := filepath.Join(artifactDir(t), "traceview-failure.png")
				if os.WriteFile(p, png, 0o644) == nil {
					t.Logf("failure screenshot: %s", p)
				}
			}
			t.Fatalf("browser step %d: %v", i, err)
		}
	}
}

// TestBrowserServiceColors opens a trace of the demo's seven services: each
// gets its own colour, on the service chips and on its span bars, and the
// same colour on the search page.
func TestBrowserServiceColors(t *testing.T) {
	v, addrs := startViewer(t)
	rss, trace, _, _ := demoApp(time.Now().Add(-time.Minute), 1)
	if res := v.Store().Ingest(rss); res.Rejected != 0 {
		t.Fatalf("ingest: %+v", res)
	}
	ctx := browser(t)
	base := "http://" + addrs.UI
	do(t, ctx, chromedp.Navigate(base+"/trace/"+hex.EncodeToString(trace)), chromedp.WaitVisible(chromedp.CSS(`.wf-row`)))
	colors := serviceColors(t, ctx)
	want := []string{"amqp-svc", "grpc-svc", "http-cache-svc", "http-sec-svc", "http-svc", "kafka-svc", "sqs-svc"}
	seen := map[string]string{}
	for _, svc := range want {
		c, ok := colors[svc]
		if !ok {
			t.Errorf("no colour for %s: %v", svc, colors)
			continue
		}
		if other, dup := seen[c]; dup {
			t.Errorf("%s and %s share colour %s", svc, other, c)
		}
		seen[c] = svc
	}
	// Bars take their service's colour.
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[map[string][]string](`(() => {
		const out = {};
		for (const r of document.querySelectorAll(".wf-row")) {
			const svc = r.querySelector(".svc").textContent, c = r.querySelector(".span-bar").style.background;
			(out[svc] = out[svc] || []).includes(c) || out[svc].push(c);
		}
		return out;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	for svc, cs := range bars {
		if len(cs) != 1 || cs[0] != colors[svc] {
			t.Errorf("%s bars are %v, want %s", svc, cs, colors[svc])
		}
	}
	noFontGlyphs(t, ctx)
	screenshot(t, ctx, "traceview-demo.png")

	// The search page gives each service the same colour as the trace did.
	do(t, ctx, chromedp.Navigate(base+"/search?service=http-svc&lookback=1h&limit=20"), chromedp.WaitVisible(chromedp.CSS(`.result .chip`)))
	chips, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll(".result .chip")].map((c) => [c.textContent.replace(/ \(\d+\)$/, ""), c.querySelector(".dot").style.background]))`))
	if err != nil {
		t.Fatal(err)
	}
	for svc, c := range chips {
		if c != colors[svc] {
			t.Errorf("%s is %s on the search page, %s on the trace page", svc, c, colors[svc])
		}
	}
}

// serviceColors reads the colour of each service from the trace page's chips.
func serviceColors(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	colors, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll(".trace-services .chip")].map((c) => [c.textContent.replace(/ \(\d+\)$/, ""), c.querySelector(".dot").style.background]))`))
	if err != nil {
		t.Fatal(err)
	}
	return colors
}

// TestBrowserCriticalPath opens the demo-shaped trace: the critical path runs
// from the root through every hand-off (HTTP, Kafka, RabbitMQ, SQS, gRPC)
// along the delivery that finished last, and leaves out the SNS delivery
// that finished first. Its segments never overlap and end where the trace
// ends.
func TestBrowserCriticalPath(t *testing.T) {
	v, addrs := startViewer(t)
	now := time.Now().Add(-time.Minute)
	rss, trace, nSpans, off := demoApp(now, 1)
	if res := v.Store().Ingest(rss); res.Rejected != 0 {
		t.Fatalf("ingest: %+v", res)
	}
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate("http://"+addrs.UI+"/trace/"+hex.EncodeToString(trace)), chromedp.WaitVisible(chromedp.CSS(`.wf-row.cp`)))
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
		const rows = [...document.querySelectorAll(".wf-row")];
		const segs = [];
		for (const r of document.querySelectorAll(".wf-row.cp .cp-seg")) segs.push([parseFloat(r.style.left), parseFloat(r.style.width)]);
		return { cp: rows.filter((r) => r.classList.contains("cp")).map((r) => r.dataset.spanId),
			faded: rows.filter((r) => r.querySelector(".span-bar.off-cp")).map((r) => r.dataset.spanId), segs,
			meta: document.querySelector(".trace-meta .cp-meta").textContent };
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	offSet := map[int]bool{}
	for _, i := range off {
		offSet[i] = true
	}
	var wantCP, wantOff []string
	for i := range nSpans {
		id := hex.EncodeToString(sid(0x100 + 0x6000 + uint64(i)))
		if offSet[i] {
			wantOff = append(wantOff, id)
		} else {
			wantCP = append(wantCP, id)
		}
	}
	strs := func(v any) []string {
		var out []string
		for _, x := range v.([]any) {
			out = append(out, x.(string))
		}
		slices.Sort(out)
		return out
	}
	slices.Sort(wantCP)
	slices.Sort(wantOff)
	if cp := strs(got["cp"]); !slices.Equal(cp, wantCP) {
		t.Errorf("critical path spans %v, want %v", cp, wantCP)
	}
	if faded := strs(got["faded"]); !slices.Equal(faded, wantOff) {
		t.Errorf("faded spans %v, want %v", faded, wantOff)
	}
	if meta := got["meta"].(string); meta != fmt.Sprintf("Critical Path %d spans", len(wantCP)) {
		t.Errorf("trace header says %q", meta)
	}
	// The segments tile the trace without overlapping; the only gaps are
	// the time messages waited in a queue, and the last one ends at 100%.
	type seg struct{ l, r float64 }
	var segs []seg
	for _, x := range got["segs"].([]any) {
		p := x.([]any)
		segs = append(segs, seg{p[0].(float64), p[0].(float64) + p[1].(float64)})
	}
	slices.SortFunc(segs, func(a, b seg) int { return cmp.Compare(a.l, b.l) })
	for i := 1; i < len(segs); i++ {
		if segs[i].l < segs[i-1].r-0.01 {
			t.Errorf("critical path segments overlap: %v and %v", segs[i-1], segs[i])
		}
	}
	if len(segs) == 0 || segs[0].l > 0.01 || math.Abs(segs[len(segs)-1].r-100) > 0.01 {
		t.Errorf("critical path segments %v do not span the trace", segs)
	}
	noFontGlyphs(t, ctx)
	screenshotDocs(t, ctx, "critical-path.png")

	// The toggle turns the highlight off.
	do(t, ctx, chromedp.Click(chromedp.CSS(`.cp-toggle`)))
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".cp-seg, .off-cp, .wf-row.cp").length`)); n != 0 {
		t.Errorf("%d critical-path marks remain after turning it off", n)
	}
}

// TestBrowserCompare compares the demo-shaped trace with a later one in
// which the SNS delivery is gone, kafka-svc's INSERT is slower and kafka-svc
// makes a new Redis call: the page names each change per service and
// operation, and marks the spans on both sides.
func TestBrowserCompare(t *testing.T) {
	v, addrs := startViewer(t)
	now := time.Now().Add(-2 * time.Minute)
	a, ta, _, _ := demoApp(now, 1)
	b, tb, _, _ := demoApp(now.Add(time.Minute), 2)
	base := uint64(0x200 + 0x6000)
	gone := map[string]bool{}
	for _, i := range []uint64{11, 13, 14, 15} {
		gone[string(sid(base+i))] = true
	}
	for _, rs := range b {
		for _, ss := range rs.ScopeSpans {
			ss.Spans = slices.DeleteFunc(ss.Spans, func(sp *tracepb.Span) bool { return gone[string(sp.SpanId)] })
			var extra []*tracepb.Span
			for _, sp := range ss.Spans {
				if sp.Name == "INSERT patron_users" {
					sp.EndTimeUnixNano += uint64(30 * time.Millisecond)
				}
				if sp.Name == "process patron-topic" {
					extra = append(extra, &tracepb.Span{TraceId: tb, SpanId: sid(base + 0x50), ParentSpanId: sp.SpanId, Name: "GET",
						Kind: tracepb.Span_SPAN_KIND_CLIENT, StartTimeUnixNano: sp.StartTimeUnixNano + 1e6, EndTimeUnixNano: sp.StartTimeUnixNano + 3e6,
						Attributes: []*commonpb.KeyValue{kv("db.system.name", "redis")}})
				}
			}
			ss.Spans = append(ss.Spans, extra...)
		}
	}
	for _, rss := range [][]*tracepb.ResourceSpans{a, b} {
		if res := v.Store().Ingest(rss); res.Rejected != 0 {
			t.Fatalf("ingest: %+v", res)
		}
	}
	ida, idb := hex.EncodeToString(ta), hex.EncodeToString(tb)
	ctx := browser(t)
	// Pick the two traces in the search results.
	do(t, ctx, chromedp.Navigate("http://"+addrs.UI+"/search?service=http-svc&lookback=1h&limit=20"),
		chromedp.WaitVisible(chromedp.CSS(`.cmp-pick[value="`+idb+`"]`)),
		chromedp.Click(chromedp.CSS(`.cmp-pick[value="`+ida+`"]`)),
		chromedp.Click(chromedp.CSS(`.cmp-pick[value="`+idb+`"]`)),
		chromedp.Click(chromedp.ID("compare-picked")),
		chromedp.WaitVisible(chromedp.CSS(`#cmp-side-b .cmp-span`)))
	if u, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(u, "/compare?a="+ida+"&b="+idb) {
		t.Errorf("compare went to %s", u)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".cmp-row")].map((r) => r.dataset.status + " " + r.dataset.service + " " + r.dataset.op)`))
	if err != nil {
		t.Fatal(err)
	}
	const hello = "patron.examples.demo.Greeter/SayHello"
	want := []string{
		"added kafka-svc GET",
		"missing amqp-svc publish patron-topic",
		"missing grpc-svc " + hello, "missing sqs-svc " + hello, "missing sqs-svc process patron",
		"slower kafka-svc INSERT patron_users",
	}
	if !slices.Equal(rows, want) {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	marks, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]int](`(() => {
		const n = (sel) => document.querySelectorAll(sel).length;
		return { aMissing: n("#cmp-side-a .cmp-span.missing"), bMissing: n("#cmp-side-b .cmp-span.missing"),
			bAdded: n("#cmp-side-b .cmp-span.added"), aAdded: n("#cmp-side-a .cmp-span.added"),
			slower: n("#cmp-side-b .cmp-span.slower"), a: n("#cmp-side-a .cmp-span"), b: n("#cmp-side-b .cmp-span") };
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	// A shows both deliveries as missing (B has one of each of three
	// operations where A has two, and no SNS publish at all): 1 + 2×3.
	if want := map[string]int{"aMissing": 7, "bMissing": 0, "bAdded": 1, "aAdded": 0, "slower": 1, "a": 19, "b": 16}; !maps.Equal(marks, want) {
		t.Errorf("side by side marks %v, want %v", marks, want)
	}
	noFontGlyphs(t, ctx)
	screenshotDocs(t, ctx, "compare.png")

	// From a trace, Compare offers the other traces of the same operation.
	do(t, ctx, chromedp.Navigate("http://"+addrs.UI+"/trace/"+ida),
		chromedp.WaitVisible(chromedp.CSS(`.trace-tools a[href^="/compare"]`)),
		chromedp.Click(chromedp.CSS(`.trace-tools a[href^="/compare"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#compare .result[href="/compare?a=`+ida+`&b=`+idb+`"]`)))
}

// TestBrowserCriticalPathHostile opens traces no SDK would send: two spans
// that are each other's parent and link to themselves, and a chain 3,000
// spans deep. The page draws them and a critical path, without hanging or
// overflowing the stack.
func TestBrowserCriticalPathHostile(t *testing.T) {
	v, addrs := startViewer(t)
	now := uint64(time.Now().Add(-time.Minute).UnixNano())
	cycle, deep := tid(0x9001), tid(0x9002)
	res := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", "hostile")}}
	spans := []*tracepb.Span{
		{TraceId: cycle, SpanId: sid(1), ParentSpanId: sid(2), Name: "a", StartTimeUnixNano: now, EndTimeUnixNano: now + 5e6,
			Links: []*tracepb.Span_Link{{TraceId: cycle, SpanId: sid(1)}}},
		{TraceId: cycle, SpanId: sid(2), ParentSpanId: sid(1), Name: "b", StartTimeUnixNano: now + 1e6, EndTimeUnixNano: now + 4e6,
			Links: []*tracepb.Span_Link{{TraceId: cycle, SpanId: sid(1)}}},
	}
	const depth = 3000
	for i := range depth {
		sp := &tracepb.Span{TraceId: deep, SpanId: sid(uint64(100 + i)), Name: fmt.Sprintf("level %d", i),
			StartTimeUnixNano: now + uint64(i)*1000, EndTimeUnixNano: now + uint64(2*depth-i)*1000}
		if i > 0 {
			sp.ParentSpanId = sid(uint64(99 + i))
		}
		spans = append(spans, sp)
	}
	if r := v.Store().Ingest([]*tracepb.ResourceSpans{{Resource: res, ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}}}}); r.Rejected != 0 {
		t.Fatalf("ingest: %+v", r)
	}
	ctx := browser(t)
	for id, want := range map[string]int{hex.EncodeToString(cycle): 2, hex.EncodeToString(deep): depth} {
		do(t, ctx, chromedp.Navigate("http://"+addrs.UI+"/trace/"+id), chromedp.WaitVisible(chromedp.CSS(`.wf-row.cp`)))
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.querySelectorAll(".wf-row").length, document.querySelectorAll(".wf-row.cp").length]`))
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != want || got[1] < 1 {
			t.Errorf("trace %s: %d rows, %d on the critical path; want %d rows and a path", id, got[0], got[1], want)
		}
		if id == hex.EncodeToString(deep) && got[1] != depth {
			t.Errorf("deep chain: %d spans on the critical path, want all %d", got[1], depth)
		}
	}
}
