package encoding

import (
	"mime"
	"strconv"
	"strings"
)

// Negotiate picks, from offers (content types in the server's order of
// preference), the one an Accept header prefers: highest q wins, then the
// most specific range (type/subtype over type/* over */*), then the
// server's order. An empty Accept accepts anything, so the first offer
// wins. ok is false when Accept refuses every offer; callers usually answer
// with their first offer anyway, as RFC 9110 allows, rather than 406.
func Negotiate(accept string, offers ...string) (string, bool) {
	if len(offers) == 0 {
		return "", false
	}
	if strings.TrimSpace(accept) == "" {
		return offers[0], true
	}
	best, bestQ := "", 0.0
	for _, offer := range offers {
		q := acceptQuality(accept, offer)
		if q > bestQ {
			best, bestQ = offer, q
		}
	}
	return best, bestQ > 0
}

// acceptQuality is the q that accept gives to offer, taken from the most
// specific matching range (RFC 9110, section 12.5.1).
func acceptQuality(accept, offer string) float64 {
	otype, osub, _ := strings.Cut(strings.ToLower(offer), "/")
	q, spec := 0.0, -1
	for accept != "" {
		var part string
		part, accept, _ = strings.Cut(accept, ",")
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		t, sub, ok := strings.Cut(mt, "/")
		if !ok {
			continue
		}
		s := -1
		switch {
		case t == otype && sub == osub:
			s = 2
		case t == otype && sub == "*":
			s = 1
		case t == "*" && sub == "*":
			s = 0
		}
		if s < 0 || s < spec {
			continue
		}
		pq := 1.0
		if v, ok := params["q"]; ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			pq = f
		}
		if s > spec || pq > q {
			q, spec = pq, s
		}
	}
	return q
}

// NegotiateBody picks JSON or Protobuf for a response from an Accept
// header; protobuf only when protoOK (the value is a proto.Message). It
// falls back to JSON when Accept names neither.
func NegotiateBody(accept string, protoOK bool) string {
	if !protoOK {
		return JSON
	}
	if ct, ok := Negotiate(accept, JSON, Protobuf, "application/protobuf"); ok {
		if ct == "application/protobuf" {
			return Protobuf
		}
		return ct
	}
	return JSON
}
