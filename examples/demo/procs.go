package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// service is one process of the chain.
type service struct {
	name    string // binary and log file name
	pkg     string // package path relative to the module root
	port    int    // default HTTP port (health, metrics, routes)
	grpc    int    // gRPC port, for grpc-svc
	purpose string
}

type process struct {
	svc  service
	cmd  *exec.Cmd
	log  *os.File
	done chan error
}

// buildAll compiles every service in one go build, which shares the work of
// their common dependencies. A first run compiles them all, which takes
// minutes: the packages compiled are counted on out as they go.
func buildAll(ctx context.Context, moduleRoot, binDir string, svcs []service, out io.Writer) error {
	args := []string{"build", "-v", "-o", binDir + string(filepath.Separator)}
	for _, s := range svcs {
		args = append(args, "./"+strings.TrimPrefix(s.pkg, "examples/"))
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	// The services belong to the examples module, which uses the library
	// in moduleRoot through its replace directive.
	cmd.Dir = filepath.Join(moduleRoot, "examples")
	progress := &buildProgress{out: out}
	cmd.Stdout, cmd.Stderr = progress, progress
	err := cmd.Run()
	progress.finish()
	if err != nil {
		return fmt.Errorf("building the services (go %s): %w", strings.Join(args, " "), err)
	}
	return nil
}

// buildProgress turns the output of go build -v, which names every package
// it compiles, into one counting line, and passes anything else (compile
// errors) through.
type buildProgress struct {
	out     io.Writer
	partial []byte
	n       int
	counted bool // the counting line is open
}

func (p *buildProgress) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		l := string(p.partial[:i])
		p.partial = p.partial[i+1:]
		p.line(l)
	}
}

func (p *buildProgress) line(l string) {
	// An import path has neither spaces nor colons; an error line has one.
	if l != "" && !strings.ContainsAny(l, " :\t") {
		p.n++
		p.counted = true
		fmt.Fprintf(p.out, "\r  %d packages compiled", p.n)
		return
	}
	p.endCount()
	fmt.Fprintln(p.out, l)
}

// endCount ends the counting line, if one is open.
func (p *buildProgress) endCount() {
	if p.counted {
		fmt.Fprintln(p.out)
		p.counted = false
	}
}

// finish ends the output once go build returned: the counting line, and a
// last line without a newline.
func (p *buildProgress) finish() {
	if len(p.partial) > 0 {
		l := string(p.partial)
		p.partial = nil
		p.line(l)
	}
	p.endCount()
}

func startProcess(binDir, logDir string, s service, env []string) (*process, error) {
	logFile, err := os.Create(filepath.Join(logDir, s.name+".log"))
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", s.name, err)
	}
	cmd := exec.Command(filepath.Join(binDir, filepath.Base(s.pkg)))
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A process group of its own: Ctrl-C in the terminal reaches the
	// launcher only, which then stops every service gracefully, in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("%s: starting: %w", s.name, err)
	}
	p := &process{svc: s, cmd: cmd, log: logFile, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

// waitReady polls /ready until it answers 200, the process exits, or ctx
// ends.
func (p *process) waitReady(ctx context.Context) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/ready", p.svc.port)
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("%s exited before it was ready (%w); see %s", p.svc.name, err, p.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w; see %s", p.svc.name, ctx.Err(), p.log.Name())
		case <-tick.C:
		}
	}
}

// stopAll sends SIGTERM to every process and waits for it, killing what is
// still running after grace.
func stopAll(procs []*process, grace time.Duration) error {
	var wg sync.WaitGroup
	errs := make([]error, len(procs))
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.log.Close()
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-p.done:
				var exit *exec.ExitError
				if err != nil && !errors.As(err, &exit) {
					errs[i] = fmt.Errorf("%s: %w", p.svc.name, err)
				} else if err != nil {
					errs[i] = fmt.Errorf("%s exited with %w; see %s", p.svc.name, err, p.log.Name())
				}
			case <-time.After(grace):
				_ = p.cmd.Process.Kill()
				errs[i] = fmt.Errorf("%s did not stop within %s and was killed: %w", p.svc.name, grace, <-p.done)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
