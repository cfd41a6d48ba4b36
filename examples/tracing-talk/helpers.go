package main

import (
	"context"
	"net/http"
	"slices"
	"time"

	kafkaclient "github.com/patron-go/patron/client/kafka"
	patronhttp "github.com/patron-go/patron/component/http"
)

// closers releases a service's clients, last created first.
type closers []func()

func (c closers) close() {
	for _, f := range slices.Backward(c) {
		f()
	}
}

// onError releases the clients when the constructor that built them fails.
func (c *closers) onError(err *error) {
	if *err != nil {
		c.close()
	}
}

func closeProducer(p *kafkaclient.Producer) func() {
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	}
}

type routeSpec struct {
	pattern string
	h       http.HandlerFunc
	opts    []patronhttp.RouteOption
}

func route(pattern string, h http.HandlerFunc, opts ...patronhttp.RouteOption) routeSpec {
	return routeSpec{pattern, h, opts}
}

// routes builds routes, stopping at the first invalid one.
func routes(specs ...routeSpec) ([]*patronhttp.Route, error) {
	rs := make([]*patronhttp.Route, 0, len(specs))
	for _, s := range specs {
		r, err := patronhttp.NewRoute(s.pattern, s.h, s.opts...)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}
