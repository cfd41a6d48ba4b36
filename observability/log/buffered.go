package log

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/patron-go/patron/internal/option"
)

// Defaults of NewBufferedWriter.
const (
	// DefaultBufferSize is the size of each of the writer's two buffers.
	DefaultBufferSize = 64 << 10
	// DefaultFlushInterval is the longest a record waits in the buffer.
	DefaultFlushInterval = 100 * time.Millisecond
)

// BufferedWriter batches log records on their way to w (stderr, usually):
// one write(2) per batch instead of one per record, which is most of what
// an access log line costs a busy server.
//
// It never drops a record. Its bound is two buffers of the configured size
// (DefaultBufferSize, 64 KiB): one fills while the other is written to w.
// A Write that finds the filling buffer full hands it over for writing and
// waits, with every other writer, until the previous batch is out: writers
// block, records are not lost. A record larger than a buffer is written
// straight through.
//
// A batch is written when the buffer fills, at the latest the flush
// interval (DefaultFlushInterval, 100ms) after its first record, on Flush
// (which the logger of New calls after every record at ERROR or above, so
// an error is on w before the call that logged it returns), and on Close.
// After Close (or SetDirect(true)) every Write goes straight to w, so
// records logged after a service's shutdown still arrive; a Patron service
// buffers only while Run serves.
//
// It runs no goroutine of its own: the interval flush is a timer armed by
// the first record of a batch.
type BufferedWriter struct {
	w        io.Writer
	size     int
	interval time.Duration

	mu     sync.Mutex // guards buf, armed, direct, err
	buf    []byte     // the filling buffer
	armed  bool       // the interval timer runs for buf's records
	direct bool       // Close or SetDirect(true): writes go straight to w
	err    error      // the first write error since the last report
	timer  *time.Timer

	// out is held while a batch is written to w. It is taken with mu held,
	// so batches reach w in the order they were filled, and it guards
	// spare, the buffer not filling.
	out   sync.Mutex
	spare []byte
}

// BufferOption configures NewBufferedWriter.
type BufferOption func(*bufferConfig) error

type bufferConfig struct {
	size     int
	interval time.Duration
}

// WithBufferSize sets the size of each of the two buffers, in bytes
// (DefaultBufferSize when not given); it must be at least 1024.
func WithBufferSize(n int) BufferOption {
	return func(c *bufferConfig) error {
		if n < 1024 {
			return fmt.Errorf("log: buffer size %d is below 1024 bytes", n)
		}
		c.size = n
		return nil
	}
}

// WithFlushInterval sets the longest a record waits in the buffer
// (DefaultFlushInterval when not given); it must be positive.
func WithFlushInterval(d time.Duration) BufferOption {
	return func(c *bufferConfig) error {
		if d <= 0 {
			return fmt.Errorf("log: flush interval %s is not positive", d)
		}
		c.interval = d
		return nil
	}
}

// NewBufferedWriter returns a BufferedWriter in front of w. Close it when
// done (a Patron service closes its own at the end of Run).
func NewBufferedWriter(w io.Writer, opts ...BufferOption) (*BufferedWriter, error) {
	if w == nil {
		return nil, errors.New("log: buffered writer: writer is nil")
	}
	cfg := bufferConfig{size: DefaultBufferSize, interval: DefaultFlushInterval}
	if err := option.Apply("log", &cfg, opts); err != nil {
		return nil, err
	}
	b := &BufferedWriter{
		w:        w,
		size:     cfg.size,
		interval: cfg.interval,
		buf:      make([]byte, 0, cfg.size),
		spare:    make([]byte, 0, cfg.size),
	}
	b.timer = time.AfterFunc(time.Hour, b.intervalFlush)
	b.timer.Stop()
	return b, nil
}

