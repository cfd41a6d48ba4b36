package log

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/patron-go/patron/correlation"
)

// jsonHandler writes exactly what slog.JSONHandler writes, byte for byte,
// at a fraction of the cost for the records services log on every request:
// attributes of the common kinds (string, integers, bool, duration, time)
// are appended straight into a pooled buffer, with the context's IDs
// hex-encoded in place instead of through strings. Anything it cannot
// reproduce exactly (groups, floats, arbitrary values, LogValuers, years
// outside 0–9999) goes to the slog.JSONHandler it carries, which has had
// the same WithAttrs and WithGroup calls, so the output is the same either
// way.
type jsonHandler struct {
	slow  slog.Handler
	out   *lockedWriter
	level slog.Leveler
	pre   []byte // preformatted WithAttrs attributes, each with its leading comma
	fast  bool   // false once a WithGroup or an unusual WithAttrs happened
}

// lockedWriter serialises the writes of the fast and the slow path (and of
// every handler derived by WithAttrs), as slog.JSONHandler's own mutex does.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newJSONHandler(w io.Writer, level slog.Leveler) *jsonHandler {
	out := &lockedWriter{w: w}
	return &jsonHandler{
		slow:  slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level, ReplaceAttr: durationString}),
		out:   out,
		level: level,
		fast:  true,
	}
}

// bufPool holds line buffers; unusually long lines are not kept.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledBuf = 16 << 10

func (h *jsonHandler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.level != nil {
		min = h.level.Level()
	}
	return l >= min
}

func (h *jsonHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.handle(ctx, r, false)
}

// handle writes r, followed by the context's trace_id, span_id and
// correlation_id when withIDs is set (Handler's job, done here without
// allocating).
func (h *jsonHandler) handle(ctx context.Context, r slog.Record, withIDs bool) error {
	if !h.fast || !fastTime(r.Time) {
		return h.handleSlow(ctx, r, withIDs)
	}
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, '{')
	if !r.Time.IsZero() {
		b = append(b, `"time":"`...)
		b = r.Time.Round(0).AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"', ',')
	}
	b = append(b, `"level":`...)
	b = appendString(b, r.Level.String())
	b = append(b, `,"msg":`...)
	b = appendString(b, r.Message)
	b = append(b, h.pre...)
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		b, ok = appendAttr(b, a)
		return ok
	})
	if !ok {
		// One pass, no pre-check: the rare record with an unusual
		// attribute costs a wasted partial line.
		putBuf(bp, b)
		return h.handleSlow(ctx, r, withIDs)
	}
	if withIDs && ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			tid, sid := sc.TraceID(), sc.SpanID()
			b = append(b, `,"`+TraceIDKey+`":"`...)
			b = hex.AppendEncode(b, tid[:])
			b = append(b, `","`+SpanIDKey+`":"`...)
			b = hex.AppendEncode(b, sid[:])
			b = append(b, '"')
		}
		if id, ok := correlation.FromContext(ctx); ok {
			b = append(b, `,"`+CorrelationIDKey+`":`...)
			b = appendString(b, id)
		}
	}
	b = append(b, '}', '\n')
	_, err := h.out.Write(b)
	putBuf(bp, b)
	return err
}

func (h *jsonHandler) handleSlow(ctx context.Context, r slog.Record, withIDs bool) error {
	if withIDs {
		r = addIDs(ctx, r)
	}
	return h.slow.Handle(ctx, r)
}

func putBuf(bp *[]byte, b []byte) {
	if cap(b) <= maxPooledBuf {
		*bp = b
		bufPool.Put(bp)
	}
}

func (h *jsonHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	h2.slow = h.slow.WithAttrs(attrs)
	if h.fast {
		pre := make([]byte, len(h.pre), len(h.pre)+32*len(attrs))
		copy(pre, h.pre)
		for _, a := range attrs {
			var ok bool
			if pre, ok = appendAttr(pre, a); !ok {
				h2.fast, pre = false, nil
				break
			}
		}
		h2.pre = pre
	}
	return &h2
}

func (h *jsonHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.slow = h.slow.WithGroup(name)
	h2.fast = false
	return &h2
}

// fastTime: slog reports an error in place of years RFC 3339 cannot hold.
func fastTime(t time.Time) bool {
	y := t.Year()
	return t.IsZero() || (y >= 0 && y < 10000)
}

