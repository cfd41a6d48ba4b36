package kafka_test

import (
	"testing"

	"github.com/patron-go/patron/client/kafka"
)

// A nil option is refused with an error that names it, never a panic.
func TestNilOption(t *testing.T) {
	if _, err := kafka.NewProducer([]string{"127.0.0.1:1"}, nil); err == nil || err.Error() != "kafka: option 1 of 1 is nil" {
		t.Errorf("kafka.NewProducer with a nil option: %v, want %q", err, "kafka: option 1 of 1 is nil")
	}
}
