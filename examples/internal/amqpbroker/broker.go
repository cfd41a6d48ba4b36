// Package amqpbroker is a small in-process AMQP 0.9.1 broker, so that the
// demo and tests can run Patron's RabbitMQ publisher and consumer on a
// machine with nothing but Go. It speaks the real wire protocol to real
// clients (github.com/rabbitmq/amqp091-go) and follows RabbitMQ's semantics
// for what it implements: direct, fanout, topic and headers exchanges, the
// default exchange, queues (exclusive, auto-delete, server-named),
// bindings, prefetch, acks, nacks, rejects, requeueing, dead-lettering with
// x-death, quorum queues' x-delivery-count, publisher confirms, mandatory
// returns and heartbeats.
//
// Everything lives in memory: nothing survives Close, durable or not, and
// queues are unbounded (a consumer that never acks, or a client that stops
// reading its socket, makes the broker hold everything sent to it).
//
// Not implemented: exchange-to-exchange bindings and transactions (the
// methods close the connection with 540 NOT_IMPLEMENTED), stream queues
// (declaring one fails with 406), message TTLs and the expiration property,
// queue length limits, priorities, single active consumer and consumer
// priorities (those arguments are accepted and ignored), vhosts other than
// "/", users other than the one configured, TLS, and the management API.
package amqpbroker

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Option configures a Broker.
type Option func(*config) error

type config struct {
	user, pass string
	heartbeat  time.Duration
	frameMax   uint32
	channelMax uint16
	logger     *slog.Logger
}

// WithCredentials sets the only user name and password the broker accepts
// (default guest/guest, as RabbitMQ).
func WithCredentials(user, pass string) Option {
	return func(c *config) error {
		if user == "" {
			return errors.New("amqpbroker: user name is empty")
		}
		c.user, c.pass = user, pass
		return nil
	}
}

// WithHeartbeat sets the heartbeat interval the broker proposes (default
// 60s, as RabbitMQ; the client may lower it, 0 disables heartbeats when the
// client agrees). It is rounded down to whole seconds.
func WithHeartbeat(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > 65535*time.Second {
			return errors.New("amqpbroker: heartbeat out of range")
		}
		c.heartbeat = d
		return nil
	}
}

// WithFrameMax sets the largest frame the broker accepts and proposes
// (default 131072, as RabbitMQ; at least 4096).
func WithFrameMax(n uint32) Option {
	return func(c *config) error {
		if n < frameMinSize {
			return fmt.Errorf("amqpbroker: frame max must be at least %d", frameMinSize)
		}
		c.frameMax = n
		return nil
	}
}

// WithChannelMax sets the most channels a connection may open (default
// 2047, as RabbitMQ).
func WithChannelMax(n uint16) Option {
	return func(c *config) error {
		if n == 0 {
			return errors.New("amqpbroker: channel max must be positive")
		}
		c.channelMax = n
		return nil
	}
}

// WithLogger sets where connection errors (debug) and internal failures
// (error) are logged (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("amqpbroker: logger is nil")
		}
		c.logger = l
		return nil
	}
}

// maxMessageSize is RabbitMQ's default max_message_size.
const maxMessageSize = 128 << 20

// Broker is a running broker. Its methods are safe for concurrent use.
type Broker struct {
	ln  net.Listener
	cfg config

	// mu guards all broker state: exchanges, queues, connections, channels,
	// consumers and deliveries. Work under it never blocks on the network:
	// frames go to each connection's outbox, written by its own goroutine.
	mu        sync.Mutex
	exchanges map[string]*exchange
	queues    map[string]*queue
	conns     map[*conn]struct{}
	closed    bool
	routeGen  uint64

	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	// internalErrors counts recovered panics; tests assert it stays 0.
	internalErrors atomic.Int64
}

// Start listens on addr (host:port; port 0 picks a free one; empty means
// 127.0.0.1:0) and serves AMQP 0.9.1 until Close.
func Start(addr string, opts ...Option) (*Broker, error) {
	cfg := config{
		user:       "guest",
		pass:       "guest",
		heartbeat:  60 * time.Second,
		frameMax:   131072,
		channelMax: 2047,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("amqpbroker: listening on %s: %w", addr, err)
	}
	b := &Broker{
		ln:        ln,
		cfg:       cfg,
		exchanges: make(map[string]*exchange),
		queues:    make(map[string]*queue),
		conns:     make(map[*conn]struct{}),
	}
	for _, x := range []struct{ name, kind string }{
		{"", kindDirect},
		{"amq.direct", kindDirect},
		{"amq.fanout", kindFanout},
		{"amq.topic", kindTopic},
		{"amq.headers", kindHeaders},
		{"amq.match", kindHeaders},
	} {
		b.exchanges[x.name] = &exchange{name: x.name, kind: x.kind, durable: true, builtin: true}
	}
	b.wg.Add(1)
	go b.accept()
	return b, nil
}

// Addr returns the address the broker listens on (host:port).
func (b *Broker) Addr() string { return b.ln.Addr().String() }

// URL returns the broker's AMQP URL with the configured credentials and the
// default vhost, e.g. amqp://guest:guest@127.0.0.1:40123/.
func (b *Broker) URL() string {
	return "amqp://" + b.cfg.user + ":" + b.cfg.pass + "@" + b.Addr() + "/"
}

// Close stops listening, closes every connection (telling clients with
// CONNECTION_FORCED) and waits for all the broker's goroutines to end.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		conns := make([]*conn, 0, len(b.conns))
		for c := range b.conns {
			conns = append(conns, c)
		}
		b.mu.Unlock()
		if err := b.ln.Close(); err != nil {
			b.closeErr = fmt.Errorf("amqpbroker: closing listener: %w", err)
		}
		for _, c := range conns {
			c.forceClose("broker shutdown")
		}
		b.wg.Wait()
	})
	return b.closeErr
}

// CloseConnections force-closes (320 CONNECTION_FORCED, as rabbitmqctl
// close_connection does) every connection whose client-provided
// connection_name contains namePart, so tests can check how clients
// recover. It returns how many it closed; it does not wait for them to end.
func (b *Broker) CloseConnections(namePart string) int {
	b.mu.Lock()
	var victims []*conn
	for c := range b.conns {
		if !c.closing && c.writerOn && strings.Contains(c.name, namePart) {
			victims = append(victims, c)
		}
	}
	b.mu.Unlock()
	for _, c := range victims {
		c.forceClose("closed by the broker's owner")
	}
	return len(victims)
}

func (b *Broker) accept() {
	defer b.wg.Done()
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		c := newConn(b, nc)
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			_ = nc.Close()
			continue
		}
		b.conns[c] = struct{}{}
		// Added under mu while the accept loop itself is counted, so Close's
		// Wait never races an Add from zero.
		b.wg.Add(1)
		b.mu.Unlock()
		go c.serve()
	}
}

// randomName returns prefix followed by 22 URL-safe random characters, the
// shape of RabbitMQ's generated names (amq.gen-..., amq.ctag-...).
func randomName(prefix string) string {
	var r [16]byte
	_, _ = rand.Read(r[:])
	return prefix + base64.RawURLEncoding.EncodeToString(r[:])
}
