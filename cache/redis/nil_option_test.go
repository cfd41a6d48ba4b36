package redis

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// A nil option is refused with an error that names it, never a panic.
func TestNilOption(t *testing.T) {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer func() { _ = client.Close() }()
	if _, err := New(client, "p:", nil); err == nil || err.Error() != "redis cache: option 1 of 1 is nil" {
		t.Errorf("New with a nil option: %v, want %q", err, "redis cache: option 1 of 1 is nil")
	}
}
