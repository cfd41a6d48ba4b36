// Package amqpconn is the RabbitMQ connection set-up that the consumer
// (component/amqp) and the publisher (client/amqp) share: the amqp091
// configuration with Patron's defaults and the connection name, and a
// Dialer over several broker URLs for a cluster without a load balancer.
package amqpconn

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultHeartbeat is the heartbeat asked for when the configuration sets
// none, so that a dead peer is noticed within seconds.
const DefaultHeartbeat = 10 * time.Second

// Config returns base (nil for the library's defaults) with the connection
// name added to its Properties, DefaultHeartbeat when it sets no heartbeat
// and a dialer bounded by dialTimeout when it sets none.
func Config(base *amqp.Config, name string, dialTimeout time.Duration) amqp.Config {
	var cfg amqp.Config
	if base != nil {
		cfg = *base
	}
	props := amqp.NewConnectionProperties()
	maps.Copy(props, cfg.Properties)
	props.SetClientConnectionName(name)
	cfg.Properties = props
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Dial == nil {
		cfg.Dial = amqp.DefaultDial(dialTimeout)
	}
	return cfg
}

// Dialer connects to the first broker of its URLs that answers, trying them
// in order. Each dial starts after the URL of the last connection, so a
// reconnect moves on to the next broker of the cluster instead of going
// back to the one that just dropped it. It is safe for concurrent use.
type Dialer struct {
	urls     []string
	redacted []string
	cfg      amqp.Config

	mu   sync.Mutex
	next int
}

// NewDialer returns a Dialer over urls (at least one) with cfg (see
// Config); pkg prefixes its errors.
func NewDialer(pkg string, urls []string, cfg amqp.Config) (*Dialer, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("%s: no broker URL", pkg)
	}
	d := &Dialer{urls: append([]string(nil), urls...), cfg: cfg, redacted: make([]string, len(urls))}
	for i, u := range urls {
		uri, err := amqp.ParseURI(u)
		if err != nil {
			// The URL is not quoted: it may hold a password.
			return nil, fmt.Errorf("%s: invalid URL %d of %d: %w", pkg, i+1, len(urls), err)
		}
		d.redacted[i] = Redact(uri)
	}
	return d, nil
}

// Redact returns uri without its credentials, for logs and errors.
func Redact(uri amqp.URI) string {
	return uri.Scheme + "://" + net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port)) + "/" + uri.Vhost
}

// Dial tries each URL once, starting after the last one connected, and
// returns the connection with the redacted URL it reached. Its error joins
// every URL's.
func (d *Dialer) Dial() (*amqp.Connection, string, error) {
	d.mu.Lock()
	start := d.next
	d.mu.Unlock()
	errs := make([]error, 0, len(d.urls))
	for i := range d.urls {
		k := (start + i) % len(d.urls)
		conn, err := amqp.DialConfig(d.urls[k], d.cfg)
		if err == nil {
			d.mu.Lock()
			d.next = (k + 1) % len(d.urls)
			d.mu.Unlock()
			return conn, d.redacted[k], nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", d.redacted[k], err))
	}
	return nil, "", errors.Join(errs...)
}

// URLs returns how many broker URLs the Dialer has.
func (d *Dialer) URLs() int { return len(d.urls) }

// DefaultDialTimeout bounds establishing a TCP connection.
const DefaultDialTimeout = 10 * time.Second

// Settings is the connection part of a consumer's or publisher's options;
// each option of theirs sets one field through a method here, so that both
// validate the same way.
type Settings struct {
	// AMQP is the amqp091 configuration of WithConfig (nil: the library's).
	AMQP *amqp.Config
	// Name is the connection_name client property.
	Name string
	// DialTimeout bounds establishing a TCP connection.
	DialTimeout time.Duration
	// ClusterURLs follow the URL given to the constructor.
	ClusterURLs []string
}

// NewSettings returns the defaults with the connection name name.
func NewSettings(name string) Settings {
	return Settings{Name: name, DialTimeout: DefaultDialTimeout}
}

// SetConfig sets the amqp091 configuration.
func (s *Settings) SetConfig(cfg amqp.Config) { s.AMQP = &cfg }

// SetName sets the connection name; pkg prefixes the error.
func (s *Settings) SetName(pkg, name string) error {
	if name == "" {
		return fmt.Errorf("%s: connection name is empty", pkg)
	}
	s.Name = name
	return nil
}

// SetDialTimeout sets the dial timeout; pkg prefixes the error.
func (s *Settings) SetDialTimeout(pkg string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s: dial timeout must be positive", pkg)
	}
	s.DialTimeout = d
	return nil
}

// AddClusterURLs adds the other brokers' URLs (checked by Dialer); pkg
// prefixes the error.
func (s *Settings) AddClusterURLs(pkg string, urls []string) error {
	if len(urls) == 0 {
		return fmt.Errorf("%s: no cluster URLs", pkg)
	}
	s.ClusterURLs = append(s.ClusterURLs, urls...)
	return nil
}

// Dialer returns the Dialer of url followed by the cluster URLs.
func (s *Settings) Dialer(pkg, url string) (*Dialer, error) {
	return NewDialer(pkg, append([]string{url}, s.ClusterURLs...), Config(s.AMQP, s.Name, s.DialTimeout))
}
