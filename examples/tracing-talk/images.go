package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/patron-go/patron"
	patronhttp "github.com/patron-go/patron/component/http"
)

// images is giphy-images, a stand-in for the Giphy API that needs no
// internet: the picture of a word is an SVG card whose colour comes from the
// word, so the same word always gets the same picture.
type images struct {
	baseURL string // as browsers reach this service
}

func (t *talk) images(ctx context.Context, l net.Listener) (*service, error) {
	svc, err := t.newService(ctx, "giphy-images")
	if err != nil {
		return nil, err
	}
	im := &images{baseURL: t.imagesURL}
	routes, err := routes(
		route("GET /search", im.search),
		route("GET /img/{file}", im.image))
	if err != nil {
		return nil, fmt.Errorf("giphy-images: %w", err)
	}
	server, err := patronhttp.New(patronhttp.WithName("images-http"), patronhttp.WithListener(l),
		patronhttp.WithRoutes(routes...),
		patronhttp.WithTracerProvider(svc.TracerProvider()), patronhttp.WithMeterProvider(svc.MeterProvider()),
		patronhttp.WithPropagator(svc.Propagator()))
	if err != nil {
		return nil, fmt.Errorf("giphy-images: %w", err)
	}
	return &service{Service: svc, components: []patron.Component{server}, close: func() {}}, nil
}

func validWord(w string) bool {
	return w != "" && utf8.ValidString(w) && utf8.RuneCountInString(w) <= 64
}

// search answers {"url": ...}: the picture of the word q.
func (im *images) search(w http.ResponseWriter, r *http.Request) {
	word := r.URL.Query().Get("q")
	if !validWord(word) {
		patronhttp.WriteProblem(w, r, http.StatusBadRequest, "q must be a word of 1 to 64 characters")
		return
	}
	_ = patronhttp.Respond(w, r, http.StatusOK, map[string]string{
		"url": im.baseURL + "/img/" + url.PathEscape(word) + ".svg",
	})
}

// image draws the card of a word.
func (im *images) image(w http.ResponseWriter, r *http.Request) {
	word, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	if !ok || !validWord(word) {
		patronhttp.WriteProblem(w, r, http.StatusNotFound, "no such image")
		return
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(word))
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="140" viewBox="0 0 240 140">`+
		`<rect width="240" height="140" rx="14" fill="hsl(%d,65%%,50%%)"/>`+
		`<text x="120" y="82" font-family="sans-serif" font-size="30" text-anchor="middle" fill="#fff">%s</text></svg>`,
		h.Sum32()%360, template.HTMLEscapeString(word))
}
