package http

import (
	"bytes"
	"errors"
	"io"
	nethttp "net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
)

// decoderPools reuses gzip readers, whose state is about 40 KiB; it belongs
// to one transport, so nothing is shared between clients.
type decoderPools struct {
	gzip sync.Pool
}

// wrap replaces a gzip or deflate body with its decoded content and removes
// the headers that described the encoded one, as net/http does when it
// asked for gzip itself.
func (p *decoderPools) wrap(resp *nethttp.Response) {
	if resp.Body == nil || resp.Body == nethttp.NoBody {
		return
	}
	var kind int
	switch strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))) {
	case "gzip", "x-gzip":
		kind = encGzip
	case "deflate":
		kind = encDeflate
	default:
		return
	}
	resp.Body = &decodingBody{src: resp.Body, kind: kind, pools: p}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
}

const (
	encGzip = iota + 1
	encDeflate
)

// decodingBody starts decoding on the first Read, so that RoundTrip does not
// block on reading the stream's header.
type decodingBody struct {
	src   io.ReadCloser
	kind  int
	pools *decoderPools
	r     io.Reader
	gz    *gzip.Reader
	err   error
}

func (b *decodingBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.r == nil {
		if err := b.init(); err != nil {
			b.err = err
			return 0, err
		}
	}
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

func (b *decodingBody) init() error {
	switch b.kind {
	case encGzip:
		if gz, ok := b.pools.gzip.Get().(*gzip.Reader); ok {
			if err := gz.Reset(b.src); err != nil {
				b.pools.gzip.Put(gz)
				return err
			}
			b.gz = gz
		} else {
			gz, err := gzip.NewReader(b.src)
			if err != nil {
				return err
			}
			b.gz = gz
		}
		b.r = b.gz
	case encDeflate:
		// "deflate" is zlib-wrapped (RFC 9110), but some servers send raw
		// DEFLATE; the zlib header tells them apart.
		var hdr [2]byte
		n, err := io.ReadFull(b.src, hdr[:])
		if err != nil {
			if n == 0 && errors.Is(err, io.EOF) {
				b.r = bytes.NewReader(nil)
				return nil
			}
			return err
		}
		src := io.MultiReader(bytes.NewReader(hdr[:]), b.src)
		if hdr[0]&0x0f == 8 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0 {
			zr, err := zlib.NewReader(src)
			if err != nil {
				return err
			}
			b.r = zr
		} else {
			b.r = flate.NewReader(src)
		}
	}
	return nil
}

func (b *decodingBody) Close() error {
	if b.gz != nil {
		if b.err == nil {
			// A reader that failed may hold a broken state; drop it.
			b.pools.gzip.Put(b.gz)
		}
		b.gz = nil
	}
	b.err = errors.New("client/http: read on closed response body")
	return b.src.Close()
}
