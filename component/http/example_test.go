package http_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/patron-go/patron/cache/lru"
	patronhttp "github.com/patron-go/patron/component/http"
)

type user struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// A server with a cached read route, a rate-limited and API-key protected
// write route, and a Server-Sent Events stream.
func Example() {
	routeCache, err := lru.New()
	if err != nil {
		log.Fatal(err)
	}
	getUser, err := patronhttp.NewRoute("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		_ = patronhttp.Respond(w, r, http.StatusOK, user{ID: r.PathValue("id"), Name: "Ada"})
	}, patronhttp.WithCache(routeCache, patronhttp.CacheConfig{TTL: time.Minute}))
	if err != nil {
		log.Fatal(err)
	}
	createUser, err := patronhttp.NewRoute("POST /users", func(w http.ResponseWriter, r *http.Request) {
		var u user
		if err := patronhttp.Decode(r, &u); err != nil {
			patronhttp.WriteError(w, r, err) // 400, 413 or 415 as problem+json
			return
		}
		_ = patronhttp.Respond(w, r, http.StatusCreated, u)
	},
		patronhttp.WithAPIKey("secret-key"),
		patronhttp.WithRateLimit(10, 20, nil),
		patronhttp.WithBodyLimit(64<<10),
		patronhttp.WithTimeout(2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	events, err := patronhttp.NewRoute("GET /events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := 0; r.Context().Err() == nil && i < 3; i++ {
			_, _ = w.Write([]byte("data: tick\n\n"))
			_ = rc.Flush()
		}
	})
	if err != nil {
		log.Fatal(err)
	}

	srv, err := patronhttp.New(
		patronhttp.WithAddr("127.0.0.1:0"),
		patronhttp.WithRoutes(getUser, createUser, events))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// Usually: service.Run(ctx, srv). Run drains in-flight requests when
	// ctx is cancelled.
	if err := srv.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
