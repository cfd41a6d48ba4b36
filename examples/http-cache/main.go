// Command http-cache is http-cache-svc: GET /greeting/{name} answers from a
// route cache kept in Redis, so repeated requests never reach the handler.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/patron-go/patron"
	cacheredis "github.com/patron-go/patron/cache/redis"
	redisclient "github.com/patron-go/patron/client/redis"
	patronhttp "github.com/patron-go/patron/component/http"
	"github.com/patron-go/patron/examples/internal/env"
)

func greeting(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("Hello, " + r.PathValue("name") + "!"))
}

func main() {
	if err := run(); err != nil {
		slog.Error("http-cache-svc failed", "error", err)
		os.Exit(1)
	}
}

func run() error {
	rdb, err := redisclient.New(redisclient.WithAddr(env.Get("REDIS_ADDR", "127.0.0.1:6379")))
	if err != nil {
		return err
	}
	defer rdb.Close()
	c, err := cacheredis.New(rdb, "http-cache-svc:")
	if err != nil {
		return err
	}
	route, err := patronhttp.NewRoute("GET /greeting/{name}", greeting,
		patronhttp.WithCache(c, patronhttp.CacheConfig{TTL: time.Minute}))
	if err != nil {
		return err
	}
	svc, err := patron.New("http-cache-svc", "1.0.0", patron.WithRoutes(route))
	if err != nil {
		return err
	}
	return svc.Run(context.Background())
}
