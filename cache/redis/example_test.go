package redis_test

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/patron-go/patron/cache/redis"
)

// Example needs a Redis at localhost:6379, so it is compiled but not run.
func Example() {
	client := goredis.NewClient(&goredis.Options{Addr: "localhost:6379"})
	defer client.Close()

	c, err := redis.New(client, "myservice:users:", redis.WithName("users"))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := c.Set(ctx, "42", []byte(`{"name":"Ada"}`), time.Minute); err != nil {
		fmt.Println("set:", err)
		return
	}
	v, ok, err := c.Get(ctx, "42")
	fmt.Println(string(v), ok, err)
	// Purge deletes myservice:users:* and nothing else.
	_ = c.Purge(ctx)
}
