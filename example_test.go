package patron_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/patron-go/patron"
	patronhttp "github.com/patron-go/patron/component/http"
)

// quiet keeps the examples' output to what they print.
func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// get prints the status and body of a GET.
func get(url string, header ...string) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.TrimSpace(string(b)))
}

// A service with one route on the default HTTP server, which also serves
// /alive, /ready and /metrics. In a main, Run blocks until SIGINT or
// SIGTERM and returns nil after a graceful stop; here the example stops it
// by cancelling its context.
func Example() {
	hello, err := patronhttp.NewRoute("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		slog.InfoContext(r.Context(), "greeting", "name", r.PathValue("name")) // with trace and correlation IDs
		_, _ = fmt.Fprintf(w, "hello, %s\n", r.PathValue("name"))
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	svc, err := patron.New("greeter", "1.0.0",
		patron.WithRoutes(hello),
		patron.WithHTTPAddr("127.0.0.1:0"), // a free port; PATRON_HTTP_DEFAULT_PORT (50000) otherwise
		patron.WithLogger(quiet()))
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	addr, _ := svc.HTTPAddr(ctx)
	get("http://" + addr.String() + "/hello/ada")
	get("http://" + addr.String() + "/alive")
	stop()
	fmt.Println("Run returned", <-done)
	http.DefaultClient.CloseIdleConnections()
	// Output:
	// 200 hello, ada
	// 200 alive
	// Run returned <nil>
}

// Components are passed to Run, which runs them, reports their readiness
// on /ready and stops them gracefully; here an HTTP server of its own,
// next to the default one.
func Example_component() {
	api, err := patronhttp.New(
		patronhttp.WithName("public-api"),
		patronhttp.WithAddr("127.0.0.1:0"),
		patronhttp.WithRoutes(must(patronhttp.NewRoute("GET /time", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "tea time\n")
		}))))
	if err != nil {
		fmt.Println(err)
		return
	}
	svc, err := patron.New("clock", "1.0.0", patron.WithHTTPAddr("127.0.0.1:0"), patron.WithLogger(quiet()))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	stop := running(svc, api)

	apiAddr, _ := api.Addr(ctx)
	get("http://" + apiAddr.String() + "/time")
	addr, _ := svc.HTTPAddr(ctx)
	get("http://" + addr.String() + "/ready")
	fmt.Println("Run returned", stop())
	// Output:
	// 200 tea time
	// 200 {"status":"ready","components":[{"name":"public-api","ready":true,"state":"running"}],"checks":[]}
	// Run returned <nil>
}

// running runs svc in the background, where a main runs it in the
// foreground, and returns what stops it and says what Run returned.
func running(svc *patron.Service, components ...patron.Component) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, components...) }()
	return func() error {
		cancel()
		err := <-done
		http.DefaultClient.CloseIdleConnections()
		return err
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Ready checks keep the service out of rotation while a dependency it
// cannot work without is down: /ready answers 503 and names the check, and
// a gRPC component's health service says NOT_SERVING.
func ExampleWithReadyCheck() {
	errDown := errors.New("connection refused")
	svc, err := patron.New("orders", "1.0.0",
		patron.WithHTTPAddr("127.0.0.1:0"),
		patron.WithLogger(quiet()),
		patron.WithReadyCheck("database", func(context.Context) error { return errDown }), // e.g. db.PingContext
		patron.WithReadyCheckTimeout(time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	stop := running(svc)

	addr, _ := svc.HTTPAddr(context.Background())
	get("http://" + addr.String() + "/ready")
	_ = stop()
	// Output:
	// 503 {"status":"not_ready","components":[],"checks":[{"name":"database","ready":false,"error":"connection refused"}]}
}

// The management endpoints (pprof, the log level) are not on the service
// port: they listen on loopback at the service port + 99 by default, or
// where WithDebugAddr or PATRON_DEBUG_ADDR says, optionally behind an API
// key.
func ExampleWithDebugAPIKey() {
	svc, err := patron.New("orders", "1.0.0",
		patron.WithHTTPAddr("127.0.0.1:0"),
		patron.WithDebugAddr("127.0.0.1:0"),
		patron.WithDebugAPIKey("s3cret"), // PATRON_DEBUG_API_KEY
		patron.WithLogLevel(slog.LevelInfo),
		patron.WithLogger(quiet()))
	if err != nil {
		fmt.Println(err)
		return
	}
	stop := running(svc)

	addr, _ := svc.HTTPAddr(context.Background())
	debug, _ := svc.DebugAddr(context.Background())
	get("http://" + addr.String() + "/debug/log-level")
	get("http://"+debug.String()+"/debug/log-level", "X-API-Key", "s3cret")
	_ = stop()
	// Output:
	// 404 404 page not found
	// 200 {"level":"info"}
}

// The options users reach for first; each wins over its environment
// variable (see the README for the variables and their defaults).
func ExampleNew() {
	svc, err := patron.New("orders", "1.2.3",
		patron.WithHTTPPort(8080),                  // PATRON_HTTP_DEFAULT_PORT
		patron.WithLogLevel(slog.LevelDebug),       // PATRON_LOG_LEVEL; PUT /debug/log-level at run time
		patron.WithShutdownDelay(5*time.Second),    // PATRON_SHUTDOWN_DELAY: /ready is 503 this long first
		patron.WithShutdownTimeout(20*time.Second), // PATRON_SHUTDOWN_TIMEOUT
		patron.WithSIGHUP(func() { /* reload config */ }),
		patron.WithDebugAddr("127.0.0.1:6060"), // PATRON_DEBUG_ADDR
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(svc.Name())
	// Output:
	// orders
}
