package http_test

import (
	"context"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"time"

	patronhttp "github.com/patron-go/patron/client/http"
	"github.com/patron-go/patron/reliability"
)

func Example() {
	upstream := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		_, _ = io.WriteString(w, "pong")
	}))
	defer upstream.Close()

	// One breaker and one client per upstream service.
	breaker, err := reliability.NewBreaker("pong-service", reliability.WithFailureThreshold(5))
	if err != nil {
		panic(err)
	}
	defer breaker.Close()
	client, err := patronhttp.New(
		patronhttp.WithTimeout(5*time.Second),
		patronhttp.WithRetry(3, reliability.DefaultBackoff()),
		patronhttp.WithBreaker(breaker),
	)
	if err != nil {
		panic(err)
	}
	defer client.CloseIdleConnections()

	req, _ := nethttp.NewRequestWithContext(context.Background(), nethttp.MethodGet, upstream.URL+"/ping", nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close() // also ends the request's span
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 pong
}
