package sql

import (
	"testing"
)

// A nil option is refused with an error that names it, never a panic.
func TestNilOption(t *testing.T) {
	if _, err := Open("pgx", "postgres://127.0.0.1:1/x", nil); err == nil || err.Error() != "sql: option 1 of 1 is nil" {
		t.Errorf("Open with a nil option: %v, want %q", err, "sql: option 1 of 1 is nil")
	}
	if _, err := NewPgxTracer(nil); err == nil || err.Error() != "sql: option 1 of 1 is nil" {
		t.Errorf("NewPgxTracer with a nil option: %v, want %q", err, "sql: option 1 of 1 is nil")
	}
}
