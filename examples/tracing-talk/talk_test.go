package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/patrontest/testenv"
	"github.com/patron-go/patron/traceview"
)

// TestTracingTalk runs the whole chat on free ports, posts "/giphy cats",
// and checks that the message is stored, enriched and streamed, and that its
// one trace crosses all four services with the spans, kinds, parents and
// links of an asynchronous fan-out. It runs against the real Redis when one
// answers (CI) and always against miniredis.
func TestTracingTalk(t *testing.T) {
	t.Run("miniredis", func(t *testing.T) { testTalk(t, "") })
	t.Run("redis", func(t *testing.T) {
		testenv.RequireTCP(t, "redis", testenv.RedisAddr)
		testTalk(t, testenv.RedisAddr)
	})
}

func testTalk(t *testing.T, redisAddr string) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	// Spans reach the viewer a tenth of a second after they end, not five.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	// Log records and metrics too, for the console.
	t.Setenv("OTEL_BLRP_SCHEDULE_DELAY", "100")
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "500")

	prefix := "tracing-talk-test-" + uuid.NewString() + ":"
	room := "room-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	if redisAddr != "" {
		defer deleteRoom(t, redisAddr, prefix, room)
	}
	eps, stop := startTalk(t, redisAddr, prefix)
	defer stop()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

	// Bad input is refused, not published.
	if resp, _ := postJSON(t, hc, eps.Chat+"/messages", `{"room":"no spaces","author":"a","text":"b"}`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("invalid room: status %d, want 400", resp.StatusCode)
	}

	// The page, with the viewer's address for the trace links.
	if page := get(t, hc, eps.Chat+"/"); !strings.Contains(page, "<title>Tracing Talk</title>") || !strings.Contains(page, eps.Viewer) {
		t.Errorf("GET /: no page linking to %s:\n%s", eps.Viewer, page)
	}

	// Subscribe before posting, so the stream sees both versions. The
	// stream's context is not run's: the chat itself must end it on shutdown.
	streamCtx, stopStream := context.WithCancel(t.Context())
	events, streamDone := openStream(t, streamCtx, eps.Chat, room)
	defer func() { stopStream(); <-streamDone }()

	resp, body := postJSON(t, hc, eps.Chat+"/messages", fmt.Sprintf(`{"room":%q,"author":"yuri","text":"/giphy cats"}`, room))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /messages: status %d, want 202: %s", resp.StatusCode, body)
	}
	var posted message
	if err := json.Unmarshal(body, &posted); err != nil {
		t.Fatal(err)
	}
	traceID := resp.Header.Get("X-Trace-Id")
	if posted.ID == "" || len(traceID) != 32 {
		t.Fatalf("posted %+v with trace ID %q", posted, traceID)
	}
	wantImage := eps.Images + "/img/cats.svg"

	// Stored and enriched, as GET /messages (Redis) tells.
	var stored []message
	waitFor(t, "the message stored with its image", func() bool {
		stored = getMessages(t, hc, eps.Chat, room)
		return len(stored) == 1 && stored[0].Image != ""
	})
	if got := stored[0]; got.ID != posted.ID || got.Text != "/giphy cats" || got.Author != "yuri" || got.Image != wantImage {
		t.Fatalf("stored %+v, want %+v with image %s", got, posted, wantImage)
	}

	// Streamed: the enriched version arrives (after the plain one, or alone
	// if storage saw the update first).
	timeout := time.After(30 * time.Second)
	for enriched := false; !enriched; {
		select {
		case m := <-events:
			if m.ID != posted.ID {
				t.Fatalf("stream of %s sent %+v", room, m)
			}
			enriched = m.Image == wantImage
		case <-timeout:
			t.Fatal("the stream did not send the enriched message within 30s")
		}
	}

	// The image itself is served without internet.
	img, err := hc.Get(wantImage)
	if err != nil {
		t.Fatal(err)
	}
	svg, _ := io.ReadAll(img.Body)
	_ = img.Body.Close()
	if img.StatusCode != http.StatusOK || img.Header.Get("Content-Type") != "image/svg+xml" || !bytes.Contains(svg, []byte(">cats</text>")) {
		t.Fatalf("image: status %d, %s: %s", img.StatusCode, img.Header.Get("Content-Type"), svg)
	}

	checkTrace(t, hc, eps.Viewer, traceID)
	checkConsole(t, hc, eps.Viewer, traceID)

	// Each service counted its work on its own /metrics (storage publishes
	// with its own franz-go client, which counts nothing: see storage.go).
	for svc, names := range map[string][]string{
		"chat-api":     {"http_server_request_duration_seconds_count", "messaging_client_sent_messages_total", "messaging_process_duration_seconds_count"},
		"storage":      {"messaging_process_duration_seconds_count", "db_client_operation_duration_seconds_count"},
		"giphy":        {"messaging_process_duration_seconds_count", "http_client_request_duration_seconds_count", "messaging_client_sent_messages_total"},
		"giphy-images": {"http_server_request_duration_seconds_count"},
	} {
		metrics := get(t, hc, eps.Services[svc]+"/metrics")
		for _, name := range names {
			if !counted(metrics, name) {
				t.Errorf("%s /metrics: no non-zero %s", svc, name)
			}
		}
	}

	// Shutting down ends the open stream (otherwise the HTTP server could
	// not drain and run would report the shutdown timeout).
	stop()
	select {
	case <-streamDone:
	case <-time.After(30 * time.Second):
		t.Error("the stream is still open after the chat stopped")
	}
}

