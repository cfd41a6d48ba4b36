package reliability

import (
	"testing"
)

// A nil option is refused with an error that names it, never a panic.
func TestNilOption(t *testing.T) {
	if _, err := NewBreaker("b", nil); err == nil || err.Error() != "reliability: option 1 of 1 is nil" {
		t.Errorf("NewBreaker with a nil option: %v, want %q", err, "reliability: option 1 of 1 is nil")
	}
}
