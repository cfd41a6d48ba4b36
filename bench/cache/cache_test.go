// Package cache benchmarks Patron's caches against bare baselines in one
// run: cache/lru against a mutex-guarded simplelru (the same structure
// without telemetry, copying or expiry), untraced and under a sampled span.
package cache

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/patron-go/patron/cache/lru"
)

const keys = 1000

var value = make([]byte, 512)

type bare struct {
	mu sync.Mutex
	l  *simplelru.LRU[string, []byte]
}

func (b *bare) get(k string) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.l.Get(k)
}

func BenchmarkLRUGetHit(b *testing.B) {
	names := make([]string, keys)
	for i := range names {
		names[i] = "key:" + strconv.Itoa(i)
	}
	l, _ := simplelru.NewLRU[string, []byte](keys, nil)
	base := &bare{l: l}
	for _, k := range names {
		base.l.Add(k, value)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
	c, err := lru.New(lru.WithSize(keys), lru.WithTracerProvider(tp), lru.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range names {
		_ = c.Set(context.Background(), k, value, 0)
	}
	sampledCtx, span := tp.Tracer("bench").Start(context.Background(), "request")
	defer span.End()

	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := base.get(names[i%keys]); !ok {
				b.Fatal("miss")
			}
		}
	})
	for _, bc := range []struct {
		name string
		ctx  context.Context
	}{{"patron-untraced", context.Background()}, {"patron-sampled", sampledCtx}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, ok, _ := c.Get(bc.ctx, names[i%keys]); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}
