// Command http is http-svc, the entry of the demo chain: POST /api takes a
// user as JSON, asks http-cache-svc for a greeting over HTTP, and sends the
// user as protobuf to the API-key protected http-sec-svc.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/patron-go/patron"
	httpclient "github.com/patron-go/patron/client/http"
	patronhttp "github.com/patron-go/patron/component/http"
	"github.com/patron-go/patron/encoding"
	"github.com/patron-go/patron/examples/internal/demopb"
	"github.com/patron-go/patron/examples/internal/env"
)

type api struct {
	client   *httpclient.Client
	cacheURL string
	secURL   string
	apiKey   string
}

type user struct {
	Firstname string `json:"firstname"`
	Lastname  string `json:"lastname"`
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	var u user
	if err := patronhttp.Decode(r, &u); err != nil {
		patronhttp.WriteError(w, r, err)
		return
	}
	if u.Firstname == "" || u.Lastname == "" {
		patronhttp.WriteProblem(w, r, http.StatusBadRequest, "firstname and lastname are required")
		return
	}
	ctx := r.Context()
	greeting, err := a.greeting(ctx, u.Firstname)
	if err != nil {
		patronhttp.WriteProblem(w, r, http.StatusBadGateway, "http-cache-svc: "+err.Error())
		return
	}
	if err := a.forward(ctx, &demopb.User{Firstname: u.Firstname, Lastname: u.Lastname}); err != nil {
		patronhttp.WriteProblem(w, r, http.StatusBadGateway, "http-sec-svc: "+err.Error())
		return
	}
	// The trace ID lets the caller (the demo launcher) find this request's
	// trace in the viewer.
	w.Header().Set("X-Trace-Id", trace.SpanContextFromContext(ctx).TraceID().String())
	_ = patronhttp.Respond(w, r, http.StatusCreated, map[string]string{"greeting": greeting})
}

func (a *api) greeting(ctx context.Context, name string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cacheURL+"/greeting/"+url.PathEscape(name), nil)
	if err != nil {
		return "", err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return string(body), nil
}

func (a *api) forward(ctx context.Context, u *demopb.User) error {
	body, err := proto.Marshal(u)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.secURL+"/users", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", encoding.Protobuf)
	req.Header.Set("Authorization", "Apikey "+a.apiKey)
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		slog.Error("http-svc failed", "error", err)
		os.Exit(1)
	}
}

func run() error {
	client, err := httpclient.New()
	if err != nil {
		return err
	}
	a := &api{
		client:   client,
		cacheURL: env.Get("HTTP_CACHE_URL", "http://localhost:50007"),
		secURL:   env.Get("HTTP_SEC_URL", "http://localhost:50001"),
		apiKey:   env.Get("DEMO_API_KEY", "patron-demo-key"),
	}
	route, err := patronhttp.NewRoute("POST /api", a.create)
	if err != nil {
		return err
	}
	svc, err := patron.New("http-svc", "1.0.0", patron.WithRoutes(route))
	if err != nil {
		return err
	}
	return svc.Run(context.Background())
}
