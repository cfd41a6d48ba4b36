// Package redis is a cache.Cache in Redis (go-redis v9). Every key it writes
// starts with its prefix, and Purge deletes only keys with that prefix (SCAN
// with MATCH, then UNLINK in batches), so several caches and other data can
// share one Redis safely: it never runs FLUSHDB or FLUSHALL.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/cache"
	"github.com/patron-go/patron/cache/internal/cacheobs"
	"github.com/patron-go/patron/internal/option"
	"github.com/patron-go/patron/observability"
)

// DefaultScanCount is the COUNT hint of Purge's SCAN, and the batch size of
// its UNLINKs, when WithScanCount is not given.
const DefaultScanCount = 500

// ErrInvalidTTL is returned by Set for a negative ttl.
var ErrInvalidTTL = errors.New("redis cache: ttl must not be negative")

type config struct {
	name      string
	scanCount int64
	tp        trace.TracerProvider
	mp        metric.MeterProvider
}

// Option configures New.
type Option func(*config) error

// WithName sets the cache.name attribute of the cache's spans and metrics
// (default "redis").
func WithName(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("redis cache: name is empty")
		}
		c.name = name
		return nil
	}
}

// WithScanCount sets the COUNT hint of Purge's SCAN and the size of its
// UNLINK batches (default DefaultScanCount).
func WithScanCount(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("redis cache: scan count %d must be at least 1", n)
		}
		c.scanCount = int64(n)
		return nil
	}
}

// WithTracerProvider sets the tracer provider (default: the global one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("redis cache: tracer provider is nil")
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider (default: the global one).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("redis cache: meter provider is nil")
		}
		c.mp = mp
		return nil
	}
}

// Cache is a cache.Cache whose entries are Redis strings under a key prefix.
// It is safe for concurrent use. The client stays the caller's: Cache never
// closes it.
type Cache struct {
	client  goredis.UniversalClient
	prefix  string
	pattern string // SCAN MATCH pattern of the prefix, glob characters escaped
	count   int64
	obs     *cacheobs.Instruments
}

var _ cache.Cache = (*Cache)(nil)

// New returns a cache that stores key under prefix+key in client. prefix
// must not be empty, since it is all that keeps Purge from deleting other
// data; end it with a separator, such as "myservice:routes:".
func New(client goredis.UniversalClient, prefix string, opts ...Option) (*Cache, error) {
	if client == nil {
		return nil, errors.New("redis cache: client is nil")
	}
	if prefix == "" {
		return nil, errors.New("redis cache: key prefix is empty; Purge would delete every key")
	}
	cfg := config{name: "redis", scanCount: DefaultScanCount}
	if err := option.Apply("redis cache", &cfg, opts); err != nil {
		return nil, err
	}
	c := &Cache{client: client, prefix: prefix, pattern: escapeGlob(prefix) + "*", count: cfg.scanCount}
	var opAttrs [4][]attribute.KeyValue
	opAttrs[cacheobs.Get] = []attribute.KeyValue{semconv.DBOperationName("GET")}
	opAttrs[cacheobs.Set] = []attribute.KeyValue{semconv.DBOperationName("SET")}
	opAttrs[cacheobs.Delete] = []attribute.KeyValue{semconv.DBOperationName("UNLINK")}
	opAttrs[cacheobs.Purge] = []attribute.KeyValue{semconv.DBOperationName("SCAN")}
	var err error
	c.obs, err = cacheobs.New(cacheobs.Config{
		TracerProvider: cfg.tp,
		MeterProvider:  cfg.mp,
		Scope:          observability.ModulePath + "/cache/redis",
		Name:           cfg.name,
		Kind:           trace.SpanKindClient,
		Attrs:          serverAttrs(client),
		OpAttrs:        opAttrs,
	})
	if err != nil {
		return nil, fmt.Errorf("redis cache: creating instruments: %w", err)
	}
	return c, nil
}

// serverAttrs describes the server for a single-node client; cluster and
// ring clients talk to many, which the per-command spans of redisotel name.
func serverAttrs(client goredis.UniversalClient) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.DBSystemNameRedis}
	c, ok := client.(*goredis.Client)
	if !ok {
		return attrs
	}
	o := c.Options()
	attrs = append(attrs, semconv.DBNamespace(strconv.Itoa(o.DB)))
	if o.Network == "unix" {
		return append(attrs, semconv.ServerAddress(o.Addr))
	}
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return attrs
	}
	attrs = append(attrs, semconv.ServerAddress(host))
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	return attrs
}

