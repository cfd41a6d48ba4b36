package patron

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	clientredis "github.com/patron-go/patron/client/redis"
	patrongrpc "github.com/patron-go/patron/component/grpc"
	"github.com/patron-go/patron/internal/grpctest"
	"github.com/patron-go/patron/patrontest/testenv"
)

// redisPing is the ready check a service would give for its Redis: a raw
// PING, so that the test needs no client library.
func redisPing(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(dl)
		}
		if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
			return err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		if line != "+PONG\r\n" {
			return fmt.Errorf("redis: PING answered %q", line)
		}
		return nil
	}
}

func readyBody(t *testing.T, url string) (int, readiness) {
	t.Helper()
	code, body := get(t, url)
	var rd readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil {
		t.Fatalf("/ready body %q: %v", body, err)
	}
	return code, rd
}

func check(rd readiness, name string) (checkState, bool) {
	for _, c := range rd.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return checkState{}, false
}

// freePort returns a loopback port that nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// Issue 16: a stopped Redis makes /ready 503 and names the check.
func TestReadyCheckFollowsARealRedis(t *testing.T) {
	addr, stop := testenv.StartRedis(t)
	ping := redisPing(addr)
	testenv.WaitFor(t, waitTimeout, "redis-server to answer PING", func() bool { return ping(t.Context()) == nil })
	// The check a service gives: client/redis's, on its own client.
	rdb, err := clientredis.New(clientredis.WithAddr(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rdb.Close() }()

	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{WithReadyCheck("redis", clientredis.ReadyCheck(rdb))})
	if code, rd := readyBody(t, r.base+"/ready"); code != http.StatusOK || rd.Status != "ready" {
		t.Fatalf("/ready with Redis up = %d %+v", code, rd)
	}
	stop()
	code, rd := readyBody(t, r.base+"/ready")
	c, ok := check(rd, "redis")
	if code != http.StatusServiceUnavailable || rd.Status != "not_ready" || !ok || c.Ready || c.Error == "" {
		t.Fatalf("/ready with Redis stopped = %d %+v, want 503 naming the redis check", code, rd)
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestReadyChecksAreBoundedAndNamed(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	ctx, cancel := context.WithCancel(t.Context())
	r := start(t, ctx, []Option{
		WithReadyCheckTimeout(50 * time.Millisecond),
		WithReadyCheck("closed-port", redisPing(freePort(t))),
		WithReadyCheck("ignores-its-context", func(context.Context) error { <-hang; return nil }),
		WithReadyCheck("fine", func(context.Context) error { return nil }),
	})
	code, rd := readyBody(t, r.base+"/ready")
	if code != http.StatusServiceUnavailable || len(rd.Checks) != 3 {
		t.Fatalf("/ready = %d %+v", code, rd)
	}
	if c, _ := check(rd, "closed-port"); c.Ready || !strings.Contains(c.Error, "refused") {
		t.Errorf("closed-port check = %+v", c)
	}
	if c, _ := check(rd, "ignores-its-context"); c.Ready || !strings.Contains(c.Error, "no answer within 50ms") {
		t.Errorf("hanging check = %+v", c)
	}
	if c, _ := check(rd, "fine"); !c.Ready || c.Error != "" {
		t.Errorf("fine check = %+v", c)
	}
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestReadyCheckValidation(t *testing.T) {
	ok := func(context.Context) error { return nil }
	for name, opts := range map[string][]Option{
		"no name":   {WithReadyCheck("", ok)},
		"nil check": {WithReadyCheck("db", nil)},
		"twice":     {WithReadyCheck("db", ok), WithReadyCheck("db", ok)},
		"timeout":   {WithReadyCheckTimeout(0)},
	} {
		if _, err := New("svc", "1", append(opts, WithLogger(quietLogger()))...); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// Issue 15.3: gRPC health follows the service's readiness (components and
// checks) throughout, and turns NOT_SERVING with /ready when shutdown
// starts, through the shutdown delay.
func TestGRPCHealthFollowsTheService(t *testing.T) {
	gc, err := patrongrpc.New("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	(&grpctest.Service{}).Register(gc.Server())
	warm := newBlocking("warmer")
	defer close(warm.release)
	depUp := make(chan bool, 1)
	depUp <- true
	dep := func(context.Context) error {
		up := <-depUp
		depUp <- up
		if !up {
			return fmt.Errorf("dependency down")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := start(t, ctx, []Option{WithShutdownDelay(time.Hour), WithReadyCheck("dep", dep)}, gc, warm)
	within(t, warm.started, "the component to start")

	conn, err := grpc.NewClient(gc.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	status := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("health Check: %v", err)
		}
		return resp.GetStatus()
	}
	waitHealth := func(want healthpb.HealthCheckResponse_ServingStatus, why string) {
		t.Helper()
		testenv.WaitFor(t, waitTimeout, "gRPC health "+want.String()+" "+why, func() bool { return status() == want })
	}
	// The gRPC server serves, but another component is warming up.
	testenv.WaitFor(t, waitTimeout, "the gRPC server to serve", func() bool { return gc.Ready(t.Context()) == nil })
	if got := status(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health while a component warms up = %s", got)
	}
	warm.ready.Store(true)
	waitHealth(healthpb.HealthCheckResponse_SERVING, "once every component is ready")
	<-depUp
	depUp <- false
	waitHealth(healthpb.HealthCheckResponse_NOT_SERVING, "while a ready check fails")
	<-depUp
	depUp <- true
	waitHealth(healthpb.HealthCheckResponse_SERVING, "once the check passes again")

	cancel() // shutdown starts, and the delay (an hour) begins
	waitStatus(t, r.base+"/ready", http.StatusServiceUnavailable)
	if got := status(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health during the shutdown delay = %s, want NOT_SERVING with /ready", got)
	}
	select {
	case <-warm.stopped:
		t.Fatal("components cancelled before the delay passed")
	default:
	}
	// Cut the delay short: the shutdown began with ctx, so the first signal
	// counts as the first and the next forces the exit. Identical pending
	// signals can merge, so they go until Run returns.
	var runErr error
	testenv.WaitFor(t, waitTimeout, "a second signal to force the exit", func() bool {
		kill(t, syscall.SIGTERM)
		select {
		case runErr = <-r.done:
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	})
	if !errors.Is(runErr, ErrForcedShutdown) {
		t.Fatalf("Run = %v, want ErrForcedShutdown", runErr)
	}
	within(t, warm.stopped, "the components to be cancelled")
	testenv.WaitFor(t, waitTimeout, "the gRPC server to stop", func() bool {
		_, err := net.DialTimeout("tcp", gc.Addr().String(), time.Second)
		return err != nil
	})
}
