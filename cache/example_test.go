package cache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/patron-go/patron/cache"
	"github.com/patron-go/patron/cache/lru"
)

// Code that takes a cache.Cache works with cache/lru and cache/redis alike.
func Example() {
	var c cache.Cache
	c, err := lru.New(lru.WithSize(100))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if _, ok, _ := c.Get(ctx, "greeting"); !ok {
		_ = c.Set(ctx, "greeting", []byte("hello"), time.Minute)
	}
	v, ok, err := c.Get(ctx, "greeting")
	fmt.Println(string(v), ok, err)
	// Output: hello true <nil>
}
