package http

import (
	"io"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// DefaultCompressionThreshold is the body size under which responses are sent
// as they are: below about a kilobyte, compression saves less than the CPU
// and the extra header cost.
const DefaultCompressionThreshold = 1024

// contentEncoding identifies a supported Content-Encoding; 0 is identity.
type contentEncoding uint8

const (
	encIdentity contentEncoding = iota
	encZstd
	encBrotli
	encGzip
	encDeflate
	numEncodings
)

var encodingNames = [numEncodings]string{"", "zstd", "br", "gzip", "deflate"}

// compressor is what the pooled writers of every encoding have in common.
type compressor interface {
	io.Writer
	Flush() error
	Close() error
	Reset(w io.Writer)
}

// compressors pools one writer type per encoding. Writers are expensive to
// build (gzip allocates ~800 KB of tables, zstd more), so they are reused
// across requests; that is what keeps compressed responses cheap.
type compressors struct {
	pools [numEncodings]sync.Pool
}

func newCompressors() *compressors {
	c := &compressors{}
	c.pools[encGzip].New = func() any {
		w, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression) // level is valid: no error
		return w
	}
	c.pools[encDeflate].New = func() any {
		w, _ := zlib.NewWriterLevel(io.Discard, zlib.DefaultCompression)
		return w
	}
	c.pools[encZstd].New = func() any {
		// One goroutine-free encoder per response, and a window that
		// browsers accept (they cap zstd windows at 8 MB).
		w, _ := zstd.NewWriter(io.Discard,
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithWindowSize(1<<20),
			zstd.WithLowerEncoderMem(true))
		return w
	}
	c.pools[encBrotli].New = func() any {
		// Level 4 is the usual on-the-fly compromise: close to gzip's
		// speed, better ratio; the default (6) is meant for static assets.
		return brotli.NewWriterLevel(io.Discard, 4)
	}
	return c
}

func (c *compressors) get(e contentEncoding, dst io.Writer) compressor {
	w := c.pools[e].Get().(compressor)
	w.Reset(dst)
	return w
}

func (c *compressors) put(e contentEncoding, w compressor) {
	// Detach from the response so the pool does not keep it alive.
	w.Reset(io.Discard)
	c.pools[e].Put(w)
}

// negotiateEncoding picks the best encoding of an Accept-Encoding header
// without allocating: highest q wins, ties go to the server's preference
// (zstd, br, gzip, deflate). Anything unknown or malformed counts as not
// accepted, so the worst case is identity, never 406.
func negotiateEncoding(header string) contentEncoding {
	if header == "" {
		return encIdentity
	}
	var q [numEncodings]int // thousandths; -1 = explicitly refused
	for i := range q {
		q[i] = -2 // not mentioned
	}
	star := -2
	for header != "" {
		var part string
		part, header, _ = strings.Cut(header, ",")
		name, params, _ := strings.Cut(part, ";")
		name = strings.TrimSpace(name)
		v := parseQ(params)
		switch {
		case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
			q[encGzip] = v
		case strings.EqualFold(name, "deflate"):
			q[encDeflate] = v
		case strings.EqualFold(name, "br"):
			q[encBrotli] = v
		case strings.EqualFold(name, "zstd"):
			q[encZstd] = v
		case name == "*":
			star = v
		}
	}
	best, bestQ := encIdentity, 0
	for e := encZstd; e < numEncodings; e++ {
		v := q[e]
		if v == -2 {
			v = star
		}
		if v > bestQ {
			best, bestQ = e, v
		}
	}
	return best
}

// parseQ returns the q parameter in thousandths (1000 when absent, 0 when
// malformed).
func parseQ(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		return parseQValue(strings.TrimSpace(v))
	}
	return 1000
}

func parseQValue(v string) int {
	if v == "" || (v[0] != '0' && v[0] != '1') {
		return 0
	}
	n := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return n
	}
	if v[1] != '.' || len(v) > 5 {
		return 0
	}
	scale := 100
	for i := 2; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0
		}
		n += int(v[i]-'0') * scale
		scale /= 10
	}
	if n > 1000 {
		return 0
	}
	return n
}

// compressible reports whether a response of this content type is worth
// compressing: media that is already compressed, and event streams (which
// must reach the client chunk by chunk), are not.
func compressible(contentType string) bool {
	if contentType == "" {
		return true
	}
	ct := contentType
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	switch {
	case strings.HasPrefix(ct, "text/event-stream"):
		return false
	case strings.HasPrefix(ct, "text/"), strings.HasSuffix(ct, "+json"), strings.HasSuffix(ct, "+xml"):
		return true
	case strings.HasPrefix(ct, "image/"):
		return ct == "image/svg+xml" || ct == "image/bmp"
	case strings.HasPrefix(ct, "video/"), strings.HasPrefix(ct, "audio/"), strings.HasPrefix(ct, "font/woff"):
		return false
	}
	switch ct {
	case "application/json", "application/javascript", "application/xml", "application/x-protobuf",
		"application/protobuf", "application/wasm", "application/x-ndjson", "application/grpc-web",
		"application/x-yaml", "application/yaml", "application/graphql":
		return true
	}
	return false
}
