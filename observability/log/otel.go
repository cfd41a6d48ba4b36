package log

import (
	"context"
	"errors"
	"log/slog"
)

// Tee is a handler that writes each record to its primary handler (the
// service's JSON on stderr) and hands it to export as well (the OpenTelemetry
// slog bridge), so that a receiver shows the records under their spans
// without the service losing its local output. The primary decides which
// levels are enabled, so the service's level (and PUT /debug/log-level)
// applies to both.
type Tee struct {
	primary, export slog.Handler
}

// NewTee returns a Tee of primary and export. With a nil export it returns
// primary itself: a service that does not export logs keeps its handler, and
// its allocation-free path, untouched.
func NewTee(primary, export slog.Handler) slog.Handler {
	if export == nil {
		return primary
	}
	return &Tee{primary: primary, export: export}
}

// Enabled reports whether the primary handler takes level.
func (t *Tee) Enabled(ctx context.Context, level slog.Level) bool {
	return t.primary.Enabled(ctx, level)
}

// Handle writes r to the primary handler, then exports it. The export
// handler reads the trace and span IDs from ctx, as the primary does.
func (t *Tee) Handle(ctx context.Context, r slog.Record) error {
	err := t.primary.Handle(ctx, r)
	if xerr := t.export.Handle(ctx, r); xerr != nil {
		return errors.Join(err, xerr)
	}
	return err
}

// WithAttrs returns a Tee whose two handlers have attrs.
func (t *Tee) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Tee{primary: t.primary.WithAttrs(attrs), export: t.export.WithAttrs(attrs)}
}

// WithGroup returns a Tee whose two handlers open group name.
func (t *Tee) WithGroup(name string) slog.Handler {
	return &Tee{primary: t.primary.WithGroup(name), export: t.export.WithGroup(name)}
}
