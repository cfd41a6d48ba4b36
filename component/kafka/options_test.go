package kafka_test

import (
	"context"
	"strings"
	"testing"

	"github.com/patron-go/patron/component/kafka"
)

// A nil option is a configuration error, not a panic.
func TestNilOptionRefused(t *testing.T) {
	h := func(context.Context, *kafka.Message) error { return nil }
	_, err := kafka.New("n", "g", []string{"b"}, []string{"t"}, h, kafka.WithConcurrency(1), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "kafka: option 2 of 2 is nil") {
		t.Fatalf("err = %v", err)
	}
}

// DeadLetter needs a topic to publish to.
func TestDeadLetterNeedsTopic(t *testing.T) {
	h := func(context.Context, *kafka.Message) error { return nil }
	if _, err := kafka.New("n", "g", []string{"b"}, []string{"t"}, h, kafka.WithFailureStrategy(kafka.DeadLetter)); err == nil {
		t.Fatal("DeadLetter without WithDeadLetterTopic accepted")
	}
}