// Write buffers p, which must be one whole record (slog handlers write a
// record per call), so that batches never split a line. It blocks while
// both buffers are full. It returns the error of an earlier batch's write,
// once, when there was one.
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.direct {
		b.out.Lock() // after Close's batch
		b.mu.Unlock()
		defer b.out.Unlock()
		return b.w.Write(p)
	}
	var batch []byte
	full := len(b.buf)+len(p) > b.size && len(b.buf) > 0
	if full {
		// Hand the batch over. This waits, holding mu (so every other
		// writer waits too), until the previous batch is out.
		batch = b.takeLocked()
	}
	if len(p) > b.size {
		// Larger than a buffer: straight through, after what came before.
		if !full {
			b.out.Lock()
		}
		b.mu.Unlock()
		defer b.out.Unlock()
		err := b.writeHeld(batch)
		n, werr := b.w.Write(p)
		return n, errors.Join(err, werr)
	}
	b.buf = append(b.buf, p...)
	if !b.armed {
		b.armed = true
		b.timer.Reset(b.interval)
	}
	err := b.err
	b.err = nil
	b.mu.Unlock()
	if full {
		if werr := b.release(batch); werr != nil {
			b.keep(werr)
		}
	}
	return len(p), err
}

// takeLocked takes out, so that the batch before is written, and swaps the
// filling buffer for the spare one, returning the batch to release. mu is
// held.
func (b *BufferedWriter) takeLocked() []byte {
	b.out.Lock()
	batch := b.buf
	b.buf = b.spare[:0]
	b.spare = nil
	return batch
}

// release writes batch (taken by takeLocked, or nil after a bare
// out.Lock), keeps its memory as the spare buffer and releases out. mu is
// not held: writers go on filling the other buffer meanwhile.
func (b *BufferedWriter) release(batch []byte) error {
	defer b.out.Unlock()
	return b.writeHeld(batch)
}

// writeHeld is release without the unlock.
func (b *BufferedWriter) writeHeld(batch []byte) error {
	if batch == nil {
		return nil
	}
	var err error
	if len(batch) > 0 {
		_, err = b.w.Write(batch)
	}
	b.spare = batch[:0]
	if err != nil {
		return fmt.Errorf("log: writing %d buffered bytes: %w", len(batch), err)
	}
	return nil
}

// keep records a write error for the next Write or Flush to return.
func (b *BufferedWriter) keep(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

// intervalFlush is the timer's: the oldest record has waited the interval.
func (b *BufferedWriter) intervalFlush() {
	b.mu.Lock()
	b.armed = false
	if b.direct || len(b.buf) == 0 {
		b.mu.Unlock()
		return
	}
	batch := b.takeLocked()
	b.mu.Unlock()
	if err := b.release(batch); err != nil {
		b.keep(err)
	}
}

// Flush writes what is buffered and waits until it is on the underlying
// writer. It returns the error of this write or of an earlier batch's.
func (b *BufferedWriter) Flush() error {
	b.mu.Lock()
	err := b.err
	b.err = nil
	batch := b.takeLocked() // even when empty: waits for a batch in flight
	b.mu.Unlock()
	return errors.Join(err, b.release(batch))
}

// Close flushes and makes every later Write go straight through. It
// returns Flush's error; closing twice is harmless.
func (b *BufferedWriter) Close() error { return b.SetDirect(true) }

// SetDirect(true) flushes and makes later writes go straight to the
// underlying writer, as after Close; SetDirect(false) makes them buffered
// again. A Patron service buffers only while Run serves: records logged
// before (a failing set-up followed by os.Exit) and after it are written
// at once.
func (b *BufferedWriter) SetDirect(direct bool) error {
	b.mu.Lock()
	if !direct || b.direct {
		b.direct = direct
		b.mu.Unlock()
		return nil
	}
	b.timer.Stop()
	b.direct = true
	b.armed = false
	err := b.err
	b.err = nil
	batch := b.takeLocked()
	b.mu.Unlock()
	return errors.Join(err, b.release(batch))
}
