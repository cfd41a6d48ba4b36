// Package encoding encodes and decodes message and request bodies as JSON or
// protobuf, chosen by content type, so every transport treats bodies alike.
package encoding

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/patron-go/patron/reliability"
)

// Content types Patron understands.
const (
	JSON     = "application/json"
	Protobuf = "application/x-protobuf"
)

// ErrUnsupportedContentType is returned for a content type that is neither
// JSON nor protobuf (HTTP answers it with 415).
var ErrUnsupportedContentType = errors.New("encoding: unsupported content type")

// ErrMalformed wraps a body that does not decode (HTTP answers it with 400).
// Decode's errors also match reliability.ErrPermanent, so that consumers
// send a malformed message to their failure strategy without retrying it.
var ErrMalformed = errors.New("encoding: malformed body")

// Normalize returns the media type of contentType without parameters, in
// lower case, mapping the protobuf aliases to Protobuf. An empty content type
// is taken as JSON, the common default of APIs and message payloads.
func Normalize(contentType string) (string, error) {
	if strings.TrimSpace(contentType) == "" {
		return JSON, nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrUnsupportedContentType, contentType, err)
	}
	switch mt {
	case JSON:
		return JSON, nil
	case Protobuf, "application/protobuf", "application/vnd.google.protobuf", "application/x-google-protobuf":
		return Protobuf, nil
	}
	if strings.HasSuffix(mt, "+json") {
		return JSON, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnsupportedContentType, contentType)
}

// errMalformed is ErrMalformed marked permanent.
var errMalformed = fmt.Errorf("%w (%w)", ErrMalformed, reliability.ErrPermanent)

// Decode unmarshals data of contentType into v; v must be a proto.Message
// for protobuf.
func Decode(contentType string, data []byte, v any) error {
	ct, err := Normalize(contentType)
	if err != nil {
		return err
	}
	if ct == Protobuf {
		m, ok := v.(proto.Message)
		if !ok {
			return fmt.Errorf("encoding: decoding protobuf into %T, which is not a proto.Message", v)
		}
		if err := proto.Unmarshal(data, m); err != nil {
			return fmt.Errorf("%w: protobuf: %w", errMalformed, err)
		}
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: JSON: %w", errMalformed, err)
	}
	return nil
}

// Encode marshals v as contentType.
func Encode(contentType string, v any) ([]byte, error) {
	ct, err := Normalize(contentType)
	if err != nil {
		return nil, err
	}
	if ct == Protobuf {
		m, ok := v.(proto.Message)
		if !ok {
			return nil, fmt.Errorf("encoding: encoding %T as protobuf, which is not a proto.Message", v)
		}
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encoding: protobuf: %w", err)
		}
		return b, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding: JSON: %w", err)
	}
	return b, nil
}
