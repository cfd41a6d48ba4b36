package kafkatest_test

import (
	"context"
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/patron-go/patron/patrontest/kafkatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClusterProducesAndCommits(t *testing.T) {
	c := kafkatest.New(t)
	topic := c.Topic(t, 2)
	group := c.Unique(t, "group")
	cl := c.Client(t)
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: topic, Value: []byte("v"), Partition: 0}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.CommittedOffset(t.Context(), group, topic, 0); err != nil || got != -1 {
		t.Fatalf("committed %d (%v) before any commit, want -1", got, err)
	}
	consumer := c.Client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	fs := consumer.PollFetches(t.Context())
	if err := consumer.CommitRecords(t.Context(), fs.Records()...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitCommitted(t.Context(), group, topic, fs.Records()[0].Partition, 1); err != nil {
		t.Fatal(err)
	}
}

func TestStartOnFixedAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c, err := kafkatest.Start(kafkatest.WithAddr(addr), kafkatest.WithTopics("fixed"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Addrs(); len(got) != 1 || got[0] != addr {
		t.Fatalf("Addrs = %v, want [%s]", got, addr)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close() // idempotent
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []kafkatest.Option{
		kafkatest.WithAddr("10.0.0.1:9092"), kafkatest.WithAddr("127.0.0.1:x"), kafkatest.WithAddr("nope"),
		kafkatest.WithBrokers(0), kafkatest.WithPartitions(0), kafkatest.WithTopics(""),
	} {
		if _, err := kafkatest.Start(o); err == nil {
			t.Error("invalid option accepted")
		}
	}
}
