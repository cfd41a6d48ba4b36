package lru

import (
	"testing"
)

// A nil option is refused with an error that names it, never a panic.
func TestNilOption(t *testing.T) {
	if _, err := New(nil); err == nil || err.Error() != "lru: option 1 of 1 is nil" {
		t.Errorf("New with a nil option: %v, want %q", err, "lru: option 1 of 1 is nil")
	}
}
