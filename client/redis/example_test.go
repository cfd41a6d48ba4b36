package redis_test

import (
	"context"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	patronredis "github.com/patron-go/patron/client/redis"
)

// New returns a go-redis client: commands become CLIENT spans ("SET") whose
// db.query.text hides keys and values ("SET ? ? ? ?").
func ExampleNew() {
	rdb, err := patronredis.New(patronredis.WithAddr("127.0.0.1:6379"))
	if err != nil {
		log.Fatal(err)
	}
	defer rdb.Close()
	if err := rdb.Set(context.Background(), "greeting", "hello", time.Minute).Err(); err != nil {
		log.Print(err)
	}
}

// NewUniversal covers cluster and sentinel deployments.
func ExampleNewUniversal() {
	rdb, err := patronredis.NewUniversal(&redis.UniversalOptions{
		Addrs:      []string{"10.0.0.1:26379", "10.0.0.2:26379"},
		MasterName: "primary",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer rdb.Close()
}

// ReadyCheck PINGs the server; give it to patron.WithReadyCheck so that
// /ready (and gRPC health) answer 503 while Redis is down:
//
//	patron.New("svc", "1.0", patron.WithReadyCheck("redis", patronredis.ReadyCheck(rdb)))
func ExampleReadyCheck() {
	rdb, err := patronredis.New(patronredis.WithAddr("127.0.0.1:6379"))
	if err != nil {
		log.Fatal(err)
	}
	defer rdb.Close()
	if err := patronredis.ReadyCheck(rdb)(context.Background()); err != nil {
		log.Print(err) // "redis: PING: ..."
	}
}
