package amqp_test

import (
	"context"
	"strings"
	"testing"

	clientamqp "github.com/patron-go/patron/client/amqp"
	patronamqp "github.com/patron-go/patron/component/amqp"
	"github.com/patron-go/patron/internal/amqptest"
)

// A nil option is a configuration error, not a panic, in the consumer and
// the publisher alike.
func TestNilOptionRefused(t *testing.T) {
	h := func(context.Context, *patronamqp.Message) error { return nil }
	if _, err := patronamqp.New(amqptest.URL, "q", h, nil); err == nil || !strings.HasPrefix(err.Error(), "amqp: option 1 of 1 is nil") {
		t.Errorf("consumer: err = %v", err)
	}
	if _, err := clientamqp.New(amqptest.URL, nil); err == nil || !strings.HasPrefix(err.Error(), "amqp: option 1 of 1 is nil") {
		t.Errorf("publisher: err = %v", err)
	}
}

// Every cluster URL is checked up front, and an invalid one is not quoted
// (it may hold a password).
func TestClusterURLsValidated(t *testing.T) {
	h := func(context.Context, *patronamqp.Message) error { return nil }
	_, err := patronamqp.New(amqptest.URL, "q", h, patronamqp.WithClusterURLs("http://user:secret@host/"))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("consumer: err = %v", err)
	}
	if _, err := clientamqp.New(amqptest.URL, clientamqp.WithClusterURLs()); err == nil {
		t.Error("publisher: no cluster URLs accepted")
	}
}
