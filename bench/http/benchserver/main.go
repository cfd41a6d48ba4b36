// Command benchserver serves the benchmark handler on loopback ports for
// wrk: bare net/http, the full chain sampled, the full chain unsampled, and
// the otelhttp reference stack, each on its own port.
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
	"io"
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
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	full, err := benchhttp.Full(true, io.Discard)
	if err != nil {
		log.Fatal(err)
	}
	defer full.Close()
	unsampled, err := benchhttp.Full(false, io.Discard)
	if err != nil {
		log.Fatal(err)
	}
	defer unsampled.Close()
	ref, err := benchhttp.Reference(true, io.Discard)
	if err != nil {
		log.Fatal(err)
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
			log.Fatal(err)
		}
		servers[i] = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := servers[i].Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Print(err)
			}
		}()
	}
	log.Printf("bare :%d, full :%d, unsampled :%d, reference :%d, bare+%s spin :%d", *base, *base+1, *base+2, *base+3, *spin, *base+4)
	<-ctx.Done()
	for _, s := range servers {
		_ = s.Shutdown(context.Background())
	}
}
