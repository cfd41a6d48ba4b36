package patron

import (
	"context"
	"io"
	"log/slog"
	"os"

	patronlog "github.com/patron-go/patron/observability/log"
)

// setupLogger builds the service's logger: Patron's own from
// PATRON_LOG_FORMAT, or the user's (WithLogger) wrapped so that it adds the
// context's IDs and obeys the service's level like Patron's does.
func (s *Service) setupLogger() {
	cfg := &s.cfg
	if cfg.logger == nil {
		lvl := slog.LevelInfo
		if cfg.logLevel != nil {
			lvl = *cfg.logLevel
		}
		s.level.Set(lvl)
		s.levelFloor = slog.LevelDebug
		format, _ := patronlog.ParseFormat(cfg.logFormat) // validated in readEnv
		var out io.Writer = os.Stderr
		if format == patronlog.FormatJSON {
			// A write(2) per record is most of what the access log costs;
			// the buffer batches them, flushes every 100ms, on every
			// error, and when Run ends (closeLog).
			// It buffers only while Run serves (startLog), so that a
			// record logged before Run and followed by os.Exit is not lost.
			bw, err := patronlog.NewBufferedWriter(os.Stderr)
			if err == nil { // never, with defaults and a non-nil writer
				_ = bw.SetDirect(true) // nothing buffered yet: cannot fail
				s.logOut, out = bw, bw
			}
		}
		s.logger = patronlog.New(out, format, s.level,
			slog.String("service", s.name), slog.String("version", s.version), slog.String("instance", instanceName()))
		return
	}
	inner := cfg.logger.Handler()
	s.levelFloor = lowestEnabled(inner)
	lvl := s.levelFloor
	if cfg.logLevel != nil {
		lvl = max(*cfg.logLevel, s.levelFloor)
	}
	s.level.Set(lvl)
	var h slog.Handler = &levelHandler{inner: inner, level: s.level}
	if _, ok := inner.(*patronlog.Handler); !ok {
		h = patronlog.NewHandler(h)
	}
	s.logger = slog.New(h)
}

// startLog makes the default logger buffer its records while Run serves.
func (s *Service) startLog() {
	if s.logOut != nil {
		_ = s.logOut.SetDirect(false) // only flushes when turning direct: no error
	}
}

// closeLog flushes the default logger's buffer at the end of Run and
// makes later records go straight to stderr, so that nothing logged during
// or after the shutdown waits in memory for a process about to exit.
func (s *Service) closeLog() {
	if s.logOut != nil {
		_ = s.logOut.Close() // stderr refusing a write has nowhere to be reported
	}
}

// flushingWriter is the log package's output once slog's default is the
// service's buffered logger: log.Fatal and log.Panic end the process right
// after their Write, so every line of the log package is flushed at once
// (it is not on anyone's hot path).
type flushingWriter struct {
	w     io.Writer
	flush func() error
}

func (f flushingWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if ferr := f.flush(); err == nil {
		err = ferr
	}
	return n, err
}

// lowestEnabled is the lowest of the levels Patron names that h handles:
// the service's level cannot go below it, since h would drop the records
// anyway.
func lowestEnabled(h slog.Handler) slog.Level {
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if h.Enabled(context.Background(), l) {
			return l
		}
	}
	return slog.LevelError
}

// levelHandler filters a user's handler by the service's level, so that
// PUT /debug/log-level applies to a logger given with WithLogger too.
type levelHandler struct {
	inner slog.Handler
	level slog.Leveler
}

func (h *levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.inner.Enabled(ctx, l)
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.inner.Handle(ctx, r)
}

func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelHandler{inner: h.inner.WithAttrs(attrs), level: h.level}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{inner: h.inner.WithGroup(name), level: h.level}
}
