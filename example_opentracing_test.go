package patron_test

import (
	"context"
	"log"
	"net/http"

	"github.com/opentracing/opentracing-go"

	"github.com/patron-go/patron"
	patronhttp "github.com/patron-go/patron/component/http"
)

// Handlers written against the OpenTracing API keep working, and their spans
// nest with the service's: "load order" is a child of the route's SERVER
// span, and the spans of Patron's clients called with ctx are its children.
func ExampleWithOpenTracing() {
	route, err := patronhttp.NewRoute("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		span, ctx := opentracing.StartSpanFromContext(r.Context(), "load order")
		defer span.Finish()
		span.SetTag("order.id", r.PathValue("id"))
		_ = ctx // pass ctx to Patron's clients
	})
	if err != nil {
		log.Fatal(err)
	}
	svc, err := patron.New("orders", "1.0.0", patron.WithOpenTracing(), patron.WithRoutes(route))
	if err != nil {
		log.Fatal(err)
	}
	if err := svc.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
