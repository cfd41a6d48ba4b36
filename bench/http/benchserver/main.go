// Command benchserver serves the benchmark handler on loopback ports for
// wrk: bare net/http, the full chain sampled, the full chain unsampled, the
// otelhttp reference stack, a calibration stack, and the quick start
// (patron.New + patron.WithRoutes, default logger on stderr) sampled and
// unsampled, each on its own port (base+0 to base+6). Every stack logs to
// the real file descriptor of -log (default /dev/null), stderr included.
//
//	go run ./bench/http/benchserver -base 18080
//	wrk -t1 -c32 -d10s http://127.0.0.1:18080/items/42   # bare
//	wrk -t1 -c32 -d10s http://127.0.0.1:18081/items/42   # full, sampled
//
// bench/http/wrk.sh runs all stacks interleaved and reports medians.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"

	benchhttp "github.com/patron-go/patron/bench/http"
)

func main() {
	base := flag.Int("base", 18080, "first port: bare, then full, unsampled, reference")
	spin := flag.Duration("spin", 5*time.Microsecond, "CPU the calibration stack (bare plus a busy loop, on base+4) burns per request")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (until interrupted) to this file")
	logPath := flag.String("log", os.DevNull, "file every stack's log goes to (stderr is pointed at it)")
	flag.Parse()
	logFile, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	// benchserver's own messages stay on the terminal (patron.New makes
	// its logger the default, which the log package then writes through).
	msgs := log.New(os.Stderr, "benchserver: ", log.LstdFlags)
	os.Stderr = logFile
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			msgs.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			msgs.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	full, err := benchhttp.Full(true, logFile)
	if err != nil {
		msgs.Fatal(err)
	}
	defer full.Close()
	unsampled, err := benchhttp.Full(false, logFile)
	if err != nil {
		msgs.Fatal(err)
	}
	defer unsampled.Close()
	ref, err := benchhttp.Reference(true, logFile)
	if err != nil {
		msgs.Fatal(err)
	}
	defer ref.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// The calibration stack tells what a known in-process cost does to
	// loopback throughput on this machine.
	bare := benchhttp.Bare()
	calibration := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for t0 := time.Now(); time.Since(t0) < *spin; {
		}
		bare.ServeHTTP(w, r)
	})
	handlers := []http.Handler{bare, full.Handler, unsampled.Handler, ref.Handler, calibration}
	servers := make([]*http.Server, len(handlers))
	for i, h := range handlers {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *base+i))
		if err != nil {
			msgs.Fatal(err)
		}
		servers[i] = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := servers[i].Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				msgs.Print(err)
			}
		}()
	}
	for i, sampled := range []bool{true, false} {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *base+len(handlers)+i))
		if err != nil {
			msgs.Fatal(err)
		}
		q, err := benchhttp.StartQuickStart(ln, sampled)
		if err != nil {
			msgs.Fatal(err)
		}
		defer func() {
			if err := q.Stop(); err != nil {
				msgs.Print(err)
			}
		}()
	}
	msgs.Printf("bare :%d, full :%d, unsampled :%d, reference :%d, bare+%s spin :%d, quick :%d, quick_unsampled :%d",
		*base, *base+1, *base+2, *base+3, *spin, *base+4, *base+5, *base+6)
	<-ctx.Done()
	for _, s := range servers {
		_ = s.Shutdown(context.Background())
	}
}
