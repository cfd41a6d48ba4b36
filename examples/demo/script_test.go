package main

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patron-go/patron/patrontest/testenv"
)

// TestStartProcessing runs examples/start_processing.sh against a stand-in
// for http-svc: it sends the number of requests it promises, each as JSON,
// and fails when one is not accepted.
func TestStartProcessing(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Unavailable(t, tool+" not on PATH")
		}
	}
	var posts, bad atomic.Int32
	status := atomic.Int32{}
	status.Store(http.StatusCreated)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if r.Method != http.MethodPost || r.URL.Path != "/api" || mt != "application/json" {
			bad.Add(1)
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		n := posts.Add(1)
		w.Header().Set("X-Trace-Id", fmt.Sprintf("%032x", n))
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	script := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", append([]string{"../start_processing.sh"}, args...)...)
		cmd.Env = append(os.Environ(), "HTTP_SVC_PORT="+port, "VIEWER=viewer:1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	for _, tt := range []struct {
		args []string
		want int32
	}{{nil, 10}, {[]string{"3"}, 3}} {
		posts.Store(0)
		out, err := script(tt.args...)
		if err != nil {
			t.Fatalf("start_processing.sh %q: %v\n%s", tt.args, err, out)
		}
		if got := posts.Load(); got != tt.want {
			t.Errorf("start_processing.sh %q sent %d requests, want %d:\n%s", tt.args, got, tt.want, out)
		}
		if want := fmt.Sprintf("%d of %d requests answered 201", tt.want, tt.want); !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
		if want := fmt.Sprintf("http://viewer:1/trace/%032x\n", tt.want); !strings.Contains(out, want) {
			t.Errorf("output lacks the last trace's link %q:\n%s", want, out)
		}
	}
	if n := bad.Load(); n != 0 {
		t.Errorf("%d requests were not a JSON POST to /api", n)
	}

	status.Store(http.StatusInternalServerError)
	if out, err := script("2"); err == nil || !strings.Contains(out, "0 of 2 requests answered 201") {
		t.Errorf("with a failing http-svc: err = %v, want a failure; output:\n%s", err, out)
	}
	if out, err := script("many"); err == nil || !strings.Contains(out, "usage:") {
		t.Errorf("with a bad count: err = %v, want a usage error; output:\n%s", err, out)
	}
}

// TestBuildProgress checks the counting of go build -v's output: package
// lines become one counting line, anything else passes through.
func TestBuildProgress(t *testing.T) {
	var out strings.Builder
	p := &buildProgress{out: &out}
	for _, chunk := range []string{"github.com/a/b\nexample.com/c", "\n# example.com/d\n./d.go:3:1: syntax error\nexample", ".com/e\n", "cmd/f"} {
		if n, err := p.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	p.finish()
	want := "\r  1 packages compiled\r  2 packages compiled\n# example.com/d\n./d.go:3:1: syntax error\n\r  3 packages compiled\r  4 packages compiled\n"
	if got := out.String(); got != want {
		t.Errorf("output:\n got %q\nwant %q", got, want)
	}
}
