package amqpconn_test

import (
	"strings"
	"testing"
	"time"

	"github.com/patron-go/patron/internal/amqpconn"
	"github.com/patron-go/patron/patrontest/testenv"
)

// When every broker is down, the error names each of them, without the
// credentials.
func TestDialAllDown(t *testing.T) {
	a, b := testenv.ClosedAddr(t), testenv.ClosedAddr(t)
	d, err := amqpconn.NewDialer("x", []string{"amqp://u:secret@" + a + "/", "amqp://u:secret@" + b + "/v"},
		amqpconn.Config(nil, "test", time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = d.Dial()
	if err == nil {
		t.Fatal("dialled a closed port")
	}
	msg := err.Error()
	if !strings.Contains(msg, a) || !strings.Contains(msg, b) || strings.Contains(msg, "secret") {
		t.Errorf("error %q", msg)
	}
}

func TestNewDialerRejects(t *testing.T) {
	if _, err := amqpconn.NewDialer("x", nil, amqpconn.Config(nil, "n", time.Second)); err == nil || !strings.HasPrefix(err.Error(), "x: ") {
		t.Errorf("no URLs: %v", err)
	}
	_, err := amqpconn.NewDialer("x", []string{"http://u:secret@h/"}, amqpconn.Config(nil, "n", time.Second))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad URL: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := amqpconn.Config(nil, "name", time.Second)
	if cfg.Heartbeat != amqpconn.DefaultHeartbeat || cfg.Dial == nil || cfg.Properties["connection_name"] != "name" {
		t.Errorf("config %+v", cfg)
	}
}
