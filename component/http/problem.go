package http

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/encoding"
)

// ProblemContentType is the media type of RFC 9457 problem details.
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem detail. It is an error, so handlers can
// return one from helpers and write it with WriteError.
type Problem struct {
	// Type is a URI naming the problem type; empty means "about:blank".
	Type string
	// Title is a short summary of the type; defaults to the status text.
	Title string
	// Status is the HTTP status code.
	Status int
	// Detail explains this occurrence, for the client. It must not carry
	// secrets or internal error text.
	Detail string
	// Instance is a URI identifying this occurrence.
	Instance string
	// Extensions are extra members, written at the top level.
	Extensions map[string]any
}

// NewProblem returns a problem of status with detail.
func NewProblem(status int, detail string) *Problem {
	return &Problem{Status: status, Title: http.StatusText(status), Detail: detail}
}

// Error implements error.
func (p *Problem) Error() string {
	s := strconv.Itoa(p.Status) + " " + p.title()
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

func (p *Problem) title() string {
	if p.Title != "" {
		return p.Title
	}
	return http.StatusText(p.Status)
}

// MarshalJSON writes the standard members and the extensions (which cannot
// override the standard ones).
func (p *Problem) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 5+len(p.Extensions))
	maps.Copy(m, p.Extensions)
	if p.Type != "" {
		m["type"] = p.Type
	} else {
		delete(m, "type")
	}
	m["title"] = p.title()
	m["status"] = p.Status
	if p.Detail != "" {
		m["detail"] = p.Detail
	} else {
		delete(m, "detail")
	}
	if p.Instance != "" {
		m["instance"] = p.Instance
	} else {
		delete(m, "instance")
	}
	return json.Marshal(m)
}

// WriteProblem writes a problem of status with detail.
func WriteProblem(w http.ResponseWriter, _ *http.Request, status int, detail string) {
	writeProblem(w, NewProblem(status, detail))
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	status := p.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
		p.Status = status
	}
	b, err := json.Marshal(p)
	if err != nil {
		b = []byte(`{"title":"Internal Server Error","status":500}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", ProblemContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// StatusOf maps an error to the HTTP status that describes it: a *Problem
// gives its own, a malformed body 400, an oversized one 413, an unsupported
// content type 415, an expired context 504, anything else 500.
func StatusOf(err error) int {
	var p *Problem
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &p):
		return p.Status
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, encoding.ErrUnsupportedContentType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, encoding.ErrMalformed):
		return http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// WriteError writes err as problem+json with StatusOf(err). A *Problem is
// written as it is; 4xx errors say what was wrong; other errors are
// recorded on the request's span but their text stays out of the response
// (it may name internals).
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var p *Problem
	if errors.As(err, &p) {
		writeProblem(w, p)
		return
	}
	status := StatusOf(err)
	detail := ""
	if status < 500 {
		detail = err.Error()
	} else if r != nil {
		trace.SpanFromContext(r.Context()).RecordError(err)
	}
	WriteProblem(w, r, status, detail)
}
