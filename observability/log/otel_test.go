package log

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/patron-go/patron/observability/observabilitytest"
)

// recorder is an export handler that keeps what it was given.
type recorder struct {
	attrs   []slog.Attr
	group   string
	records *[]slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	*r.records = append(*r.records, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs(a []slog.Attr) slog.Handler {
	return &recorder{attrs: append(append([]slog.Attr(nil), r.attrs...), a...), group: r.group, records: r.records}
}
func (r *recorder) WithGroup(g string) slog.Handler {
	return &recorder{attrs: r.attrs, group: g, records: r.records}
}

func TestTeeWritesBothAndFollowsThePrimaryLevel(t *testing.T) {
	var local observabilitytest.LogBuffer
	var got []slog.Record
	level := new(slog.LevelVar)
	l := slog.New(NewTee(New(&local, FormatJSON, level).Handler(), &recorder{records: &got}))
	l = l.With("k", "v").WithGroup("g")
	l.Info("one", "a", 1)
	l.Debug("dropped by the level")
	level.Set(slog.LevelDebug)
	l.Debug("two")
	if len(got) != 2 || got[0].Message != "one" || got[1].Message != "two" {
		t.Fatalf("exported %v", got)
	}
	if lines := local.Records(t); len(lines) != 2 || lines[0]["k"] != "v" {
		t.Fatalf("local %v", lines)
	}
	h := l.Handler().(*Tee).export.(*recorder)
	if len(h.attrs) != 1 || h.attrs[0].Key != "k" || h.group != "g" {
		t.Fatalf("export handler attrs %v group %q", h.attrs, h.group)
	}
}

// Without export the service's handler is used as it is, so the
// allocation-free JSON path stays allocation-free.
func TestTeeWithoutExportIsThePrimary(t *testing.T) {
	primary := New(io.Discard, FormatJSON, slog.LevelInfo).Handler()
	h := NewTee(primary, nil)
	if h != primary {
		t.Fatalf("NewTee(h, nil) = %T, want h itself", h)
	}
	l := slog.New(h)
	ctx := context.Background()
	if n := testing.AllocsPerRun(200, func() { l.InfoContext(ctx, "request", "status", 200, "path", "/hello") }); n != 0 {
		t.Fatalf("%v allocations per record with export off", n)
	}
}
