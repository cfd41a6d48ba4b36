package http

import (
	"testing"
)

// A nil option is refused with an error that names it, never a panic.
func TestNilOption(t *testing.T) {
	if _, err := New(WithTimeout(1), nil); err == nil || err.Error() != "client/http: option 2 of 2 is nil" {
		t.Errorf("New with a nil option: %v, want %q", err, "client/http: option 2 of 2 is nil")
	}
	if _, err := Transport(nil); err == nil || err.Error() != "client/http: option 1 of 1 is nil" {
		t.Errorf("Transport with a nil option: %v, want %q", err, "client/http: option 1 of 1 is nil")
	}
}