// escapeGlob escapes the characters that SCAN MATCH treats as a pattern, so
// that a prefix such as "a*b" matches only itself.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Prefix returns the key prefix.
func (c *Cache) Prefix() string { return c.prefix }

// Get returns key's value, or false when it is absent or expired.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, span := c.obs.Start(ctx, cacheobs.Get)
	v, err := c.client.Get(ctx, c.prefix+key).Bytes()
	switch {
	case errors.Is(err, goredis.Nil):
		c.obs.End(ctx, span, cacheobs.Get, cacheobs.Miss, nil)
		return nil, false, nil
	case err != nil:
		err = fmt.Errorf("redis cache: get: %w", err)
		c.obs.End(ctx, span, cacheobs.Get, cacheobs.Error, err)
		return nil, false, err
	}
	c.obs.End(ctx, span, cacheobs.Get, cacheobs.Hit, nil)
	return v, true, nil
}

// Set stores value under key for ttl (zero: no expiry). Redis keeps
// millisecond precision, so a positive ttl under 1ms becomes 1ms.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, span := c.obs.Start(ctx, cacheobs.Set)
	if ttl < 0 {
		err := fmt.Errorf("%w: %s", ErrInvalidTTL, ttl)
		c.obs.End(ctx, span, cacheobs.Set, cacheobs.Error, err)
		return err
	}
	if ttl > 0 && ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	if err := c.client.Set(ctx, c.prefix+key, value, ttl).Err(); err != nil {
		err = fmt.Errorf("redis cache: set: %w", err)
		c.obs.End(ctx, span, cacheobs.Set, cacheobs.Error, err)
		return err
	}
	c.obs.End(ctx, span, cacheobs.Set, cacheobs.OK, nil)
	return nil
}

// Delete removes key (UNLINK, which frees memory off the main thread).
func (c *Cache) Delete(ctx context.Context, key string) error {
	ctx, span := c.obs.Start(ctx, cacheobs.Delete)
	if err := c.client.Unlink(ctx, c.prefix+key).Err(); err != nil {
		err = fmt.Errorf("redis cache: delete: %w", err)
		c.obs.End(ctx, span, cacheobs.Delete, cacheobs.Error, err)
		return err
	}
	c.obs.End(ctx, span, cacheobs.Delete, cacheobs.OK, nil)
	return nil
}

// Purge deletes every key with the cache's prefix and nothing else. On a
// cluster it scans every master. Keys written while it runs may survive.
func (c *Cache) Purge(ctx context.Context) error {
	ctx, span := c.obs.Start(ctx, cacheobs.Purge)
	var deleted atomic.Int64 // ForEachMaster runs nodes concurrently
	var err error
	if cl, ok := c.client.(*goredis.ClusterClient); ok {
		err = cl.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
			n, err := c.purgeNode(ctx, node, true)
			deleted.Add(n)
			return err
		})
	} else {
		var n int64
		n, err = c.purgeNode(ctx, c.client, false)
		deleted.Add(n)
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.Int64("cache.purge.deleted", deleted.Load()))
	}
	if err != nil {
		err = fmt.Errorf("redis cache: purge: %w", err)
	}
	c.obs.End(ctx, span, cacheobs.Purge, cacheobs.OK, err)
	return err
}

func (c *Cache) purgeNode(ctx context.Context, node goredis.Cmdable, perKey bool) (int64, error) {
	var cursor uint64
	var deleted int64
	for {
		keys, next, err := node.Scan(ctx, cursor, c.pattern, c.count).Result()
		if err != nil {
			return deleted, err
		}
		if len(keys) > 0 {
			n, err := unlink(ctx, node, keys, perKey)
			deleted += n
			if err != nil {
				return deleted, err
			}
		}
		if next == 0 {
			return deleted, nil
		}
		cursor = next
	}
}

// unlink deletes keys in one UNLINK, or, on a cluster node where keys of
// different slots cannot share a command, one UNLINK per key in a pipeline.
func unlink(ctx context.Context, node goredis.Cmdable, keys []string, perKey bool) (int64, error) {
	if !perKey {
		return node.Unlink(ctx, keys...).Result()
	}
	cmds, err := node.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, k := range keys {
			p.Unlink(ctx, k)
		}
		return nil
	})
	var n int64
	for _, cmd := range cmds {
		if ic, ok := cmd.(*goredis.IntCmd); ok {
			n += ic.Val()
		}
	}
	return n, err
}
