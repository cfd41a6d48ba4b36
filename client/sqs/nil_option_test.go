package sqs_test

import (
	"testing"

	"github.com/patron-go/patron/client/sqs"
	"github.com/patron-go/patron/patrontest/sqstest"
)

// A nil option is refused with an error that names it, never a panic.
func TestNilOption(t *testing.T) {
	if _, err := sqs.New(sqstest.NewSQSClient("http://127.0.0.1:1"), nil); err == nil || err.Error() != "sqs: option 1 of 1 is nil" {
		t.Errorf("sqs.New with a nil option: %v, want %q", err, "sqs: option 1 of 1 is nil")
	}
}