// appendAttr appends `,"key":value` and reports true when it writes a
// exactly as slog.JSONHandler would; otherwise b is garbage and the record
// must go to slog. An empty key is left to slog, which elides some such
// attributes.
func appendAttr(b []byte, a slog.Attr) ([]byte, bool) {
	if a.Key == "" {
		return b, false
	}
	v := a.Value
	k := v.Kind()
	switch k {
	case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindBool, slog.KindDuration:
	case slog.KindTime:
		if !fastTime(v.Time()) {
			return b, false
		}
	default:
		return b, false
	}
	b = append(b, ',')
	b = appendString(b, a.Key)
	b = append(b, ':')
	switch k {
	case slog.KindString:
		b = appendString(b, v.String())
	case slog.KindInt64:
		b = strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		b = strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		b = strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		b = append(b, '"')
		b = appendDuration(b, v.Duration())
		b = append(b, '"')
	case slog.KindTime:
		b = append(b, '"')
		b = v.Time().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	return b, true
}

// durationString is the slow path's ReplaceAttr: durations as Go writes
// them ("1.5s", "30s"), not slog's integer nanoseconds, which a reader of
// the log cannot tell from any other number.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// appendDuration appends d.String() without its allocation (the access
// log writes one duration per request). Adapted from time.Duration.String,
// BSD licence, The Go Authors.
func appendDuration(b []byte, d time.Duration) []byte {
	var arr [32]byte
	n := len(arr)
	u := uint64(d)
	neg := d < 0
	if neg {
		u = -u
	}
	if u < uint64(time.Second) {
		// Less than a second: one unit (ns, µs or ms), with a fraction.
		var prec int
		n--
		arr[n] = 's'
		n--
		switch {
		case u == 0:
			return append(b, '0', 's')
		case u < uint64(time.Microsecond):
			prec = 0
			arr[n] = 'n'
		case u < uint64(time.Millisecond):
			prec = 3
			// U+00B5 'µ' micro sign == 0xC2 0xB5; n is on the 'µ' byte.
			n--
			copy(arr[n:], "µ")
		default:
			prec = 6
			arr[n] = 'm'
		}
		n, u = fmtFrac(arr[:n], u, prec)
		n = fmtInt(arr[:n], u)
	} else {
		n--
		arr[n] = 's'
		n, u = fmtFrac(arr[:n], u, 9)
		n = fmtInt(arr[:n], u%60)
		u /= 60
		if u > 0 {
			n--
			arr[n] = 'm'
			n = fmtInt(arr[:n], u%60)
			u /= 60
			if u > 0 {
				n--
				arr[n] = 'h'
				n = fmtInt(arr[:n], u)
			}
		}
	}
	if neg {
		n--
		arr[n] = '-'
	}
	return append(b, arr[n:]...)
}

// fmtFrac formats the fraction of v/10**prec (e.g. ".12345") into the tail
// of buf, omitting trailing zeros and the point when the fraction is 0. It
// returns the index where the output starts and v/10**prec.
func fmtFrac(buf []byte, v uint64, prec int) (int, uint64) {
	w := len(buf)
	printed := false
	for range prec {
		digit := v % 10
		printed = printed || digit != 0
		if printed {
			w--
			buf[w] = byte(digit) + '0'
		}
		v /= 10
	}
	if printed {
		w--
		buf[w] = '.'
	}
	return w, v
}

// fmtInt formats v into the tail of buf and returns where it starts.
func fmtInt(buf []byte, v uint64) int {
	w := len(buf)
	if v == 0 {
		w--
		buf[w] = '0'
		return w
	}
	for v > 0 {
		w--
		buf[w] = byte(v%10) + '0'
		v /= 10
	}
	return w
}

// addIDs is what Handler adds to a record it passes on: one AddAttrs call
// and one string for both span IDs.
func addIDs(ctx context.Context, r slog.Record) slog.Record {
	if ctx == nil {
		return r
	}
	var ids [3]slog.Attr
	n := 0
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		tid, sid := sc.TraceID(), sc.SpanID()
		var buf [2*len(tid) + 2*len(sid)]byte
		hex.Encode(buf[:2*len(tid)], tid[:])
		hex.Encode(buf[2*len(tid):], sid[:])
		both := string(buf[:])
		ids[0] = slog.String(TraceIDKey, both[:2*len(tid)])
		ids[1] = slog.String(SpanIDKey, both[2*len(tid):])
		n = 2
	}
	if id, ok := correlation.FromContext(ctx); ok {
		ids[n] = slog.String(CorrelationIDKey, id)
		n++
	}
	if n > 0 {
		r.AddAttrs(ids[:n]...)
	}
	return r
}

// appendString appends s as a JSON string the way slog does: no HTML
// escaping, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped. Adapted
// from log/slog (appendEscapedJSONString), BSD licence, The Go Authors.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, '\\')
			switch c {
			case '\\', '"':
				b = append(b, c)
			case '\n':
				b = append(b, 'n')
			case '\r':
				b = append(b, 'r')
			case '\t':
				b = append(b, 't')
			default:
				b = append(b, 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
