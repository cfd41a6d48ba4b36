package http

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/patron-go/patron/encoding"
)

// Decode reads r's body as its Content-Type says (JSON when absent,
// protobuf) into v. Its errors are *Problem values ready for WriteError: 400
// for a malformed or unreadable body, 413 over the route's body limit, 415
// for another content type.
func Decode(r *http.Request, v any) error {
	ct, err := encoding.Normalize(r.Header.Get("Content-Type"))
	if err != nil {
		return &Problem{Status: http.StatusUnsupportedMediaType, Title: http.StatusText(http.StatusUnsupportedMediaType),
			Detail: fmt.Sprintf("content type %q is not supported; send %s or %s", r.Header.Get("Content-Type"), encoding.JSON, encoding.Protobuf)}
	}
	if r.Body == nil {
		return NewProblem(http.StatusBadRequest, "request body is empty")
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return NewProblem(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", mbe.Limit))
		}
		return NewProblem(http.StatusBadRequest, "reading request body: "+err.Error())
	}
	if len(data) == 0 {
		return NewProblem(http.StatusBadRequest, "request body is empty")
	}
	if err := encoding.Decode(ct, data, v); err != nil {
		if errors.Is(err, encoding.ErrMalformed) {
			return NewProblem(http.StatusBadRequest, "malformed "+ct+" body: "+err.Error())
		}
		// The body type does not fit the handler's value (e.g. protobuf
		// sent to a handler that only decodes JSON structs).
		return &Problem{Status: http.StatusUnsupportedMediaType, Title: http.StatusText(http.StatusUnsupportedMediaType),
			Detail: fmt.Sprintf("this endpoint does not accept %s bodies", ct)}
	}
	return nil
}

// Respond writes v with status, encoded as the request's Accept header
// prefers: protobuf when asked for and v is a proto.Message, JSON
// otherwise. It adds Vary: Accept, since the body depends on it.
func Respond(w http.ResponseWriter, r *http.Request, status int, v any) error {
	_, isProto := v.(proto.Message)
	ct := encoding.NegotiateBody(r.Header.Get("Accept"), isProto)
	b, err := encoding.Encode(ct, v)
	if err != nil {
		WriteError(w, r, err)
		return err
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if isProto {
		h.Add("Vary", "Accept")
	}
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}
