package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patron-go/patron/patrontest/testenv"
)

// TestMakeTargetsRunBinaries checks that make demo, demo-compose and talk
// run a built launcher, never go run, which exits 1 on Ctrl-C.
func TestMakeTargetsRunBinaries(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Unavailable(t, "make not on PATH")
	}
	root := filepath.Join("..", "..")
	for target, bin := range map[string]string{"demo": "/demo", "demo-compose": "/demo", "talk": "/tracing-talk"} {
		out, err := exec.Command("make", "-s", "-n", "-C", root, target, "BIN=/b").CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, out)
		}
		if strings.Contains(string(out), "go run") {
			t.Errorf("make %s uses go run:\n%s", target, out)
		}
		if !strings.Contains(string(out), "go build -v -o /b"+bin+" ") || !strings.Contains(string(out), "\n/b"+bin) {
			t.Errorf("make %s does not build and run /b%s:\n%s", target, bin, out)
		}
	}
}
