// Package lru is an in-memory cache.Cache: least-recently-used eviction
// bounded by entry count (and optionally bytes), with a TTL per entry. It is
// built on hashicorp/golang-lru's simplelru, under one mutex, with expiry
// checked on read, so that an entry's own TTL is honoured exactly and no
// background goroutine is needed.
package lru

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/cache"
	"github.com/patron-go/patron/cache/internal/cacheobs"
	"github.com/patron-go/patron/internal/option"
	"github.com/patron-go/patron/observability"
)

// DefaultSize is the entry bound when WithSize is not given.
const DefaultSize = 1024

// ErrInvalidTTL is returned by Set for a negative ttl.
var ErrInvalidTTL = errors.New("lru: ttl must not be negative")

type config struct {
	size     int
	maxBytes int64
	name     string
	tp       trace.TracerProvider
	mp       metric.MeterProvider
}

// Option configures New.
type Option func(*config) error

// WithSize bounds the cache to n entries (default DefaultSize); adding one
// more evicts the least recently used.
func WithSize(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("lru: size %d must be at least 1", n)
		}
		c.size = n
		return nil
	}
}

// WithMaxBytes also bounds the total length of the stored values (keys are
// not counted), evicting least recently used entries until they fit. A value
// larger than n is not stored at all. Useful when values are response bodies
// of very different sizes.
func WithMaxBytes(n int64) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("lru: max bytes %d must be at least 1", n)
		}
		c.maxBytes = n
		return nil
	}
}

// WithName sets the cache.name attribute of the cache's spans and metrics
// (default "lru"), to tell several caches apart.
func WithName(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("lru: name is empty")
		}
		c.name = name
		return nil
	}
}

// WithTracerProvider sets the tracer provider (default: the global one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("lru: tracer provider is nil")
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider (default: the global one).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("lru: meter provider is nil")
		}
		c.mp = mp
		return nil
	}
}

type entry struct {
	value   []byte
	expires int64 // UnixNano; 0 never
}

// Cache is an in-memory LRU cache.Cache with per-entry TTL. It is safe for
// concurrent use. Values are copied in and out, so callers may reuse or
// modify their slices.
type Cache struct {
	mu       sync.Mutex
	entries  *simplelru.LRU[string, entry]
	bytes    int64
	maxBytes int64
	now      func() time.Time
	obs      *cacheobs.Instruments
}

var _ cache.Cache = (*Cache)(nil)

// New returns an empty cache.
func New(opts ...Option) (*Cache, error) {
	cfg := config{size: DefaultSize, name: "lru"}
	if err := option.Apply("lru", &cfg, opts); err != nil {
		return nil, err
	}
	c := &Cache{maxBytes: cfg.maxBytes, now: time.Now}
	var err error
	c.entries, err = simplelru.NewLRU(cfg.size, func(_ string, e entry) {
		// Called with c.mu held, for evictions, removals and purges alike.
		c.bytes -= int64(len(e.value))
	})
	if err != nil {
		return nil, fmt.Errorf("lru: %w", err)
	}
	c.obs, err = cacheobs.New(cacheobs.Config{
		TracerProvider: cfg.tp,
		MeterProvider:  cfg.mp,
		Scope:          observability.ModulePath + "/cache/lru",
		Name:           cfg.name,
		Kind:           trace.SpanKindInternal,
		SampledOnly:    true,
	})
	if err != nil {
		return nil, fmt.Errorf("lru: creating instruments: %w", err)
	}
	return c, nil
}

// Get returns a copy of key's value, or false when it is absent or expired.
// It never fails.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, span := c.obs.Start(ctx, cacheobs.Get)
	c.mu.Lock()
	e, ok := c.entries.Get(key)
	if ok && e.expires != 0 && c.now().UnixNano() >= e.expires {
		c.entries.Remove(key)
		ok = false
	}
	var v []byte
	if ok {
		v = append(make([]byte, 0, len(e.value)), e.value...)
	}
	c.mu.Unlock()
	res := cacheobs.Miss
	if ok {
		res = cacheobs.Hit
	}
	c.obs.End(ctx, span, cacheobs.Get, res, nil)
	return v, ok, nil
}

// Set stores a copy of value under key for ttl (zero: until evicted).
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, span := c.obs.Start(ctx, cacheobs.Set)
	if ttl < 0 {
		err := fmt.Errorf("%w: %s", ErrInvalidTTL, ttl)
		c.obs.End(ctx, span, cacheobs.Set, cacheobs.Error, err)
		return err
	}
	e := entry{value: append(make([]byte, 0, len(value)), value...)}
	c.mu.Lock()
	if ttl > 0 {
		e.expires = c.now().Add(ttl).UnixNano()
	}
	if old, ok := c.entries.Peek(key); ok {
		// Add replaces in place without calling the eviction callback.
		c.bytes -= int64(len(old.value))
	}
	switch {
	case c.maxBytes > 0 && int64(len(e.value)) > c.maxBytes:
		// It can never fit; storing it would flush everything else.
		c.entries.Remove(key)
	default:
		c.entries.Add(key, e)
		c.bytes += int64(len(e.value))
		for c.maxBytes > 0 && c.bytes > c.maxBytes {
			c.entries.RemoveOldest()
		}
	}
	c.mu.Unlock()
	c.obs.End(ctx, span, cacheobs.Set, cacheobs.OK, nil)
	return nil
}

// Delete removes key.
func (c *Cache) Delete(ctx context.Context, key string) error {
	ctx, span := c.obs.Start(ctx, cacheobs.Delete)
	c.mu.Lock()
	c.entries.Remove(key)
	c.mu.Unlock()
	c.obs.End(ctx, span, cacheobs.Delete, cacheobs.OK, nil)
	return nil
}

// Purge removes every entry.
func (c *Cache) Purge(ctx context.Context) error {
	ctx, span := c.obs.Start(ctx, cacheobs.Purge)
	c.mu.Lock()
	c.entries.Purge()
	c.mu.Unlock()
	c.obs.End(ctx, span, cacheobs.Purge, cacheobs.OK, nil)
	return nil
}

// Len returns the number of entries, expired ones that were not read since
// they expired included.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.Len()
}