// startTalk runs the chat on free ports with a fresh embedded Kafka and
// returns its endpoints once it is ready, and the function that stops it and
// reports run's error (idempotent).
func startTalk(t *testing.T, redisAddr, prefix string) (endpoints, func()) {
	t.Helper()
	cfg := config{
		chatAddr: "127.0.0.1:0", imagesAddr: "127.0.0.1:0",
		viewerAddr: "127.0.0.1:0", otlpHTTPAddr: "127.0.0.1:0", otlpGRPCAddr: "127.0.0.1:0",
		redisAddr: redisAddr, keyPrefix: prefix,
		logs: t.Output(), logLevel: slog.LevelInfo, // info: the access logs reach the viewer
	}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan endpoints, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, func(eps endpoints) { ready <- eps }) }()
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	select {
	case eps := <-ready:
		return eps, stop
	case err := <-done:
		done <- err
		stop()
		t.Fatalf("run stopped before it was ready: %v", err)
	case <-time.After(time.Minute):
		stop()
		t.Fatal("not ready within a minute")
	}
	return endpoints{}, stop
}

// checkTrace asserts the shape of the message's trace, polling the viewer's
// query API until every expected span has arrived.
func checkTrace(t *testing.T, hc *http.Client, viewer, traceID string) {
	t.Helper()
	want := []struct {
		service, name, kind string
		n                   int
	}{
		{"chat-api", "POST /messages", "server", 1},
		{"chat-api", "publish message", "producer", 1},
		{"storage", "process message", "consumer", 1},
		{"giphy", "process message", "consumer", 1},
		{"giphy", "GET", "client", 1},
		{"giphy-images", "GET /search", "server", 1},
		{"giphy", "publish message-updated", "producer", 1},
		{"storage", "process message-updated", "consumer", 1},
		{"storage", "store message", "internal", 1},
		{"storage", "store message-updated", "internal", 1},
		{"storage", "publish message-stored", "producer", 2},
		{"chat-api", "process message-stored", "consumer", 2},
	}
	var tr *traceTree
	if !poll(func() bool {
		// Spans arrive as each service's batch goes out, in no set order.
		if tr = fetchTrace(t, hc, viewer, traceID); tr == nil {
			return false
		}
		for _, w := range want {
			if len(tr.find(w.service, w.name, w.kind)) < w.n {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("trace %s incomplete after 30s; it holds:\n%s", traceID, tr)
	}

	server := tr.one(t, "chat-api", "POST /messages", "server")
	if p := tr.parent(server); p != "" {
		t.Errorf("POST /messages has parent %s, want a root span", p)
	}
	publish := tr.one(t, "chat-api", "publish message", "producer")
	tr.wantParent(t, publish, server)

	// Fan-out: storage and giphy both continue the producer's span, with a
	// link to it as the messaging conventions ask.
	storeNew := tr.one(t, "storage", "process message", "consumer")
	tr.wantParentAndLink(t, storeNew, publish)
	giphyIn := tr.one(t, "giphy", "process message", "consumer")
	tr.wantParentAndLink(t, giphyIn, publish)

	// giphy's synchronous call to giphy-images.
	call := tr.one(t, "giphy", "GET", "client")
	tr.wantParent(t, call, giphyIn)
	tr.wantParent(t, tr.one(t, "giphy-images", "GET /search", "server"), call)

	// The update: another asynchronous hand-off back to storage.
	update := tr.one(t, "giphy", "publish message-updated", "producer")
	tr.wantParent(t, update, giphyIn)
	storeUpdate := tr.one(t, "storage", "process message-updated", "consumer")
	tr.wantParentAndLink(t, storeUpdate, update)

	// storage is written against the OpenTracing API: under each of Patron's
	// CONSUMER spans, its own span follows from the producer's (a link,
	// which the viewer shows as FOLLOWS_FROM), and its Redis writes (Patron's
	// client) and its hand-injected PRODUCER span are that span's children.
	storeMsg := tr.one(t, "storage", "store message", "internal")
	tr.wantParent(t, storeMsg, storeNew)
	if !tr.linked(storeMsg, publish) {
		t.Errorf("store message does not follow from chat-api's publish message")
	}
	storeUpd := tr.one(t, "storage", "store message-updated", "internal")
	tr.wantParent(t, storeUpd, storeUpdate)
	if !tr.linked(storeUpd, update) {
		t.Errorf("store message-updated does not follow from giphy's publish message-updated")
	}

	// Each write is announced to chat-api, which streams it.
	announced := tr.find("storage", "publish message-stored", "producer")
	if len(announced) != 2 {
		t.Fatalf("%d publish message-stored spans, want 2", len(announced))
	}
	parents := map[string]bool{}
	for _, p := range announced {
		parents[tr.parent(p)] = true
		streamed := 0
		for _, c := range tr.find("chat-api", "process message-stored", "consumer") {
			if tr.parent(c) == p.SpanID && tr.linked(c, p) {
				streamed++
			}
		}
		if streamed != 1 {
			t.Errorf("publish message-stored %s: %d chat-api consumers with parent and link, want 1", p.SpanID, streamed)
		}
	}
	if !parents[storeMsg.SpanID] || !parents[storeUpd.SpanID] {
		t.Errorf("publish message-stored parents %v, want %s and %s", parents, storeMsg.SpanID, storeUpd.SpanID)
	}

	// Storage's Redis commands are in the trace too, under its OpenTracing
	// spans.
	redisSpans := 0
	for _, s := range tr.Spans {
		if tr.service(s) == "storage" && tr.kind(s) == "client" && strings.HasPrefix(s.OperationName, "BATCH") {
			if p := tr.parent(s); p != storeMsg.SpanID && p != storeUpd.SpanID {
				t.Errorf("storage's %q has parent %s, want one of its OpenTracing spans", s.OperationName, p)
			}
			redisSpans++
		}
	}
	if redisSpans < 2 {
		t.Errorf("%d Redis transactions of storage in the trace, want 2", redisSpans)
	}
}

type traceTree struct {
	traceview.Trace
	byID map[string]traceview.Span
}

func fetchTrace(t *testing.T, hc *http.Client, viewer, traceID string) *traceTree {
	t.Helper()
	resp, err := hc.Get(viewer + "/api/traces/" + traceID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var body struct {
		Data []traceview.Trace `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Data) != 1 {
		t.Fatalf("GET /api/traces/%s: status %d, %d traces, %v", traceID, resp.StatusCode, len(body.Data), err)
	}
	tr := &traceTree{Trace: body.Data[0], byID: map[string]traceview.Span{}}
	for _, s := range tr.Spans {
		if s.TraceID != traceID {
			t.Fatalf("span %s of trace %s in trace %s", s.SpanID, s.TraceID, traceID)
		}
		tr.byID[s.SpanID] = s
	}
	return tr
}

// String lists the spans, one a line, for failure messages.
func (tr *traceTree) String() string {
	if tr == nil {
		return "(not in the viewer)"
	}
	var b strings.Builder
	for _, s := range tr.Spans {
		fmt.Fprintf(&b, "  %s %s %q parent=%s refs=%v\n", tr.service(s), tr.kind(s), s.OperationName, tr.parent(s), s.References)
	}
	return b.String()
}

func (tr *traceTree) service(s traceview.Span) string { return tr.Processes[s.ProcessID].ServiceName }

func (tr *traceTree) kind(s traceview.Span) string {
	for _, kv := range s.Tags {
		if kv.Key == "span.kind" {
			v, _ := kv.Value.(string)
			return v
		}
	}
	return ""
}

func (tr *traceTree) find(service, name, kind string) []traceview.Span {
	var found []traceview.Span
	for _, s := range tr.Spans {
		if tr.service(s) == service && s.OperationName == name && tr.kind(s) == kind {
			found = append(found, s)
		}
	}
	return found
}

func (tr *traceTree) one(t *testing.T, service, name, kind string) traceview.Span {
	t.Helper()
	found := tr.find(service, name, kind)
	if len(found) != 1 {
		t.Fatalf("%d %s spans %q of %s, want 1", len(found), kind, name, service)
	}
	return found[0]
}

func (tr *traceTree) parent(s traceview.Span) string {
	for _, r := range s.References {
		if r.RefType == traceview.RefChildOf {
			return r.SpanID
		}
	}
	return ""
}

func (tr *traceTree) linked(s, to traceview.Span) bool {
	for _, r := range s.References {
		if r.RefType == traceview.RefFollowsFrom && r.TraceID == to.TraceID && r.SpanID == to.SpanID {
			return true
		}
	}
	return false
}

func (tr *traceTree) wantParent(t *testing.T, s, parent traceview.Span) {
	t.Helper()
	if got := tr.parent(s); got != parent.SpanID {
		t.Errorf("%s %q: parent %s, want %s (%s %q)", tr.service(s), s.OperationName, got,
			parent.SpanID, tr.service(parent), parent.OperationName)
	}
}

func (tr *traceTree) wantParentAndLink(t *testing.T, s, producer traceview.Span) {
	t.Helper()
	tr.wantParent(t, s, producer)
	if !tr.linked(s, producer) {
		t.Errorf("%s %q: no link to %s %q", tr.service(s), s.OperationName, tr.service(producer), producer.OperationName)
	}
}

// openStream reads the room's Server-Sent Events until ctx ends; it returns
// once the stream is open, so that later messages are not missed.
func openStream(t *testing.T, ctx context.Context, chat, room string) (<-chan message, <-chan struct{}) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, chat+"/stream?room="+url.QueryEscape(room), nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		_ = resp.Body.Close()
		t.Fatalf("GET /stream: status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan message, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var m message
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				t.Errorf("stream event %q: %v", data, err)
				return
			}
			select {
			case events <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return events, done
}

// postJSON posts body and returns the response with its body read.
func postJSON(t *testing.T, hc *http.Client, url, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := hc.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func get(t *testing.T, hc *http.Client, url string) string {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, %v", url, resp.StatusCode, err)
	}
	return string(body)
}

// counted reports whether the Prometheus text has a sample of name above 0.
func counted(metrics, name string) bool {
	for line := range strings.Lines(metrics) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(fields) > 0 && fields[0] != "0" {
			return true
		}
	}
	return false
}

func getMessages(t *testing.T, hc *http.Client, chat, room string) []message {
	t.Helper()
	var msgs []message
	if err := json.Unmarshal([]byte(get(t, hc, chat+"/messages?room="+room)), &msgs); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// waitFor polls cond for up to 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// poll reports whether cond became true within 30 seconds.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func deleteRoom(t *testing.T, addr, prefix, room string) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	order, bodies := store{prefix: prefix}.keys(room)
	if err := rdb.Del(context.Background(), order, bodies).Err(); err != nil {
		t.Errorf("deleting the test's keys: %v", err)
	}
}

// checkConsole asserts that the services' log records and metrics reach the
// viewer next to their spans: the trace's logs include chat-api's access log
// of the POST, linked to a span, and every service's instruments are listed.
func checkConsole(t *testing.T, hc *http.Client, viewer, traceID string) {
	t.Helper()
	type record struct {
		Service, TraceID, SpanID, Body string
	}
	waitFor(t, "chat-api's log records of the trace in the viewer", func() bool {
		var logs struct{ Data []record }
		if err := json.Unmarshal([]byte(get(t, hc, viewer+"/api/traces/"+traceID+"/logs")), &logs); err != nil {
			t.Fatal(err)
		}
		for _, r := range logs.Data {
			if r.Service == "chat-api" && r.TraceID == traceID && r.SpanID != "" {
				return true
			}
		}
		return false
	})
	for _, svc := range []string{"chat-api", "storage", "giphy", "giphy-images"} {
		waitFor(t, svc+"'s metrics in the viewer", func() bool {
			var instruments struct {
				Data []struct{ Service, Name string }
			}
			if err := json.Unmarshal([]byte(get(t, hc, viewer+"/api/instruments?points=1&service="+svc)), &instruments); err != nil {
				t.Fatal(err)
			}
			for _, in := range instruments.Data {
				if in.Service == svc && (strings.HasPrefix(in.Name, "messaging.") || strings.HasPrefix(in.Name, "http.server.")) {
					return true
				}
			}
			return false
		})
	}
}
