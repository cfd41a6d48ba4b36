// Package kafkatest runs an in-process Kafka cluster (franz-go's kfake, which
// speaks the real Kafka protocol) on 127.0.0.1 for tests, benchmarks and the
// demo launcher, since no Kafka server runs on our machines.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is a running in-process Kafka cluster.
type Cluster struct {
	fake   *kfake.Cluster
	seq    atomic.Uint64
	closed atomic.Bool
}

type config struct {
	port       int
	brokers    int
	partitions int32
	topics     []string
}

// Option configures Start.
type Option func(*config) error

// WithAddr listens on addr, which must be 127.0.0.1:<port> (or localhost:<port>),
// for example 127.0.0.1:9092 in the demo; the default is a random port. A
// fixed address implies a single broker.
func WithAddr(addr string) Option {
	return func(c *config) error {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("kafkatest: address %q: %w", addr, err)
		}
		if host != "127.0.0.1" && host != "localhost" {
			return fmt.Errorf("kafkatest: address %q: only 127.0.0.1 is supported", addr)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("kafkatest: address %q: invalid port", addr)
		}
		c.port = p
		c.brokers = 1
		return nil
	}
}

// WithBrokers sets the number of brokers (default 1).
func WithBrokers(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("kafkatest: %d brokers, want at least 1", n)
		}
		c.brokers = n
		return nil
	}
}

// WithTopics creates topics at start, each with the default partition count.
func WithTopics(topics ...string) Option {
	return func(c *config) error {
		for _, t := range topics {
			if strings.TrimSpace(t) == "" {
				return errors.New("kafkatest: empty topic name")
			}
		}
		c.topics = append(c.topics, topics...)
		return nil
	}
}

// WithPartitions sets the partition count of topics created by WithTopics
// and of auto-created topics (default 4).
func WithPartitions(n int32) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("kafkatest: %d partitions, want at least 1", n)
		}
		c.partitions = n
		return nil
	}
}

// Start runs a cluster until Close. Producing to an unknown topic creates
// it, as a development broker usually does.
func Start(opts ...Option) (*Cluster, error) {
	cfg := config{brokers: 1, partitions: 4}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(cfg.brokers),
		kfake.DefaultNumPartitions(int(cfg.partitions)),
		kfake.AllowAutoTopicCreation(),
	}
	if cfg.port != 0 {
		kopts = append(kopts, kfake.Ports(cfg.port))
	}
	if len(cfg.topics) > 0 {
		kopts = append(kopts, kfake.SeedTopics(cfg.partitions, cfg.topics...))
	}
	fake, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: starting cluster: %w", err)
	}
	return &Cluster{fake: fake}, nil
}

// New starts a cluster for t and closes it when t ends; it fails t if the
// cluster cannot start.
func New(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	c, err := Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Addrs returns the brokers' host:port addresses, for kgo.SeedBrokers.
func (c *Cluster) Addrs() []string { return c.fake.ListenAddrs() }

// Fake returns the underlying kfake cluster, for fault injection.
func (c *Cluster) Fake() *kfake.Cluster { return c.fake }

// Close stops the cluster; it may be called more than once.
func (c *Cluster) Close() {
	if c.closed.CompareAndSwap(false, true) {
		c.fake.Close()
	}
}

// CreateTopic creates topic with partitions partitions.
func (c *Cluster) CreateTopic(topic string, partitions int32) error {
	if err := c.fake.CreateTopic(topic, partitions, nil); err != nil {
		return fmt.Errorf("kafkatest: creating topic %q: %w", topic, err)
	}
	return nil
}

// Topic creates a topic with a name unique to t and returns the name.
func (c *Cluster) Topic(t testing.TB, partitions int32) string {
	t.Helper()
	name := c.Unique(t, "topic")
	if err := c.CreateTopic(name, partitions); err != nil {
		t.Fatal(err)
	}
	return name
}

// Unique returns a name made of t's name, prefix and a sequence number, for
// topics and consumer groups that no other test shares.
func (c *Cluster) Unique(t testing.TB, prefix string) string {
	t.Helper()
	n := strings.NewReplacer("/", "-", " ", "-", "#", "-").Replace(t.Name())
	return fmt.Sprintf("%s-%s-%d", prefix, n, c.seq.Add(1))
}

// Client returns a plain franz-go client for c, closed when t ends; tests use
// it to produce fixtures and read results without Patron in the way.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CommittedOffset returns group's committed offset of topic/partition, or -1
// when nothing is committed.
func (c *Cluster) CommittedOffset(ctx context.Context, group, topic string, partition int32) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		return 0, fmt.Errorf("kafkatest: %w", err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("kafkatest: fetching offsets of %q: %w", group, err)
	}
	if o, ok := offs.Lookup(topic, partition); ok {
		return o.At, nil
	}
	return -1, nil
}

// WaitCommitted polls until group's committed offset of topic/partition is
// at least want or ctx ends, and returns the last offset seen.
func (c *Cluster) WaitCommitted(ctx context.Context, group, topic string, partition int32, want int64) (int64, error) {
	last := int64(-1)
	for {
		got, err := c.CommittedOffset(ctx, group, topic, partition)
		if err == nil {
			last = got
			if got >= want {
				return got, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("kafkatest: committed offset %d of %s/%d, want %d: %w", last, topic, partition, want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
