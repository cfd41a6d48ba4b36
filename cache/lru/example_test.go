package lru_test

import (
	"context"
	"fmt"
	"time"

	"github.com/patron-go/patron/cache/lru"
)

func Example() {
	c, err := lru.New(lru.WithSize(10_000), lru.WithMaxBytes(64<<20), lru.WithName("users"))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_ = c.Set(ctx, "user:42", []byte(`{"name":"Ada"}`), time.Minute)
	v, ok, _ := c.Get(ctx, "user:42")
	fmt.Println(string(v), ok)
	// Output: {"name":"Ada"} true
}
