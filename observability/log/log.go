// Package log builds the slog loggers of a Patron service: JSON by default,
// with trace_id, span_id and correlation_id taken from the context of every
// record, and a logger carried in the context instead of a global.
package log

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Field names added by Handler.
const (
	TraceIDKey       = "trace_id"
	SpanIDKey        = "span_id"
	CorrelationIDKey = "correlation_id"
)

// Handler wraps another slog.Handler and adds the trace and span IDs of the
// span in the record's context, and its correlation ID.
type Handler struct {
	inner slog.Handler
	// flush, when the logger of New writes to a BufferedWriter, is its
	// Flush: records at ERROR or above reach the writer before Handle
	// returns.
	flush func() error
}

// NewHandler wraps inner.
func NewHandler(inner slog.Handler) *Handler { return &Handler{inner: inner} }

// Enabled reports whether inner handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle adds the context's IDs to r and passes it on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if j, ok := h.inner.(*jsonHandler); ok {
		err = j.handle(ctx, r, true)
	} else {
		err = h.inner.Handle(ctx, addIDs(ctx, r))
	}
	if h.flush != nil && r.Level >= slog.LevelError {
		err = errors.Join(err, h.flush())
	}
	return err
}

// WithAttrs returns a Handler whose inner handler has attrs.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs), flush: h.flush}
}

// WithGroup returns a Handler whose inner handler opens group name.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), flush: h.flush}
}

// Format is the encoding of log records.
type Format string

// Supported formats.
const (
	FormatJSON Format = "json"
	FormatText Format = "text"
)

// ParseFormat accepts "json" (or "") and "text".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "json":
		return FormatJSON, nil
	case "text":
		return FormatText, nil
	}
	return "", fmt.Errorf("log: unknown format %q (want json or text)", s)
}

// ParseLevel accepts debug, info, warn (or warning) and error, in any case.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log: unknown level %q (want debug, info, warn or error)", s)
}

// New returns a logger writing to w in format, filtered by level (a LevelVar
// so that it can change at run time), that adds the context IDs to each
// record. When w is a BufferedWriter, every record at ERROR or above
// flushes it.
func New(w io.Writer, format Format, level slog.Leveler, attrs ...slog.Attr) *slog.Logger {
	var inner slog.Handler
	if format == FormatText {
		inner = slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	} else {
		inner = newJSONHandler(w, level)
	}
	if len(attrs) > 0 {
		inner = inner.WithAttrs(attrs)
	}
	h := NewHandler(inner)
	if bw, ok := w.(*BufferedWriter); ok {
		h.flush = bw.Flush
	}
	return slog.New(h)
}

type ctxKey struct{}

// WithContext returns a copy of ctx that carries l.
func WithContext(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the logger carried by ctx, or slog.Default() when ctx
// carries none.
func FromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
