package sqs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/patron-go/patron/component/sqs"
)

// A nil option is a configuration error, not a panic.
func TestNilOptionRefused(t *testing.T) {
	h := func(context.Context, *sqs.Message) error { return nil }
	_, err := sqs.New("c", "q", h, sqs.WithWorkers(1), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "sqs: option 2 of 2 is nil") {
		t.Fatalf("err = %v", err)
	}
}
