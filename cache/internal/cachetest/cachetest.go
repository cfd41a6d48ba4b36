// Package cachetest is the conformance suite that every cache.Cache in
// Patron passes, so that the route cache can swap backends freely.
package cachetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/patron-go/patron/cache"
)

// Run checks the cache.Cache contract on caches made by newCache; each
// subtest gets a fresh, empty cache.
func Run(t *testing.T, newCache func(t *testing.T) cache.Cache) {
	t.Run("MissThenHit", func(t *testing.T) {
		c := newCache(t)
		ctx := t.Context()
		if v, ok, err := c.Get(ctx, "k"); err != nil || ok || v != nil {
			t.Fatalf("Get on empty = %q, %v, %v; want nil, false, nil", v, ok, err)
		}
		if err := c.Set(ctx, "k", []byte("v1"), 0); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := c.Get(ctx, "k"); err != nil || !ok || string(v) != "v1" {
			t.Fatalf("Get = %q, %v, %v; want v1, true, nil", v, ok, err)
		}
		if err := c.Set(ctx, "k", []byte("v2"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if v, ok, _ := c.Get(ctx, "k"); !ok || string(v) != "v2" {
			t.Fatalf("Get after overwrite = %q, %v; want v2", v, ok)
		}
	})
	t.Run("EmptyAndBinaryValues", func(t *testing.T) {
		c := newCache(t)
		ctx := t.Context()
		bin := []byte{0, 1, 2, 0xff, '\n', 0}
		if err := c.Set(ctx, "empty", []byte{}, 0); err != nil {
			t.Fatal(err)
		}
		if err := c.Set(ctx, "bin", bin, 0); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := c.Get(ctx, "empty"); err != nil || !ok || len(v) != 0 {
			t.Fatalf("Get(empty) = %q, %v, %v; want an empty hit", v, ok, err)
		}
		if v, ok, err := c.Get(ctx, "bin"); err != nil || !ok || !bytes.Equal(v, bin) {
			t.Fatalf("Get(bin) = %v, %v, %v; want %v", v, ok, err, bin)
		}
	})
	t.Run("CallerMayReuseSlices", func(t *testing.T) {
		c := newCache(t)
		ctx := t.Context()
		buf := []byte("original")
		if err := c.Set(ctx, "k", buf, 0); err != nil {
			t.Fatal(err)
		}
		copy(buf, "XXXXXXXX")
		v, _, _ := c.Get(ctx, "k")
		if string(v) != "original" {
			t.Fatalf("Get = %q after the caller changed its slice; want original", v)
		}
		copy(v, "YYYYYYYY")
		if v2, _, _ := c.Get(ctx, "k"); string(v2) != "original" {
			t.Fatalf("Get = %q after the caller changed a returned slice; want original", v2)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		c := newCache(t)
		ctx := t.Context()
		if err := c.Delete(ctx, "absent"); err != nil {
			t.Fatalf("Delete(absent) = %v, want nil", err)
		}
		_ = c.Set(ctx, "k", []byte("v"), 0)
		if err := c.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := c.Get(ctx, "k"); ok {
			t.Fatal("Get after Delete hit")
		}
	})
	t.Run("TTLExpires", func(t *testing.T) {
		c := newCache(t)
		ctx := t.Context()
		if err := c.Set(ctx, "short", []byte("v"), 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := c.Set(ctx, "long", []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := c.Set(ctx, "forever", []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		// Wait for the condition (bounded), not for a fixed time.
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, ok, err := c.Get(ctx, "short")
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("entry with a 50ms ttl still present after 10s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, k := range []string{"long", "forever"} {
			if _, ok, _ := c.Get(ctx, k); !ok {
				t.Fatalf("%s expired with the short entry; ttl must be per entry", k)
			}
		}
	})
	t.Run("NegativeTTL", func(t *testing.T) {
		c := newCache(t)
		if err := c.Set(t.Context(), "k", []byte("v"), -time.Second); err == nil {
			t.Fatal("Set with a negative ttl succeeded")
		}
	})
	t.Run("Purge", func(t *testing.T) {
		c := newCache(t)
		ctx := t.Context()
		for i := range 25 {
			_ = c.Set(ctx, fmt.Sprintf("k%d", i), []byte("v"), 0)
		}
		if err := c.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range 25 {
			if _, ok, _ := c.Get(ctx, fmt.Sprintf("k%d", i)); ok {
				t.Fatalf("k%d survived Purge", i)
			}
		}
		if err := c.Purge(ctx); err != nil {
			t.Fatalf("Purge of an empty cache = %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		c := newCache(t)
		ctx := t.Context()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 50 {
					k := fmt.Sprintf("k%d", (g*50+i)%20)
					if err := c.Set(ctx, k, []byte(k), time.Minute); err != nil {
						t.Error(err)
						return
					}
					if v, ok, err := c.Get(ctx, k); err != nil || (ok && string(v) != k) {
						t.Errorf("Get(%s) = %q, %v, %v", k, v, ok, err)
						return
					}
					if i%10 == 0 {
						_ = c.Delete(ctx, k)
					}
				}
			})
		}
		wg.Wait()
	})
}
