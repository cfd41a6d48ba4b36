package observabilitytest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/patron-go/patron/patrontest/testenv"
)

// LogBuffer is a log sink that the goroutines of a server under test may
// write to at once (give it to observability/log.New or slog's handlers),
// with the JSON records read back for assertions.
type LogBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	dump sync.Once
}

// Write appends p; it is safe for concurrent use.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Records parses every line written so far as a JSON object, failing t on
// a line that is not one.
func (b *LogBuffer) Records(t testing.TB) []map[string]any {
	t.Helper()
	b.mu.Lock()
	data := append([]byte(nil), b.buf.Bytes()...)
	b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, r)
	}
	return out
}

// WaitRecord returns the first record that match accepts, waiting up to
// timeout for it: servers often log after the response has left (an
// access log), so the client can be faster than the record. When the wait
// fails, the logs are printed with the test's output.
func (b *LogBuffer) WaitRecord(t testing.TB, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	b.dump.Do(func() {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("logs:\n%s", b.String())
			}
		})
	})
	var found map[string]any
	testenv.WaitFor(t, timeout, "a matching log record", func() bool {
		for _, r := range b.Records(t) {
			if match(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}
