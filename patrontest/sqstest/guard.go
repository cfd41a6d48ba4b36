package sqstest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// guard serialises goaws's topology changes against everything else. goaws
// reads its queue and topic maps without locks in most handlers while
// CreateQueue, Subscribe and friends write them under a lock, which the race
// detector reports when the emulator runs inside a -race test binary. The
// guard takes a write lock for the changes and a read lock for the rest.
//
// A long poll would hold the read lock for up to 20 seconds and stall every
// topology change behind it, so the guard cuts ReceiveMessage's wait into
// one-second polls and releases the lock between them.
type guard struct {
	mu   sync.RWMutex
	next http.Handler
}

func newGuard(next http.Handler) *guard { return &guard{next: next} }

var topologyActions = map[string]bool{
	"CreateQueue":               true,
	"DeleteQueue":               true,
	"SetQueueAttributes":        true,
	"CreateTopic":               true,
	"DeleteTopic":               true,
	"Subscribe":                 true,
	"Unsubscribe":               true,
	"SetSubscriptionAttributes": true,
	"ConfirmSubscription":       true,
}

const jsonContentType = "application/x-amz-json-1.0"

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := ""
	isJSON := r.Header.Get("Content-Type") == jsonContentType
	if isJSON {
		target := r.Header.Get("X-Amz-Target")
		_, op, ok := strings.Cut(target, ".")
		if !ok {
			// goaws indexes the split target without a check and panics.
			http.Error(w, "missing or malformed X-Amz-Target", http.StatusBadRequest)
			return
		}
		action = op
	} else if r.Method == http.MethodPost || r.Method == http.MethodGet {
		action = r.FormValue("Action")
	}

	if topologyActions[action] {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.next.ServeHTTP(w, r)
		return
	}
	if action == "ReceiveMessage" && isJSON {
		g.receive(w, r)
		return
	}
	if action == "SendMessageBatch" && isJSON {
		g.sendBatch(w, r)
		return
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	g.next.ServeHTTP(w, r)
}

func (g *guard) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	var in map[string]any
	wait := 0.0
	if json.Unmarshal(body, &in) == nil {
		wait, _ = in["WaitTimeSeconds"].(float64)
	}
	if wait <= 1 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		g.mu.RLock()
		defer g.mu.RUnlock()
		g.next.ServeHTTP(w, r)
		return
	}

	deadline := time.Now().Add(time.Duration(wait * float64(time.Second)))
	in["WaitTimeSeconds"] = 1
	chunk, err := json.Marshal(in)
	if err != nil {
		http.Error(w, "encoding body", http.StatusInternalServerError)
		return
	}
	for {
		req := r.Clone(r.Context())
		req.Body = io.NopCloser(bytes.NewReader(chunk))
		req.ContentLength = int64(len(chunk))
		rec := httptest.NewRecorder()
		g.mu.RLock()
		g.next.ServeHTTP(rec, req)
		g.mu.RUnlock()
		if rec.Code != http.StatusOK || hasMessages(rec.Body.Bytes()) ||
			!time.Now().Before(deadline) || r.Context().Err() != nil {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
	}
}

func hasMessages(body []byte) bool {
	var out struct {
		Messages []json.RawMessage `json:"Messages"`
	}
	return json.Unmarshal(body, &out) == nil && len(out.Messages) > 0
}

// sendBatch fixes goaws v0.5.4's JSON answer to SendMessageBatch, which
// names the lists after the XML elements (SendMessageBatchResultEntry,
// BatchResultErrorEntry) instead of Successful and Failed, so the SDK would
// see no result for any entry.
func (g *guard) sendBatch(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	g.mu.RLock()
	g.next.ServeHTTP(rec, r)
	g.mu.RUnlock()
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		var out map[string]json.RawMessage
		if json.Unmarshal(body, &out) == nil {
			fixed := map[string]json.RawMessage{"Successful": json.RawMessage("[]"), "Failed": json.RawMessage("[]")}
			for k, v := range out {
				switch k {
				case "SendMessageBatchResultEntry":
					k = "Successful"
				case "BatchResultErrorEntry":
					k = "Failed"
				}
				if string(v) != "null" {
					fixed[k] = v
				}
			}
			if b, err := json.Marshal(fixed); err == nil {
				body = b
			}
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}
