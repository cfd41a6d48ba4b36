package option_test

import (
	"errors"
	"testing"

	"github.com/patron-go/patron/internal/option"
)

type config struct{ n int }

type opt func(*config) error

func add(n int) opt { return func(c *config) error { c.n += n; return nil } }

func TestApply(t *testing.T) {
	var c config
	if err := option.Apply("pkg", &c, []opt{add(1), add(2)}); err != nil || c.n != 3 {
		t.Fatalf("Apply = %v, n = %d; want nil, 3", err, c.n)
	}
}

func TestApplyNil(t *testing.T) {
	var c config
	err := option.Apply("kafka", &c, []opt{add(1), nil, add(2)})
	if err == nil || err.Error() != "kafka: option 2 of 3 is nil" {
		t.Fatalf("Apply = %v, want the nil option named", err)
	}
	if c.n != 1 {
		t.Fatalf("n = %d: options after the nil one ran", c.n)
	}
}

func TestApplyStopsAtError(t *testing.T) {
	var c config
	boom := errors.New("kafka: boom")
	err := option.Apply("kafka", &c, []opt{func(*config) error { return boom }, add(1)})
	if !errors.Is(err, boom) || c.n != 0 {
		t.Fatalf("Apply = %v, n = %d; want boom and no later option run", err, c.n)
	}
}
